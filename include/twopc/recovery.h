// Recovery: never leave a prepared transaction behind (docs/protocol.md).
//
// A RecoveryManager is the operator's view of every participant's prepared
// transactions and of the decision log; the `twopc` CLI is a thin shell over
// it. A Coordinator runs the same recovery pass at Open and in the background.
//
// The rules a pass follows:
//  * a COMMIT (ABORT) record without END: COMMIT (ROLLBACK) PREPARED every
//    branch; a branch that is gone was completed already; then END;
//  * a prepared branch with this node's gid and no decision is fenced -- an
//    ABORT record first (the log keeps the first decision, so a stale
//    process's late COMMIT is refused) -- then rolled back, but only when its
//    transaction can no longer be deciding: an earlier incarnation while this
//    process holds the log lock, or a transaction the live coordinator says
//    is not in flight;
//  * a branch is acted on only if it shows in two scans of pg_prepared_xacts
//    taken around reading the log;
//  * other gids (another node, Java XA, LIXA, Citus, hand-made) are listed,
//    decoded where the format is known, and never touched without --force;
//  * a lost connection or a server shutting down (57P01) means "try again
//    later", never success or failure.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twopc/decision_log.h"
#include "twopc/gid.h"
#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc {

// GidKind, ClassifiedGid and ClassifyGid (whose a gid is) are in twopc/gid.h.

// One prepared transaction on one participant.
struct PreparedBranch {
  std::string participant;
  std::string database;
  std::string gid;
  std::string owner_role;
  int64_t prepared_at_ms = 0;  // unix ms; 0 when the server does not keep it (MariaDB)
  ClassifiedGid classified;
  // The log's record for its gtrid (twopc gids of this node only).
  std::optional<DecisionRecord> decision;
  // Why `decision` could not be read (OK when it was, or was not looked up):
  // e.g. the decider of a tpc2 gid unreachable, or a tpc1 gid with store =
  // "postgres" (its decision is in an SQLite log that store never reads).
  Status decision_error;
  // Filled by ListPrepared(with_impact = true):
  std::vector<std::string> locked_relations;  // relations it holds locks on
  int waiting_sessions = 0;                   // sessions blocked on those locks
  int64_t xmin_age = 0;                       // age(transaction): how far it holds back VACUUM
};

enum class RecoveryActionKind {
  kCommitPrepared,    // a branch of a COMMIT record completed
  kRollbackPrepared,  // a branch of an ABORT record, or a fenced orphan, rolled back
  kFence,             // ABORT record appended for an undecided orphan
  kEnd,               // END written: every branch of the record completed
  kSkipLive,          // undecided branch whose transaction may still be deciding
  kSkipForeign,       // not this node's: reported, untouched
  kSkipUnstable,      // seen in only one of the two scans
  kRetryLater,        // participant unreachable or outcome unknown
  kMixed,             // branches of one transaction ended differently (heuristic)
  kEndSessions,       // sessions of a dead incarnation ended before concluding anything
  // (new kinds go above kEndSessions, or move tests/recovery_names_test.cc's bound)
};
const char* RecoveryActionName(RecoveryActionKind kind);

struct RecoveryAction {
  RecoveryActionKind kind = RecoveryActionKind::kRetryLater;
  std::string participant;
  std::string gid;
  std::string gtrid;
  Status status;       // the failure, for kRetryLater
  std::string detail;  // one line for humans
};

struct RecoveryReport {
  bool dry_run = false;
  std::vector<RecoveryAction> actions;
  int resolved = 0;            // branches committed or rolled back (would be, in a dry run)
  int in_doubt_remaining = 0;  // this node's branches / records still unresolved after the pass
  int foreign = 0;             // branches that are not this node's
  int unreachable = 0;         // participants that could not be scanned
  int mixed = 0;               // transactions with a heuristic or mixed outcome

  // What the pass left prepared: every prepared transaction its first scan
  // found (this node's, other nodes', foreign ones), less the branches it
  // committed or rolled back itself. They hold locks and hold back VACUUM
  // (the metrics twopc_prepared_branches and
  // twopc_oldest_prepared_age_seconds). Unreachable participants are absent
  // from `scanned`; a dry run resolves nothing.
  struct PreparedLeft {
    std::string participant;
    std::string gid;
    int64_t prepared_at_ms = 0;  // 0: the server does not say (MariaDB)
  };
  std::vector<PreparedLeft> prepared_left;
  std::vector<std::string> scanned;  // participants the first scan reached

