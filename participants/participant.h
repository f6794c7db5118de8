// The participant (resource manager) interface. Its verbs mirror XA:
//   Open (xa_start) -> Branch::Execute ... -> Branch::Prepare (xa_end+xa_prepare)
//   -> CommitPrepared / RollbackPrepared (xa_commit / xa_rollback), Recover.
//
// The commit protocol talks to participants only through this interface, so a
// test can wrap the real PostgreSQL participant to inject failures at any verb.
// Every callback runs on an I/O thread and must not block.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "participants/query.h"
#include "twopc/decision_log.h"
#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc::internal {

// One global transaction's work on one participant, bound to one connection.
class Branch {
 public:
  using Done = std::function<void(Status)>;
  using ExecDone = std::function<void(Result<std::vector<QueryResult>>)>;

  // Returns the connection to the pool; if the branch is still open on the
  // server, closing the connection rolls it back.
  virtual ~Branch() = default;

  // Runs statements now (BEGIN is sent with the first ones).
  virtual void Execute(std::vector<Query> queries, Deadline deadline, ExecDone done) = 0;

  // True once the server said the branch holds a transaction id, i.e. it
  // wrote (checked with txid_current_if_assigned() in the same pipeline as
  // each Execute, so the check costs no round trip).
  virtual bool wrote() const = 0;

  // The branch's transaction id (64-bit, txid_current()), 0 while unknown.
  // Known once the branch wrote (asked in the same pipelines as wrote()) and
  // after Prepare. Kept in the COMMIT record, so that a branch found gone
  // can be checked with TransactionStatus() instead of assumed committed.
  virtual uint64_t txid() const = 0;

  // True when PREPARE TRANSACTION answered OK, even if the request failed
  // afterwards: such a branch is undone with ROLLBACK PREPARED, never with
  // ROLLBACK (which would find no transaction and leave it prepared).
  virtual bool prepared() const = 0;

  // The server session that runs this branch (0: none yet). After a timeout
  // or a lost connection that session may still be running what was sent;
  // the branch is not gone until the session is (Participant::EndSession).
  virtual int session() const = 0;

  // Runs `queued` and PREPARE TRANSACTION `gid` in one round trip.
  //   OK          -- prepared: the branch will commit or roll back only on
  //                  COMMIT/ROLLBACK PREPARED;
  //   SqlError    -- refused: the branch is rolled back, nothing is prepared;
  //   Unavailable / TimedOut -- unknown: it may be prepared.
  virtual void Prepare(std::vector<Query> queued, const std::string& gid, Deadline deadline,
                       Done done) = 0;

  // Runs `queued` and COMMIT in one round trip (one-phase commit, and the
  // read-only vote). Unavailable/TimedOut here mean the commit is in doubt.
  virtual void CommitOnePhase(std::vector<Query> queued, Deadline deadline, Done done) = 0;

  virtual void Rollback(Deadline deadline, Done done) = 0;

  // COMMIT PREPARED on this branch's own connection (idle after PREPARE),
  // saving a pool round trip. NotFound if no such prepared transaction.
  virtual void CommitPrepared(const std::string& gid, Deadline deadline, Done done) = 0;

  // ROLLBACK PREPARED on this branch's own connection. For an XA resource
  // manager it is the only way while the connection lives: MariaDB keeps a
  // prepared branch attached to the session that prepared it, and answers
  // XAER_NOTA to every other session until that one ends.
  virtual void RollbackPrepared(const std::string& gid, Deadline deadline, Done done) = 0;
};

// A prepared transaction as seen in pg_prepared_xacts.
struct PreparedXact {
  std::string gid;
  std::string database;
  std::string owner;
  int64_t prepared_at_ms = 0;  // 0: the server does not say (MariaDB)
  uint64_t transaction = 0;  // 32-bit xid
  uint64_t txid = 0;         // the same, epoch-qualified (txid_status() takes it)
};

// What the participant says became of a transaction id (txid_status()).
enum class TxidOutcome {
  kCommitted,
  kAborted,     // rolled back, or the server crashed before it committed
  kInProgress,  // still running, or prepared
  kUnknown,     // too old to tell (its commit status was truncated away)
};
const char* TxidOutcomeName(TxidOutcome o);

// The sessions of this node's older incarnations that EndSessions found.
struct EndedSessions {
  int terminated = 0;  // ended by this call
  int remaining = 0;   // still running after the wait (could not be ended)
};

// One entry of FinishPreparedMany: COMMIT PREPARED (kCommit) or ROLLBACK
// PREPARED (kAbort) of `gid`.
struct PreparedEnd {
  std::string gid;
  Decision decision = Decision::kAbort;
};

