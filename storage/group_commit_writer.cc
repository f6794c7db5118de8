#include "storage/group_commit_writer.h"

#include "common/logging.h"

#include <algorithm>
#include <future>
#include <iterator>
#include <utility>

namespace twopc::internal {

Result<std::unique_ptr<GroupCommitWriter>> GroupCommitWriter::Start(std::unique_ptr<SqliteDb> db,
                                                                    const LogOptions& options) {
  auto writes = DecisionWrites::Prepare(db.get());
  if (!writes.ok()) return writes.TakeStatus();
  return std::unique_ptr<GroupCommitWriter>(
      new GroupCommitWriter(std::move(db), std::move(writes).value(), options));
}

GroupCommitWriter::GroupCommitWriter(std::unique_ptr<SqliteDb> db,
                                     std::unique_ptr<DecisionWrites> writes,
                                     const LogOptions& options)
    : window_(std::max(options.group_commit_window, std::chrono::microseconds(0))),
      max_batch_(static_cast<size_t>(std::max(options.max_batch, 1))),
      db_(std::move(db)),
      writes_(std::move(writes)) {
  thread_ = std::thread(&GroupCommitWriter::Run, this);
}

GroupCommitWriter::~GroupCommitWriter() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  work_.SignalAll();
  thread_.join();
}

void GroupCommitWriter::Decide(DecisionRecord record, std::function<void(Status)> done) {
  Job job;
  job.kind = Job::Kind::kDecide;
  job.record = std::move(record);
  job.done = std::move(done);
  Enqueue(std::move(job));
}

void GroupCommitWriter::End(std::string gtrid, int64_t now_ms) {
  Job job;
  job.kind = Job::Kind::kEnd;
  job.record.gtrid = std::move(gtrid);
  job.record.ended_at_ms = now_ms;
  Enqueue(std::move(job));
}

Result<uint64_t> GroupCommitWriter::Compact(uint64_t live_incarnation) {
  auto answer = std::make_shared<std::promise<Result<uint64_t>>>();
  auto future = answer->get_future();
  Job job;
  job.kind = Job::Kind::kCompact;
  job.record.incarnation = live_incarnation;
  job.compacted = [answer](Result<uint64_t> r) { answer->set_value(std::move(r)); };
  Enqueue(std::move(job));
  return future.get();
}

Status GroupCommitWriter::Flush() {
  auto answer = std::make_shared<std::promise<Status>>();
  auto future = answer->get_future();
  Job job;
  job.kind = Job::Kind::kFlush;
  job.done = [answer](Status s) { answer->set_value(std::move(s)); };
  Enqueue(std::move(job));
  return future.get();
}

Status GroupCommitWriter::RecordHeuristic(HeuristicRecord record) {
  auto answer = std::make_shared<std::promise<Status>>();
  auto future = answer->get_future();
  Job job;
  job.kind = Job::Kind::kHeuristic;
  job.heuristic = std::move(record);
  job.done = [answer](Status s) { answer->set_value(std::move(s)); };
  Enqueue(std::move(job));
  return future.get();
}

Result<uint64_t> GroupCommitWriter::ForgetHeuristic(std::string key, int64_t now_ms) {
  auto answer = std::make_shared<std::promise<Result<uint64_t>>>();
  auto future = answer->get_future();
  Job job;
  job.kind = Job::Kind::kForget;
  job.heuristic.gtrid = std::move(key);
  job.heuristic.at_ms = now_ms;
  job.compacted = [answer](Result<uint64_t> r) { answer->set_value(std::move(r)); };
  Enqueue(std::move(job));
  return future.get();
}

LogStats GroupCommitWriter::stats() const {
  return LogStats{records_forced_.load(std::memory_order_relaxed),
                  forces_.load(std::memory_order_relaxed)};
}

void GroupCommitWriter::Enqueue(Job job) {
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(job));
  }
  work_.Signal();
}

void GroupCommitWriter::Run() {
  std::vector<Job> batch;
  for (;;) {
    TakeBatch(&batch);
    if (batch.empty()) return;
    WriteBatch(batch);
    batch.clear();  // keeps its capacity for the queue it is swapped with next
  }
}

void GroupCommitWriter::TakeBatch(std::vector<Job>* batch) {
  MutexLock lock(mu_);
  while (!stopping_ && queue_.empty()) work_.Wait(mu_);
  if (window_.count() > 0 && !stopping_) {
    // Give concurrent transactions the chance to share this fsync.
    auto until = std::chrono::steady_clock::now() + window_;
    while (!stopping_ && queue_.size() < max_batch_ && work_.WaitUntil(mu_, until)) {
    }
  }
  if (queue_.size() <= max_batch_) {
    batch->swap(queue_);
    return;
  }
  auto end = queue_.begin() + static_cast<std::ptrdiff_t>(max_batch_);
  batch->assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(end));
  queue_.erase(queue_.begin(), end);
}

