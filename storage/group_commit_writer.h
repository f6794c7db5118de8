// The single writer of a log file, shared by the decision log and the saga
// log: a thread that owns the write connection and commits every job queued
// while it was busy in ONE SQLite transaction, i.e. one fsync for a whole
// group of concurrent callers (group commit, docs/protocol.md, "Decide").
//
// It goes fail-stop, as PostgreSQL does after a failed fsync: once a COMMIT
// failed in a way that leaves unknown whether it reached the disk, that batch
// is answered InDoubt and every later one IOError, until the log is reopened
// (docs/protocol.md, "Decide"). What a job is and how it is written stays
// with each log: decision_log/decision_writer.cc, saga/saga_log_writer.cc.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/thread_annotations.h"
#include "storage/sqlite_db.h"
#include "twopc/status.h"

namespace twopc::internal {

struct GroupCommitOptions {
  // How long the writer waits for more jobs once one is queued, so that
  // concurrent callers share an fsync. 0: it writes at once.
  std::chrono::microseconds window{0};
  // Upper bound of jobs committed together.
  size_t max_batch = 1024;
  // Names the log in messages: "decision log", "saga log".
  std::string what = "log";
  // Applied to every failure before it is logged or answered (the saga log
  // names itself in SQLite's errors); nullptr: none.
  std::function<Status(const Status&)> reword;
};

// What one log writes. Called on the writer thread only, once per batch, in
// this order: MustForce, Write (inside the transaction), Answer.
template <class Job>
class BatchWrites {
 public:
  virtual ~BatchWrites() = default;
  // False for a batch that may be lost in a crash (never torn): it is then
  // committed with synchronous=NORMAL, without an fsync of its own.
  virtual bool MustForce(const std::vector<Job>& batch) { return true; }
  // Writes every job inside the batch's transaction. Non-OK fails the whole
  // batch (the transaction is rolled back); a job refused on its own (a
  // conflict) keeps its refusal in the job for Answer.
  virtual Status Write(std::vector<Job>& batch) = 0;
  // How long the batch's transaction (write and commit, with its fsync when
  // forced) took; called before Answer. For the metrics.
  virtual void Took(const std::vector<Job>& batch, bool forced, std::chrono::nanoseconds took) {}
  // Gives every job its answer: `batch_status` is OK when the batch is
  // durable, otherwise why not (InDoubt when it may be).
  virtual void Answer(std::vector<Job>& batch, const Status& batch_status) = 0;
};

// The write connection of one log and its fail-stop rule; no thread. Not
// thread-safe: GroupCommitWriter's thread is its only user.
class FailStopConnection {
 public:
  FailStopConnection(std::unique_ptr<SqliteDb> db, std::string what,
                     std::function<Status(const Status&)> reword)
      : db_(std::move(db)), what_(std::move(what)), reword_(std::move(reword)) {}

  // Runs `write` (`jobs` of them) in one transaction and commits it, forced
  // unless `force` is false. Refused without touching the file once a
  // commit's outcome was unknown. On failure nothing is left open.
  Status Transact(bool force, size_t jobs, const std::function<Status()>& write);

  SqliteDb* db() { return db_.get(); }

 private:
  Status SetSynchronous(bool full);
  Status Commit(bool* outcome_unknown);

  std::unique_ptr<SqliteDb> db_;
  const std::string what_;
  const std::function<Status(const Status&)> reword_;
  bool synchronous_full_ = true;  // the logs are opened with synchronous=FULL
  // Set when a COMMIT failed in a way that leaves its outcome unknown; every
  // later write is refused with it.
  Status failed_;
};

template <class Job>
class GroupCommitWriter {
 public:
  // Takes over `db` (already initialized) and `writes` (prepared on `db`),
  // and starts the writer thread.
  GroupCommitWriter(std::unique_ptr<SqliteDb> db, std::unique_ptr<BatchWrites<Job>> writes,
                    GroupCommitOptions options)
      : window_(std::max(options.window, std::chrono::microseconds(0))),
        max_batch_(std::max<size_t>(options.max_batch, 1)),
        connection_(std::move(db), std::move(options.what), std::move(options.reword)),
        writes_(std::move(writes)) {
    thread_ = std::thread(&GroupCommitWriter::Run, this);
  }

  // Writes everything still queued (every job gets its answer), then stops
  // the thread. The statements in `writes` go before the connection: one
  // with unfinalized statements is closed lazily and would not checkpoint.
  ~GroupCommitWriter() {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    work_.SignalAll();
    thread_.join();
  }

  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // Queues `job`; BatchWrites::Answer answers it on the writer thread.
  void Enqueue(Job job) {
    {
      MutexLock lock(mu_);
      queue_.push_back(std::move(job));
    }
    work_.Signal();
  }

 private:
  void Run() {
    std::vector<Job> batch;
    for (;;) {
      TakeBatch(&batch);
      if (batch.empty()) return;
      bool forced = writes_->MustForce(batch);
      auto start = std::chrono::steady_clock::now();
      Status s = connection_.Transact(forced, batch.size(), [&] { return writes_->Write(batch); });
      if (s.ok()) writes_->Took(batch, forced, std::chrono::steady_clock::now() - start);
      writes_->Answer(batch, s);
      batch.clear();  // keeps its capacity for the queue it is swapped with next
    }
  }

  // Waits for work and moves it into `*batch` (empty on entry); leaves it
  // empty only when stopping with nothing left.
  void TakeBatch(std::vector<Job>* batch) TWOPC_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (!stopping_ && queue_.empty()) work_.Wait(mu_);
    if (window_.count() > 0 && !stopping_) {
      // Give concurrent callers the chance to share this fsync.
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

  const std::chrono::microseconds window_;
  const size_t max_batch_;

  // Used by the writer thread only. `writes_` after `connection_`: its
  // statements are finalized before the connection closes.
  FailStopConnection connection_;
  std::unique_ptr<BatchWrites<Job>> writes_;

  Mutex mu_;
  CondVar work_;
  // A vector, not a deque: the writer takes the whole queue by swapping it
  // with the batch it just finished (no job moved, capacity reused).
  std::vector<Job> queue_ TWOPC_GUARDED_BY(mu_);
  bool stopping_ TWOPC_GUARDED_BY(mu_) = false;

  std::thread thread_;  // last: starts once everything above is initialized
};

}  // namespace twopc::internal
