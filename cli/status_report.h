// What `twopc status` reports, gathered once and then printed as a table
// or as JSON, so that both forms and the exit code always agree.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "twopc/recovery.h"

namespace twopc::cli {

struct StatusReport {
  RecoveryManager::Listing listing;
  std::vector<DecisionRecord> pending;  // decision records without END
  // Heuristic records not forgotten yet (`twopc forget` acknowledges one).
  std::vector<HeuristicRecord> heuristics;
  std::vector<Status> log_errors;  // log reads that failed: nothing can be promised
  // gtrids of this node's transactions that an operator forced: every branch
  // and record of such a transaction is shown as heuristic.
  std::set<std::string> forced;
  std::string node_id;
  int64_t now_ms = 0;

  bool IsHeuristic(const PreparedBranch& branch) const;
  bool IsHeuristic(const DecisionRecord& record) const;
  // True for a forced action on a foreign gid: it is listed, but it
  // contradicts no decision of this node (presumed abort speaks only for
  // this node's gids), so it is not a mixed outcome of twopc's.
  bool IsForeign(const HeuristicRecord& record) const;
  // 4 a participant unreachable, 3 a heuristic or mixed outcome of this
  // node's, 1 a branch of this node prepared, a decision pending completion
  // or the log unreadable, 0 nothing to do. Foreign branches alone, and
  // forced actions on them, are not twopc's in-doubt: they leave the code
  // at 0.
  int ExitCode() const;
};

StatusReport GatherStatus(RecoveryManager& manager);

// The key a heuristic record of `branch` would carry: its gtrid for a twopc
// gid, the gid itself for a foreign one.
std::string TransactionKey(const PreparedBranch& branch);

}  // namespace twopc::cli