void GroupCommitWriter::WriteBatch(std::vector<Job>& batch) {
  if (!failed_.ok()) return Answer(batch, failed_);
  bool has_decisions = std::any_of(batch.begin(), batch.end(),
                                   [](const Job& j) { return j.kind == Job::Kind::kDecide; });
  // A heuristic record is forced like a decision: losing it would let a
  // later `twopc status` hide a mixed outcome.
  bool has_forced = std::any_of(batch.begin(), batch.end(), [](const Job& j) {
    return j.kind == Job::Kind::kCompact || j.kind == Job::Kind::kHeuristic ||
           j.kind == Job::Kind::kForget;
  });
  Status s = SetSynchronous(has_decisions || has_forced);
  if (s.ok()) s = db_->Exec("BEGIN IMMEDIATE");
  if (s.ok()) s = WriteJobs(batch);
  bool outcome_unknown = false;
  if (s.ok()) s = Commit(&outcome_unknown);
  if (!s.ok()) {
    // Never leave the failed transaction open: a later COMMIT would make
    // durable records that were just reported as failed.
    db_->RollbackIfOpen();
    if (outcome_unknown) {
      // InDoubt, not IOError: the records may reappear as durable when the
      // log is reopened, so the coordinator must neither roll back (presumed
      // abort would be wrong if they reappear) nor acknowledge a commit.
      s = Status::InDoubt(s.message() +
                          "; whether this batch reached the disk is unknown until the log is "
                          "reopened, so the log refuses further writes");
      // Later batches are certainly not written: IOError for them.
      failed_ = Status::IOError(s.message());
      twopc::internal::Log().error("{}", s.message());
    } else {
      twopc::internal::Log().warn("decision log batch of {} failed: {}", batch.size(), s.message());
    }
    return Answer(batch, s);
  }
  if (has_decisions) {
    forces_.fetch_add(1, std::memory_order_relaxed);
    uint64_t acknowledged = std::count_if(batch.begin(), batch.end(), [](const Job& j) {
      return j.kind == Job::Kind::kDecide && j.answer.ok();
    });
    records_forced_.fetch_add(acknowledged, std::memory_order_relaxed);
  }
  Answer(batch, Status::OK());
}

Status GroupCommitWriter::WriteJobs(std::vector<Job>& batch) {
  for (Job& job : batch) {
    Status s;
    switch (job.kind) {
      case Job::Kind::kDecide:
        s = writes_->Insert(job.record, &job.answer);
        break;
      case Job::Kind::kEnd:
        s = writes_->MarkEnded(job.record.gtrid, *job.record.ended_at_ms);
        break;
      case Job::Kind::kCompact: {
        auto deleted = writes_->DeleteEnded(job.record.incarnation);
        if (deleted.ok()) job.deleted = *deleted;
        s = deleted.status();
        break;
      }
      case Job::Kind::kHeuristic:
        s = writes_->InsertHeuristic(job.heuristic);
        break;
      case Job::Kind::kForget: {
        auto marked = writes_->ForgetHeuristics(job.heuristic.gtrid, job.heuristic.at_ms);
        if (marked.ok()) job.deleted = *marked;
        s = marked.status();
        break;
      }
      case Job::Kind::kFlush:
        break;
    }
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status GroupCommitWriter::Commit(bool* outcome_unknown) {
  int rc = sqlite3_exec(db_->handle(), "COMMIT", nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return Status::OK();
  // SQLITE_FULL: a WAL frame could not be written, so neither was the commit
  // frame after it, and recovery ignores a WAL tail without one: nothing of
  // the batch is on disk. SQLITE_BUSY: nothing was written. Any other failure
  // (a failed fsync above all) may come after the commit frame was written,
  // and the batch may resurface when the log is next opened.
  int primary = rc & 0xff;
  *outcome_unknown = primary != SQLITE_FULL && primary != SQLITE_BUSY;
  return db_->Error(rc, "COMMIT");
}

// A batch of END records alone is written with synchronous=NORMAL: in WAL
// mode its COMMIT then skips the fsync, and a crash can lose it but never
// tear it (END is not forced; losing it only makes recovery find the branches
// gone again). The next forced COMMIT syncs the WAL up to and including it.
Status GroupCommitWriter::SetSynchronous(bool full) {
  if (full == synchronous_full_) return Status::OK();
  Status s = db_->Exec(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  if (s.ok()) synchronous_full_ = full;
  return s;
}

void GroupCommitWriter::Answer(std::vector<Job>& batch, const Status& batch_status) {
  for (Job& job : batch) {
    switch (job.kind) {
      case Job::Kind::kDecide:
        if (job.done) job.done(batch_status.ok() ? std::move(job.answer) : batch_status);
        break;
      case Job::Kind::kFlush:
      case Job::Kind::kHeuristic:
        job.done(batch_status);
        break;
      case Job::Kind::kCompact:
      case Job::Kind::kForget:
        job.compacted(batch_status.ok() ? Result<uint64_t>(job.deleted)
                                        : Result<uint64_t>(batch_status));
        break;
      case Job::Kind::kEnd:
        break;
    }
  }
}

}  // namespace twopc::internal
