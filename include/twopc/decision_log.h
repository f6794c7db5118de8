// DecisionLog: where the coordinator makes its decision durable.
//
// The transaction is committed exactly when its COMMIT record is durable
// (docs/protocol.md, "Decide"). Presumed abort: a normal abort writes nothing.
//
// The interface exists so that tests can wrap the real log to inject failures
// and so that other implementations (a PostgreSQL-backed log shared by several
// coordinator nodes) can replace the embedded SQLite one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc {

enum class Decision { kCommit, kAbort };

const char* DecisionName(Decision d);  // "commit" / "abort"

// One prepared branch named by a decision record.
struct BranchRef {
  std::string participant;  // ParticipantOptions::name
  std::string gid;
  // The branch's PostgreSQL transaction id (64-bit, as txid_current()),
  // remembered at prepare; 0 when unknown (records of older versions). When
  // COMMIT PREPARED finds the branch gone, txid_status() of this id tells
  // whether it committed or was rolled back behind the log's back
  // (docs/protocol.md, "A gone branch proves nothing").
  uint64_t txid = 0;

  bool operator==(const BranchRef&) const = default;
};

struct DecisionRecord {
  std::string gtrid;
  Decision decision = Decision::kCommit;
  std::vector<BranchRef> branches;
  // True when an operator forced this decision against the protocol
  // (a heuristic decision); recovery reports such transactions.
  bool heuristic = false;
  // Filled in by the log on read.
  uint64_t incarnation = 0;        // incarnation of the process that wrote it
  int64_t decided_at_ms = 0;       // unix time, milliseconds
  std::optional<int64_t> ended_at_ms;  // set once an END record was written
  // store = "postgres": the participant whose twopc.decisions table holds
  // the record (the transaction's decider). Empty for the SQLite log.
  std::string decider;
};

// A recorded operator decision that went against the protocol (a forced
// `twopc commit|rollback`): kept apart from the decisions, which stay
// first-wins, so that recovery can report the transaction as heuristic/mixed.
struct HeuristicRecord {
  std::string gtrid;  // the gtrid, or the gid itself for a foreign branch
  std::string gid;
  std::string participant;
  Decision action = Decision::kCommit;  // what the operator did to the branch
  std::optional<Decision> logged;       // the log's decision then (none: undecided or foreign)
  int64_t at_ms = 0;                    // filled in by the log
  std::string note;
  // Set once an operator acknowledged the outcome (`twopc forget`, XA's
  // xa_forget) after repairing it; recovery and `twopc status` no longer
  // report a forgotten record. The record itself stays, as the audit trail.
  std::optional<int64_t> forgotten_at_ms;
};

struct LogStats {
  uint64_t records_forced = 0;  // decision records made durable
  uint64_t forces = 0;          // fsync-ed batches (records_forced / forces = batch size)
};

class DecisionLog {
 public:
  virtual ~DecisionLog() = default;

  // The incarnation this open of the log got: strictly greater than that of
  // every earlier open of the same log.
  virtual uint64_t incarnation() const = 0;

  // Appends `record` and forces it to stable storage before calling `done`.
  // First decision wins: if the log already holds a *different* decision for
  // record.gtrid, `done` gets Conflict and nothing changes; the same decision
  // again is OK (idempotent). Concurrent calls share one fsync (group commit).
  // If the write fails, `done` gets IOError when the record is certainly not
  // durable (e.g. disk full: nothing was written), and InDoubt when it may
  // be (the fsync failed after the write) -- the caller must then neither
  // acknowledge nor roll back. `done` runs on the log's writer thread (on the
  // caller's for a read-only log): it must not block.
  virtual void DecideAsync(DecisionRecord record, std::function<void(Status)> done) = 0;

  // Blocking form of DecideAsync.
  Status Decide(DecisionRecord record);

  // Blocking, for many records at once (recovery's fences): one status per
  // record, in order, each as Decide would answer it. The records share
  // their forced writes: the embedded log group-commits them, the postgres
  // store sends one statement per decider.
  virtual std::vector<Status> DecideMany(std::vector<DecisionRecord> records);

  // Marks a transaction as completed on every branch (the END record). Not
  // forced: losing it only makes recovery find the branches gone again.
  virtual void End(const std::string& gtrid) = 0;

  // The decision recorded for `gtrid`, or nullopt if there is none.
  virtual Result<std::optional<DecisionRecord>> Lookup(const std::string& gtrid) = 0;

  // All decision records without END, oldest first.
  virtual Result<std::vector<DecisionRecord>> Unended() = 0;

  // All records, oldest first (for `twopc log show`).
  virtual Result<std::vector<DecisionRecord>> All() = 0;

  // Deletes ended records; returns how many were deleted. Never deletes a
  // decision that a running process could still contradict: an ended ABORT
  // (a recovery fence) stays while the incarnation that wrote it may be
  // running. Safe on a live coordinator (the bench and `twopc log compact`
  // call it); it is serialized with the decisions by the log's writer.
  virtual Result<uint64_t> Compact() = 0;

