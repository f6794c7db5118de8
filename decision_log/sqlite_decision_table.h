// The decision log's tables and the SQL that reads and writes them, with no
// threading: the callers (sqlite_decision_log.cc) serialize each connection.
//
// Format version 2 (PRAGMA user_version = 2; version 1 lacks
// heuristics.forgotten_at_ms and is migrated at a writable open):
//   meta(key TEXT PRIMARY KEY, value INTEGER)     -- ('incarnation', n)
//   decisions(gtrid TEXT PRIMARY KEY,
//             decision TEXT,        -- 'commit' | 'abort'
//             branches TEXT,        -- JSON [{"participant": .., "gid": ..}, ..]
//             heuristic INTEGER,    -- 0 | 1
//             incarnation INTEGER,  -- of the process that wrote the record
//             decided_at_ms INTEGER,
//             ended_at_ms INTEGER NULL)
//   heuristics(id INTEGER PRIMARY KEY,    -- insertion order
//              gtrid TEXT, gid TEXT, participant TEXT,
//              action TEXT,               -- 'commit' | 'abort': what the operator did
//              logged TEXT NULL,          -- the log's decision then, NULL if none
//              at_ms INTEGER, note TEXT,
//              forgotten_at_ms INTEGER NULL)  -- set by `twopc forget`
// `heuristics` is created with IF NOT EXISTS at every writable open, so that
// a version-1 log written before it existed gains it without a migration.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/sqlite_db.h"
#include "twopc/decision_log.h"
#include "twopc/status.h"

namespace twopc::internal {

// Switches `db` to WAL with synchronous=FULL, creates the schema if the file
// is new (checks its version and migrates it otherwise) and bumps the
// incarnation, the last two in one transaction. Returns the new incarnation.
// A file without schema is NotFound, untouched, unless `create_if_missing`.
Result<uint64_t> InitializeLog(SqliteDb* db, bool create_if_missing);

// Checks the format version and returns the stored incarnation. Writes
// nothing. A file without schema (a log never initialized) is NotFound.
Result<uint64_t> ReadIncarnation(SqliteDb* db);

// Every heuristic record, oldest first; none when the table does not exist
// yet (a log last opened for writing by an older twopc).
Result<std::vector<HeuristicRecord>> ReadHeuristics(SqliteDb* db);

// PRAGMA integrity_check, then every decision record (DecisionLog::Verify).
Result<std::vector<std::string>> VerifyLog(SqliteDb* db);

// The queries behind Lookup / Unended / All.
class DecisionReads {
 public:
  static Result<std::unique_ptr<DecisionReads>> Prepare(SqliteDb* db);

  Result<std::optional<DecisionRecord>> Lookup(const std::string& gtrid);
  // Without END, oldest first.
  Result<std::vector<DecisionRecord>> Unended();
  // Oldest first.
  Result<std::vector<DecisionRecord>> All();

 private:
  DecisionReads() = default;
  Result<std::vector<DecisionRecord>> ReadAll(SqliteStatement* stmt);

  std::unique_ptr<SqliteStatement> lookup_;
  std::unique_ptr<SqliteStatement> unended_;
  std::unique_ptr<SqliteStatement> all_;
  std::string path_;
};

// The writes. Each runs inside a transaction the caller opened and commits.
class DecisionWrites {
 public:
  static Result<std::unique_ptr<DecisionWrites>> Prepare(SqliteDb* db);

  // One COMMIT/ABORT record to insert, and where its own outcome goes.
  struct Insertion {
    const DecisionRecord* record;
    Status* answer;
  };

  // Inserts each record (its incarnation and decided_at_ms as given), in
  // order, unless the log already holds a decision for its gtrid -- also one
  // inserted by an earlier record of `insertions`. Returns non-OK when
  // SQLite failed (the caller's transaction is lost). Otherwise sets every
  // `*answer`, that record's own outcome: OK (inserted, or the same decision
  // was already there), Conflict (a different decision is there: first
  // decision wins), or InvalidArgument (the record cannot be stored). One
  // multi-row statement per kMaxRowsPerStatement records: the log writer is
  // the one serial section of the commit path (docs/benchmarks.md, "Profile:
  // where the time goes").
  Status InsertAll(const std::vector<Insertion>& insertions);

  // One END record: set ended_at_ms of `gtrid` to `now_ms` unless set.
  struct Ending {
    std::string_view gtrid;
    int64_t now_ms;
  };

  // Applies each ending: kMinRowsPerEndStatement or more in one statement
  // per kMaxRowsPerStatement, fewer with a statement each.
  // REQUIRES: no gtrid twice (one statement cannot say which would be
  // first; the caller keeps the first, which is what running them in order
  // would leave).
  Status MarkAllEnded(const std::vector<Ending>& endings);

  // Rows per multi-row statement; longer lists take several.
  static constexpr size_t kMaxRowsPerStatement = 64;
  // Fewer ENDs than this are written a statement each: the multi-row form
  // materializes its rows first, a fixed cost that makes it dearer per END
  // than a statement each below about a dozen rows, twice as dear for one
  // (docs/benchmarks.md, "Batched log statements").
  static constexpr size_t kMinRowsPerEndStatement = 16;

  // Deletes ended records; returns how many. Heuristic records stay: they
  // are the audit trail of what operators forced. ABORT records written by
  // an incarnation >= `live_incarnation` stay too: they fence transactions
  // of a process that may still be running, and deleting one would let that
  // process's late COMMIT in.
  Result<uint64_t> DeleteEnded(uint64_t live_incarnation);

  // Appends `record` (its at_ms as given) to the heuristics.
  Status InsertHeuristic(const HeuristicRecord& record);

  // Sets forgotten_at_ms of the heuristic records whose gtrid or gid is
  // `key` and that are not forgotten yet; returns how many.
  Result<uint64_t> ForgetHeuristics(const std::string& key, int64_t now_ms);

 private:
  explicit DecisionWrites(SqliteDb* db) : db_(db) {}

  // The statement of `rows` rows in `*cache`, prepared at its first use: a
  // group-commit batch has any size up to the writer's max_batch, and one
  // statement per size that occurs costs less than preparing each batch's.
  Result<SqliteStatement*> RowsStatement(std::vector<std::unique_ptr<SqliteStatement>>* cache,
                                         size_t rows, std::string (*sql)(size_t rows));
  // Sets *answer from the decision stored for `record`'s gtrid after an
  // insert that did not write every row.
  Status AnswerFromStored(const DecisionRecord& record, Status* answer);

  SqliteDb* db_;
  std::vector<std::unique_ptr<SqliteStatement>> insert_rows_;  // [rows - 1]
  // [rows - 1], used from kMinRowsPerEndStatement rows on.
  std::vector<std::unique_ptr<SqliteStatement>> end_rows_;
  std::vector<std::string> encoded_;  // InsertAll's branch lists, reused
  std::vector<Insertion> valid_;      // InsertAll's storable records, reused
  std::unique_ptr<SqliteStatement> existing_;
  std::unique_ptr<SqliteStatement> end_;  // one END, below kMinRowsPerEndStatement
  std::unique_ptr<SqliteStatement> delete_ended_;
  std::unique_ptr<SqliteStatement> insert_heuristic_;
  std::unique_ptr<SqliteStatement> forget_heuristics_;
};

}  // namespace twopc::internal
