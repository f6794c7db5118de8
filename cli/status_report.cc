#include "cli/status_report.h"

#include <algorithm>

#include "cli/cli_context.h"
#include "cli/text.h"

namespace twopc::cli {

std::string TransactionKey(const PreparedBranch& branch) {
  const auto& parts = branch.classified.parts;
  if (!parts) return branch.gid;
  return GtridOf(*parts);
}

bool StatusReport::IsHeuristic(const PreparedBranch& branch) const {
  if (branch.decision && branch.decision->heuristic) return true;
  return forced.count(TransactionKey(branch)) > 0;
}

bool StatusReport::IsForeign(const HeuristicRecord& record) const {
  return ClassifyGid(record.gid, node_id).kind != GidKind::kThisNode;
}

bool StatusReport::IsHeuristic(const DecisionRecord& record) const {
  return record.heuristic || forced.count(record.gtrid) > 0;
}

int StatusReport::ExitCode() const {
  if (!listing.unreachable.empty()) return kExitUnreachable;
  bool heuristic = !UnresolvedHeuristics(heuristics, node_id).empty() ||
                   std::any_of(pending.begin(), pending.end(),
                               [this](const DecisionRecord& r) { return IsHeuristic(r); }) ||
                   std::any_of(listing.branches.begin(), listing.branches.end(),
                               [this](const PreparedBranch& b) { return IsHeuristic(b); });
  if (heuristic) return kExitHeuristic;
  bool in_doubt =
      !pending.empty() || !log_errors.empty() ||
      std::any_of(listing.branches.begin(), listing.branches.end(),
                  [](const PreparedBranch& b) { return b.classified.kind == GidKind::kThisNode; });
  return in_doubt ? kExitInDoubt : kExitOk;
}

StatusReport GatherStatus(RecoveryManager& manager) {
  StatusReport report;
  report.listing = manager.ListPrepared(/*with_impact=*/true);
  auto pending = manager.PendingDecisions();
  if (pending.ok()) {
    report.pending = std::move(pending).value();
  } else {
    report.log_errors.push_back(pending.TakeStatus());
  }
  report.node_id = manager.options().node_id;
  auto heuristics = manager.Heuristics();
  if (heuristics.ok()) {
    // Forgotten ones were repaired and acknowledged: `log show` lists them.
    for (HeuristicRecord& h : *heuristics) {
      if (!h.forgotten_at_ms) report.heuristics.push_back(std::move(h));
    }
  } else {
    report.log_errors.push_back(heuristics.TakeStatus());
  }
  for (const HeuristicRecord& h : report.heuristics) {
    if (!report.IsForeign(h)) report.forced.insert(h.gtrid);
  }
  report.now_ms = NowMs();
  return report;
}

}  // namespace twopc::cli
