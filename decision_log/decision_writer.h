// The decision log's writes: COMMIT/ABORT records forced in groups through
// the shared storage/group_commit_writer.h (one fsync for every record queued
// while the writer was busy: docs/protocol.md, "Decide"), END records riding
// along unforced, and the blocking calls of operators and compaction.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "decision_log/sqlite_decision_table.h"
#include "storage/group_commit_writer.h"
#include "storage/sqlite_db.h"
#include "twopc/decision_log.h"
#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc::internal {

// One queued write of the decision log.
struct DecisionJob {
  enum class Kind { kDecide, kEnd, kCompact, kFlush, kHeuristic, kForget };
  Kind kind;
  DecisionRecord record;                          // kDecide; kEnd uses gtrid and ended_at_ms
  HeuristicRecord heuristic;                      // kHeuristic; kForget: gtrid = key
  std::function<void(Status)> done;               // kDecide, kFlush, kHeuristic
  std::function<void(Result<uint64_t>)> counted;  // kCompact, kForget
  Status answer;                                  // kDecide: this record's own outcome
  uint64_t count = 0;                             // kCompact: deleted; kForget: marked
};

class DecisionWriter {
 public:
  // Takes over `db`, already initialized (InitializeLog), and starts the
  // writer thread.
  static Result<std::unique_ptr<DecisionWriter>> Start(std::unique_ptr<SqliteDb> db,
                                                       const LogOptions& options);

  // Writes everything still queued (every pending Decide gets its answer),
  // then stops the thread and closes the connection.
  ~DecisionWriter() = default;

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

  // Called on the writer thread after every forced batch with decisions
  // (DecisionLog::SetFlushObserver).
  void SetFlushObserver(DecisionLog::FlushObserver observer);

  // Written by the writer thread, read by stats().
  struct Counters {
    std::atomic<uint64_t> records_forced{0};
    std::atomic<uint64_t> forces{0};
    Mutex observer_mutex;
    DecisionLog::FlushObserver observer TWOPC_GUARDED_BY(observer_mutex);
  };

 private:
  DecisionWriter(std::unique_ptr<SqliteDb> db, std::unique_ptr<DecisionWrites> writes,
                 const LogOptions& options);

  Counters counters_;  // before writer_: its last batches still count
  GroupCommitWriter<DecisionJob> writer_;
};

}  // namespace twopc::internal
