// The recovery pass (docs/protocol.md, "Recovery"), shared by the coordinator
// (at Open and in the background) and the operator's RecoveryManager.
// Internal. Blocking: never call it on a coordinator I/O thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "coordinator/txn_registry.h"
#include "participants/participant.h"
#include "twopc/recovery.h"

namespace twopc::internal {

struct ScanContext {
  std::string node_id;
  std::map<std::string, Participant*> participants;
  DecisionLog* log = nullptr;
  // May undecided orphans be fenced (ABORT appended, then rolled back)?
  // Only when this process holds the log lock.
  bool can_fence = false;
  // The incarnation of the live coordinator process (this one, when the pass
  // runs inside the coordinator). Its undecided branches are left alone
  // while `live_transactions` says they may still be deciding.
  uint64_t live_incarnation = 0;
  // Set only inside the live coordinator: its transactions and their
  // phases (TxnRegistry::MayBeDeciding, IsCompleting). Null in a process
  // that runs no transactions (the operator's RecoveryManager).
  const TxnRegistry* live_transactions = nullptr;
  std::chrono::milliseconds timeout{10000};  // per participant call
  // Set when the participants hold another live process's registration of
  // this node id: nothing of this node may be fenced (docs/protocol.md, "One
  // live coordinator per node id").
  std::string not_registered;
  // Shared store: a fresh COMMIT row of another live process is left to it
  // for this long (its own phase 2 is running); after that, or once the
  // process is gone, any pass completes it.
  std::chrono::milliseconds others_grace{60000};
};

RecoveryReport RunRecoveryPass(const ScanContext& ctx, const RecoveryPassOptions& options);

// The recovery pass restricted to one transaction of this node: what `twopc
// commit` and `twopc rollback` run for this node's gids (docs/protocol.md,
// "Operator decisions"), so that the operator follows the very path the
// background pass and `twopc recover` follow. Branches and records of every
// other gtrid, and foreign gids, are neither acted on nor reported.
struct GtridPassResult {
  // Where the pass stopped short of fencing `gtrid` (an undecided one).
  enum class Stop {
    kNone,
    kMayBeDeciding,     // MayBeDeciding: `why`
    kSessionsAlive,     // EndDeadSessions failed on `participant`: `status`
    kDecidedMeanwhile,  // Fence met a decision recorded first: `decision`
    kCannotFence,       // the ABORT record could not be appended: `status`
  };
  Stop stop = Stop::kNone;
  std::string why, participant;
  Status status;
  Decision decision = Decision::kAbort;
  RecoveryReport report;  // the actions, all of them on `gtrid`
};
GtridPassResult RunRecoveryPassFor(const ScanContext& ctx, const RecoveryPassOptions& options,
                                   const std::string& gtrid);

// May the undecided transaction `gtrid` (a branch of it: `parts`, prepared
// at `prepared_at_ms`) still be deciding somewhere? The one answer used by
// the recovery pass and by `twopc rollback` (docs/protocol.md, "Fencing").
// `*why` says why when it may.
bool MayBeDeciding(const ScanContext& ctx, const GidParts& parts, const std::string& gtrid,
                   int64_t prepared_at_ms, std::chrono::seconds live_grace, std::string* why);

// Ends, on `participant`, the sessions of this node's incarnations older
// than ctx.live_incarnation and waits for them to go: a dead coordinator's
// pipelined PREPARE may still be queued behind a lock. OK when none is left;
// nothing about that participant's undecided branches may be concluded
// otherwise. `*ended` gets how many were ended.
// `which`, when set, names the incarnations instead (a shared store ends
// exactly the one it found gone).
Status EndDeadSessions(const ScanContext& ctx, Participant& participant, int* ended,
                       std::optional<IncarnationRange> which = {});

// Fences the undecided transaction `gtrid`: appends ABORT naming `branches`
// so that no late COMMIT can be accepted. OK when ABORT is (or already was)
// the decision; Conflict when a COMMIT was recorded first. REQUIRES:
// !MayBeDeciding(...) and EndDeadSessions() OK on the branches' participants.
Status Fence(const ScanContext& ctx, const std::string& gtrid, std::vector<BranchRef> branches);

// The outcome of a branch that COMMIT/ROLLBACK PREPARED found gone, from
// txid_status() of its transaction id: OK (it ended as `decision` says, or
// cannot be checked: txid 0 or too old), HeuristicMixed (it ended the other
// way), Unavailable (ask again later).
Status CheckGoneBranch(const ScanContext& ctx, Participant& participant, const BranchRef& branch,
                       Decision decision);

// pg_prepared_xacts of every participant, classified, with the log's
// decision; with_impact adds locks, waiters and xmin age.
RecoveryManager::Listing ListPrepared(const ScanContext& ctx, bool with_impact);

// Blocking helpers over the async participant verbs.
Result<std::vector<PreparedXact>> RecoverSync(Participant& p, std::chrono::milliseconds timeout);
Status CommitPreparedSync(Participant& p, const std::string& gid, std::chrono::milliseconds timeout);
Status RollbackPreparedSync(Participant& p, const std::string& gid, std::chrono::milliseconds timeout);
Result<TxidOutcome> TransactionStatusSync(Participant& p, uint64_t txid, std::chrono::milliseconds timeout);

}  // namespace twopc::internal