  // The CLI's exit code: 4 a participant unreachable, 3 heuristic/mixed,
  // 1 in-doubt remains, 0 all resolved.
  int ExitCode() const;
};

struct RecoveryPassOptions {
  // Report what would be done, change nothing.
  bool dry_run = false;
  // Pause after each COMMIT/ROLLBACK PREPARED while the coordinator running
  // the pass has transactions in flight (then they go one at a time), so
  // that a pass does not take throughput away from them. Otherwise unused:
  // the pass runs batched (docs/protocol.md, "Recovery of a backlog").
  std::chrono::microseconds pace{1000};
  // Undecided branches of the *live* incarnation older than this may be
  // fenced even though the live process holds the lock (the "separate grace
  // period" of docs/protocol.md, "Fencing"). 0 = never.
  std::chrono::seconds live_grace{0};
};

// The heuristic records that leave one of node `node_id`'s transactions
// mixed and that no operator has acknowledged (`twopc forget`) yet: a forced
// action against the log's decision (or presumed abort), or a branch found
// ended the other way behind the log's back. Forced actions on foreign gids
// are not among them. What `status`, `recover` and `log verify` report (exit
// 3); the one place that rule lives.
std::vector<HeuristicRecord> UnresolvedHeuristics(const std::vector<HeuristicRecord>& all,
                                                  std::string_view node_id);

class RecoveryManagerImpl;

class RecoveryManager {
 public:
  // Connects to the participants of `options` and opens its decision log:
  // exclusively (taking the lock, so this process may fence orphans) when no
  // coordinator holds it, read-only otherwise (then only COMMIT/ABORT records
  // are driven forward; undecided branches are left to the live coordinator).
  //
  // kReadOnly never takes the lock (nor bumps the incarnation), so a
  // coordinator starting meanwhile is not refused: for views (status, log
  // show/verify). It writes nothing, so it works on a full disk.
  // kInspectIfFree takes the lock when it is free, like kExclusiveIfFree,
  // but opens the log read-only: no incarnation bump, no write; for `recover
  // --dry-run`, which reports what a real pass would fence.
  //
  // An operator tool never creates a decision log: a missing or empty
  // (never initialized) log is NotFound, naming the path, and nothing is
  // created (options.log.create_if_missing is ignored). A wrong path must
  // not give recovery an empty log, which would presume abort for
  // transactions whose COMMIT is durable in the real one.
  enum class LogAccess { kExclusiveIfFree, kReadOnly, kInspectIfFree };
  static Result<std::unique_ptr<RecoveryManager>> Open(
      CoordinatorOptions options, LogAccess access = LogAccess::kExclusiveIfFree);
  ~RecoveryManager();

  // True when this process holds the log lock (no coordinator is running).
  bool holds_log_lock() const;
  // True when another process (a running coordinator) holds the log lock
  // right now. Checked anew at every call.
  bool coordinator_running() const;
  const CoordinatorOptions& options() const;
  DecisionLog& log();

  // Every prepared transaction on every participant. Unreachable
  // participants are listed in `unreachable` (their name and error).
  struct Listing {
    std::vector<PreparedBranch> branches;
    std::vector<Status> unreachable;
  };
  Listing ListPrepared(bool with_impact);

  // Decision records without END (completion pending).
  Result<std::vector<DecisionRecord>> PendingDecisions();

  // One recovery pass.
  RecoveryReport RunPass(const RecoveryPassOptions& options);

  // Resolves one branch by hand. Allowed when it agrees with the log (or the
  // branch is this node's, undecided, and this process holds the lock: then
  // it is fenced first). Refused with Conflict when it contradicts the log,
  // the gid is foreign, or the transaction may still be deciding -- unless
  // `force`, and then it is recorded as a heuristic decision in the log.
  // `participant` may be empty when the gid is prepared on one participant only.
  Status Resolve(std::string_view gid, Decision action, bool force, std::string_view participant = {});

  Result<std::vector<HeuristicRecord>> Heuristics();

  // Acknowledges the heuristic outcome of `key` (a gtrid, or a gid as shown
  // by `twopc status`) once the operator repaired it: XA's xa_forget. Marks
  // its heuristic records forgotten in the log, after which recovery and
  // status no longer report them. NotFound when no unforgotten record
  // matches; Busy when a running coordinator holds the log (this process
  // cannot write it). Returns how many records were marked.
  Result<uint64_t> Forget(const std::string& key);

 private:
  explicit RecoveryManager(std::unique_ptr<RecoveryManagerImpl> impl);
  std::unique_ptr<RecoveryManagerImpl> impl_;
};

}  // namespace twopc
