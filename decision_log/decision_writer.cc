#include "decision_log/decision_writer.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/wait.h"

namespace twopc::internal {
namespace {

using Kind = DecisionJob::Kind;

// How the decision log's jobs are written and answered, on the writer thread.
class DecisionBatches final : public BatchWrites<DecisionJob> {
 public:
  DecisionBatches(std::unique_ptr<DecisionWrites> writes, DecisionWriter::Counters* counters)
      : writes_(std::move(writes)), counters_(counters) {}

  // END is not forced (losing it only makes recovery find the branches gone
  // again), and a Flush waits for the writes before it without forcing them.
  // A heuristic record is forced like a decision: losing it would let a
  // later `twopc status` hide a mixed outcome.
  bool MustForce(const std::vector<DecisionJob>& batch) override {
    return std::any_of(batch.begin(), batch.end(), [](const DecisionJob& j) {
      return j.kind != Kind::kEnd && j.kind != Kind::kFlush;
    });
  }

  // COMMIT/ABORT and END records are gathered and written with one
  // statement per kind (DecisionWrites::InsertAll, MarkAllEnded) rather than
  // one per record: the writer is the one serial section of the commit path.
  // What is stored is what writing each job in order would store: pending
  // inserts go before pending ENDs (an END after its decision must find it),
  // a decision whose gtrid has a pending END first writes what is pending (an
  // END before its decision finds nothing), a second END of a gtrid is
  // dropped (the first one's time stands either way), and every other job
  // is written in its place, after what is pending.
  Status Write(std::vector<DecisionJob>& batch) override {
    ClearPending();
    for (DecisionJob& job : batch) {
      switch (job.kind) {
        case Kind::kDecide:
          if (ended_.contains(job.record.gtrid)) {
            if (Status s = WritePending(); !s.ok()) return s;
          }
          insertions_.push_back({&job.record, &job.answer});
          break;
        case Kind::kEnd:
          if (ended_.insert(job.record.gtrid).second) {
            endings_.push_back({job.record.gtrid, *job.record.ended_at_ms});
          }
          break;
        case Kind::kCompact:
        case Kind::kFlush:
        case Kind::kHeuristic:
        case Kind::kForget:
          if (Status s = WritePending(); !s.ok()) return s;
          if (Status s = WriteJob(job); !s.ok()) return s;
          break;
      }
    }
    return WritePending();
  }

  void Took(const std::vector<DecisionJob>& batch, bool forced, std::chrono::nanoseconds took) override {
    size_t decisions = std::count_if(batch.begin(), batch.end(),
                                     [](const DecisionJob& j) { return j.kind == Kind::kDecide; });
    if (!forced || decisions == 0) return;
    MutexLock lock(counters_->observer_mutex);
    if (counters_->observer) counters_->observer(decisions, took);
  }

  void Answer(std::vector<DecisionJob>& batch, const Status& batch_status) override {
    if (batch_status.ok()) Count(batch);
    for (DecisionJob& job : batch) {
      switch (job.kind) {
        case Kind::kDecide:
          if (job.done) job.done(batch_status.ok() ? std::move(job.answer) : batch_status);
          break;
        case Kind::kFlush:
        case Kind::kHeuristic:
          job.done(batch_status);
          break;
        case Kind::kCompact:
        case Kind::kForget:
          job.counted(batch_status.ok() ? Result<uint64_t>(job.count)
                                        : Result<uint64_t>(batch_status));
          break;
        case Kind::kEnd:
          break;
      }
    }
  }

 private:
  Status WritePending() {
    Status s = writes_->InsertAll(insertions_);
    if (s.ok()) s = writes_->MarkAllEnded(endings_);
    ClearPending();
    return s;
  }

  void ClearPending() {
    insertions_.clear();
    endings_.clear();
    ended_.clear();
  }

  // Every job but a decision or an END, written on its own.
  Status WriteJob(DecisionJob& job) {
    switch (job.kind) {
      case Kind::kDecide:
      case Kind::kEnd:
        return Status::Internal("decision log: a record kind written on its own");
      case Kind::kCompact: {
        auto deleted = writes_->DeleteEnded(job.record.incarnation);
        if (deleted.ok()) job.count = *deleted;
        return deleted.status();
      }
      case Kind::kHeuristic:
        return writes_->InsertHeuristic(job.heuristic);
      case Kind::kForget: {
        auto marked = writes_->ForgetHeuristics(job.heuristic.gtrid, job.heuristic.at_ms);
        if (marked.ok()) job.count = *marked;
        return marked.status();
      }
      case Kind::kFlush:
        return Status::OK();
    }
    return Status::OK();
  }