// Incarnations `from` <= i < `below`.
struct IncarnationRange {
  uint64_t from = 0;
  uint64_t below = 0;
};

// A pool's connections right now, for the metrics gauges.
struct PoolStats {
  int open = 0;     // idle + lent out + connecting
  int idle = 0;     // pooled, ready for the next branch
  int waiting = 0;  // Acquire calls queued because max_connections are open
};

class Participant {
 public:
  virtual ~Participant() = default;

  virtual const std::string& name() const = 0;

  // Its pool's connections (zero for a participant without one: tests' fakes).
  virtual PoolStats pool_stats() const { return {}; }

  // PostgreSQL unless overridden. A MariaDB branch is named (its gid fixed)
  // at XA START, and is never the decider of the postgres store.
  virtual ParticipantKind kind() const { return ParticipantKind::kPostgres; }

  // Starts a branch (takes a connection; BEGIN goes out with the first work).
  // `gid` is the branch's gid when it is known this early (the SQLite log:
  // always; the postgres store names the decider in it, chosen at commit:
  // empty). PostgreSQL needs it only at PREPARE; XA resource managers
  // (MariaDB) need it at XA START, before the first statement.
  virtual void Open(const TransactionOptions& options, const std::string& gid, Deadline deadline,
                    std::function<void(Result<std::unique_ptr<Branch>>)> done) = 0;

  // COMMIT PREPARED / ROLLBACK PREPARED on a pooled connection. NotFound when
  // the participant has no such prepared transaction (42704).
  virtual void CommitPrepared(const std::string& gid, Deadline deadline,
                              std::function<void(Status)> done) = 0;
  virtual void RollbackPrepared(const std::string& gid, Deadline deadline,
                                std::function<void(Status)> done) = 0;

  // Many COMMIT/ROLLBACK PREPARED at once, for recovery of a backlog
  // (docs/protocol.md, "Recovery of a backlog"): one status per entry, in
  // order, each as CommitPrepared/RollbackPrepared would answer it alone
  // (Unavailable for those whose answer was lost with the connection). The
  // default runs them one by one, all in flight together; PostgreSQL sends
  // them in one pipeline, one round trip.
  virtual void FinishPreparedMany(std::vector<PreparedEnd> ends, Deadline deadline,
                                  std::function<void(std::vector<Status>)> done);

  // This database's prepared transactions (xa_recover).
  virtual void Recover(Deadline deadline,
                       std::function<void(Result<std::vector<PreparedXact>>)> done) = 0;

  // Runs one read-only statement on a pooled connection (operator views:
  // pg_locks, pg_stat_activity...). Never used inside a global transaction.
  virtual void Inspect(Query query, Deadline deadline,
                       std::function<void(Result<std::vector<QueryResult>>)> done) = 0;

  // txid_status(txid) on a pooled connection (docs/protocol.md, "A gone
  // branch proves nothing").
  virtual void TransactionStatus(uint64_t txid, Deadline deadline,
                                 std::function<void(Result<TxidOutcome>)> done) = 0;

  // Ends the server session `session` (pg_terminate_backend) and waits
  // until it is gone, so that nothing it was sent can still run. OK when the
  // session is gone (or was already).
  virtual void EndSession(int session, Deadline deadline, std::function<void(Status)> done) = 0;

  // Ends every session whose connection names node `node_id` with an
  // incarnation in `which` (their process is dead: a pipelined PREPARE of
  // theirs may still be waiting on a lock), and waits for them to go
  // (docs/protocol.md, "Sessions of a dead coordinator"). The SQLite log
  // ends every incarnation below the live one; a shared store ends exactly
  // the one whose registration it claimed.
  virtual void EndSessions(const std::string& node_id, IncarnationRange which, Deadline deadline,
                           std::function<void(Result<EndedSessions>)> done) = 0;

  // Registers node `node_id` as live on this participant for as long as the
  // participant exists (a session advisory lock on a connection of its own).
  // Conflict, naming the holder, when another process holds the
  // registration: two live coordinators must never share a node id. Calling
  // it again re-registers if the connection was lost.
  virtual void Register(const std::string& node_id, uint64_t incarnation, Deadline deadline,
                        std::function<void(Status)> done) = 0;

  // Start-up check: FailedPrecondition-like InvalidArgument when the server
  // has max_prepared_transactions = 0 (with the fix in the message),
  // Unavailable when it cannot be reached.
  virtual void CheckReady(Deadline deadline, std::function<void(Status)> done) = 0;
};

}  // namespace twopc::internal
