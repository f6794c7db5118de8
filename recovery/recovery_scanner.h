// The recovery pass (DESIGN.md §2 "Recovery"), shared by the coordinator
// (at Open and in the background) and the operator's RecoveryManager.
// Internal. Blocking: never call it on a coordinator I/O thread.
#pragma once

#include <functional>
#include <map>
#include <string>

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
  // unless `in_flight` says the transaction is over.
  uint64_t live_incarnation = 0;
  // Set only inside the live coordinator: true while a transaction of the
  // live incarnation may still prepare or decide.
  std::function<bool(const std::string& gtrid)> in_flight;
  // Set only inside the live coordinator: true while it runs phase 2 itself.
  std::function<bool(const std::string& gtrid)> completing;
  std::chrono::milliseconds timeout{10000};  // per participant call
};

RecoveryReport RunRecoveryPass(const ScanContext& ctx, const RecoveryPassOptions& options);

// pg_prepared_xacts of every participant, classified, with the log's
// decision; with_impact adds locks, waiters and xmin age.
RecoveryManager::Listing ListPrepared(const ScanContext& ctx, bool with_impact);

// Blocking helpers over the async participant verbs.
Result<std::vector<PreparedXact>> RecoverSync(Participant& p, std::chrono::milliseconds timeout);
Status CommitPreparedSync(Participant& p, const std::string& gid, std::chrono::milliseconds timeout);
Status RollbackPreparedSync(Participant& p, const std::string& gid, std::chrono::milliseconds timeout);

}  // namespace twopc::internal