  void Count(const std::vector<DecisionJob>& batch) {
    uint64_t acknowledged = std::count_if(batch.begin(), batch.end(), [](const DecisionJob& j) {
      return j.kind == Kind::kDecide && j.answer.ok();
    });
    bool has_decisions = std::any_of(batch.begin(), batch.end(),
                                     [](const DecisionJob& j) { return j.kind == Kind::kDecide; });
    if (!has_decisions) return;
    counters_->forces.fetch_add(1, std::memory_order_relaxed);
    counters_->records_forced.fetch_add(acknowledged, std::memory_order_relaxed);
  }

  std::unique_ptr<DecisionWrites> writes_;
  DecisionWriter::Counters* counters_;
  // Write's pending records; they point into the batch being written.
  std::vector<DecisionWrites::Insertion> insertions_;
  std::vector<DecisionWrites::Ending> endings_;
  std::unordered_set<std::string_view> ended_;  // the gtrids of endings_
};

GroupCommitOptions WriterOptions(const LogOptions& options) {
  GroupCommitOptions o;
  o.window = options.group_commit_window;
  o.max_batch = static_cast<size_t>(std::max(options.max_batch, 1));
  o.what = "decision log";
  return o;
}

}  // namespace

Result<std::unique_ptr<DecisionWriter>> DecisionWriter::Start(std::unique_ptr<SqliteDb> db,
                                                              const LogOptions& options) {
  auto writes = DecisionWrites::Prepare(db.get());
  if (!writes.ok()) return writes.TakeStatus();
  return std::unique_ptr<DecisionWriter>(
      new DecisionWriter(std::move(db), std::move(writes).value(), options));
}

DecisionWriter::DecisionWriter(std::unique_ptr<SqliteDb> db, std::unique_ptr<DecisionWrites> writes,
                               const LogOptions& options)
    : writer_(std::move(db), std::make_unique<DecisionBatches>(std::move(writes), &counters_),
              WriterOptions(options)) {}

void DecisionWriter::Decide(DecisionRecord record, std::function<void(Status)> done) {
  DecisionJob job;
  job.kind = Kind::kDecide;
  job.record = std::move(record);
  job.done = std::move(done);
  writer_.Enqueue(std::move(job));
}

void DecisionWriter::End(std::string gtrid, int64_t now_ms) {
  DecisionJob job;
  job.kind = Kind::kEnd;
  job.record.gtrid = std::move(gtrid);
  job.record.ended_at_ms = now_ms;
  writer_.Enqueue(std::move(job));
}

Result<uint64_t> DecisionWriter::Compact(uint64_t live_incarnation) {
  return AwaitCallback<Result<uint64_t>>([&](auto counted) {
    DecisionJob job;
    job.kind = Kind::kCompact;
    job.record.incarnation = live_incarnation;
    job.counted = std::move(counted);
    writer_.Enqueue(std::move(job));
  });
}

Status DecisionWriter::Flush() {
  return AwaitCallback<Status>([&](auto done) {
    DecisionJob job;
    job.kind = Kind::kFlush;
    job.done = std::move(done);
    writer_.Enqueue(std::move(job));
  });
}

Status DecisionWriter::RecordHeuristic(HeuristicRecord record) {
  return AwaitCallback<Status>([&](auto done) {
    DecisionJob job;
    job.kind = Kind::kHeuristic;
    job.heuristic = std::move(record);
    job.done = std::move(done);
    writer_.Enqueue(std::move(job));
  });
}

Result<uint64_t> DecisionWriter::ForgetHeuristic(std::string key, int64_t now_ms) {
  return AwaitCallback<Result<uint64_t>>([&](auto counted) {
    DecisionJob job;
    job.kind = Kind::kForget;
    job.heuristic.gtrid = std::move(key);
    job.heuristic.at_ms = now_ms;
    job.counted = std::move(counted);
    writer_.Enqueue(std::move(job));
  });
}

void DecisionWriter::SetFlushObserver(DecisionLog::FlushObserver observer) {
  MutexLock lock(counters_.observer_mutex);
  counters_.observer = std::move(observer);
}

LogStats DecisionWriter::stats() const {
  return LogStats{counters_.records_forced.load(std::memory_order_relaxed),
                  counters_.forces.load(std::memory_order_relaxed)};
}

}  // namespace twopc::internal
