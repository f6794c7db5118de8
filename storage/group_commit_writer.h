// The decision log's single writer: a thread that owns the write connection
// and forces every COMMIT/ABORT record queued while it was busy with ONE
// SQLite transaction, i.e. one fsync (group commit, docs/protocol.md, "Decide").
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"
#include "storage/sqlite_db.h"
#include "decision_log/sqlite_decision_table.h"
#include "twopc/decision_log.h"
#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc::internal {

class GroupCommitWriter {
 public:
  // Takes over `db`, already initialized (InitializeLog), and starts the
  // writer thread.
  static Result<std::unique_ptr<GroupCommitWriter>> Start(std::unique_ptr<SqliteDb> db,
                                                          const LogOptions& options);

  // Writes everything still queued (every pending Decide gets its answer),
  // then stops the thread and closes the connection.
  ~GroupCommitWriter();

  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // Queues `record` (incarnation and decided_at_ms already filled in); `done`
  // runs on the writer thread once the record's batch committed or failed.
  void Decide(DecisionRecord record, std::function<void(Status)> done);

  // Queues an END record; it rides along with the next batch.
  void End(std::string gtrid, int64_t now_ms);

  // Blocking; REQUIRES: not called on the writer thread (from a `done`).
  // Deletes ended records, keeping the ABORT fences written by incarnations
  // >= `live_incarnation` (see DecisionWrites::DeleteEnded).
  Result<uint64_t> Compact(uint64_t live_incarnation);
  Status Flush();
  // Writes `record` (at_ms already filled in) forced, like a decision.
  Status RecordHeuristic(HeuristicRecord record);
  // Marks the heuristic records of `key` forgotten at `now_ms`, forced;
  // returns how many.
  Result<uint64_t> ForgetHeuristic(std::string key, int64_t now_ms);

  LogStats stats() const;

 private:
  struct Job {
    enum class Kind { kDecide, kEnd, kCompact, kFlush, kHeuristic, kForget };
    Kind kind;
    DecisionRecord record;                            // kDecide; kEnd uses gtrid and ended_at_ms
    HeuristicRecord heuristic;                        // kHeuristic; kForget: gtrid = key
    std::function<void(Status)> done;                 // kDecide, kFlush, kHeuristic
    std::function<void(Result<uint64_t>)> compacted;  // kCompact, kForget
    Status answer;                                    // kDecide: this record's own outcome
    uint64_t deleted = 0;                             // kCompact; kForget: records marked
  };

  GroupCommitWriter(std::unique_ptr<SqliteDb> db, std::unique_ptr<DecisionWrites> writes,
                    const LogOptions& options);

  void Enqueue(Job job);
  void Run();
  // Waits for work and moves it into `*batch` (empty on entry); leaves it
  // empty only when stopping with nothing left.
  void TakeBatch(std::vector<Job>* batch) TWOPC_EXCLUDES(mu_);
  void WriteBatch(std::vector<Job>& batch);
  Status WriteJobs(std::vector<Job>& batch);
  Status Commit(bool* outcome_unknown);
  Status SetSynchronous(bool full);
  static void Answer(std::vector<Job>& batch, const Status& batch_status);

  const std::chrono::microseconds window_;
  const size_t max_batch_;

  // Used by the writer thread only (and by Start before the thread exists).
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<DecisionWrites> writes_;
  bool synchronous_full_ = true;
  // Set when a COMMIT failed in a way that leaves its outcome unknown; every
  // later write is refused with it (fail-stop, as PostgreSQL does after a
  // failed fsync).
  Status failed_;

  Mutex mu_;
  CondVar work_;
  // A vector, not a deque: the writer takes the whole queue by swapping it
  // with the batch it just finished (no job moved, capacity reused).
  std::vector<Job> queue_ TWOPC_GUARDED_BY(mu_);
  bool stopping_ TWOPC_GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> records_forced_{0};
  std::atomic<uint64_t> forces_{0};

  std::thread thread_;  // last: starts once everything above is initialized
};

}  // namespace twopc::internal