  // Records an operator's heuristic decision, forced to disk. Never refused.
  virtual Status RecordHeuristic(const HeuristicRecord& record) = 0;
  // Every heuristic record, forgotten ones included, oldest first.
  virtual Result<std::vector<HeuristicRecord>> Heuristics() = 0;
  // Marks the heuristic records whose gtrid or gid is `key` as forgotten
  // (forced to disk, like RecordHeuristic); returns how many it marked (0:
  // none on record, or all forgotten already).
  virtual Result<uint64_t> ForgetHeuristic(const std::string& key) = 0;

  // Checks the storage (SQLite integrity_check) and every record (branches
  // parse, gids decode and belong to their gtrid). Returns the problems found
  // (empty: all good); a non-OK Status if the check itself could not run.
  virtual Result<std::vector<std::string>> Verify() = 0;

  // Waits until every End() issued so far is written.
  virtual Status Flush() = 0;

  virtual LogStats stats() const = 0;

  // Called after every forced batch of decisions with how many it held and
  // how long its write and fsync took (the metrics
  // twopc_decision_log_flush_seconds and twopc_decision_log_batch_records),
  // on the log's writer thread: it must not block. The coordinator sets it
  // at Open, and clears it (an empty function) before the metrics it feeds
  // are destroyed: a log must not call an observer once a later
  // SetFlushObserver has returned (the SQLite log holds a mutex around each
  // call). A log without batches of its own (the postgres store: the
  // decider's COMMIT is the flush) ignores it.
  using FlushObserver = std::function<void(size_t records, std::chrono::nanoseconds took)>;
  virtual void SetFlushObserver(const FlushObserver& observer) {}

  // ---- Stores shared by several coordinator processes (store = "postgres").
  // The SQLite log answers as a store with one owner.

  // True when other live processes decide in this store too: recovery must
  // then ask whether an incarnation's process is gone (ClaimIfGone) instead
  // of comparing it with its own.
  virtual bool shared() const { return false; }

  // The decision for the transaction of the prepared branch `gid`. A shared
  // store reads it where the gid says it is (its decider's table).
  virtual Result<std::optional<DecisionRecord>> LookupForGid(const std::string& gid);
  // LookupForGid of many gids (a recovery pass): one answer per gid, in
  // order. A shared store asks each decider once for all of its gids.
  virtual std::vector<Result<std::optional<DecisionRecord>>> LookupManyForGids(
      const std::vector<std::string>& gids);

  // Shared stores: is the coordinator process that drew `incarnation` gone?
  // True when this process could take that incarnation's registration: it
  // then holds it, so the process cannot come back and decide, until
  // ReleaseClaims(). False while the process lives. Never true for this
  // process's own incarnation.
  virtual Result<bool> ClaimIfGone(uint64_t incarnation);
  virtual void ReleaseClaims() {}

  // Shared stores: takes this process's registration again if its
  // connection was lost. Conflict when another process claimed it meanwhile
  // (it is resolving this process's transactions): this process must not
  // decide any more. OK for the SQLite log.
  virtual Status Reregister() { return Status::OK(); }
  // False once the registration is known lost (until Reregister succeeds):
  // a coordinator decides nothing while it is false.
  virtual bool registered() const { return true; }
};

// Opens the embedded SQLite decision log at options.path: WAL,
// synchronous=FULL, file mode 0600. A missing or empty (0-byte, never
// initialized) file is created only if options.create_if_missing; otherwise
// it is NotFound, and nothing is created (not even the lock file). Takes an
// exclusive lock on "<path>.lock" for the life of the returned object, so a
// second coordinator on the same log fails with Busy instead of corrupting
// it; bumps the incarnation. Migrates an older format version.
Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLog(const LogOptions& options);

// Read-only view of a log that may be in use by a live coordinator (WAL
// readers do not block the writer). Does not take the lock or bump the
// incarnation, and writes nothing (it works on a full disk); DecideAsync,
// End, Compact, RecordHeuristic and ForgetHeuristic return errors. A missing
// or empty file is NotFound.
Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLogReadOnly(const std::string& path);

// The decision store inside the participant databases (store = "postgres",
// docs/protocol.md, "Decisions inside PostgreSQL"): creates the `twopc`
// schema in every reachable participant when missing (InvalidArgument naming
// the privilege and the SQL to run once when the role may not), draws a
// fresh incarnation from the registry (the first participant) and holds its
// registration for the life of the returned store. The first participant
// must be reachable; others are set up when they are first reached.
Result<std::unique_ptr<DecisionLog>> OpenPgDecisionLog(const CoordinatorOptions& options);

// The same store for an operator tool (the `twopc` CLI, RecoveryManager):
// draws no incarnation and registers nothing (incarnation() is 0); it may
// fence (write ABORT rows), end records and record heuristic decisions.
// Creates nothing: a participant without the schema holds no decisions.
Result<std::unique_ptr<DecisionLog>> OpenPgDecisionLogForOperator(const CoordinatorOptions& options);

}  // namespace twopc
