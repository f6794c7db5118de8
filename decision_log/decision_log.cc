#include "twopc/decision_log.h"

#include <utility>

#include "common/wait.h"
#include "twopc/gid.h"

namespace twopc {

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kCommit:
      return "commit";
    case Decision::kAbort:
      return "abort";
  }
  return "unknown";
}

Status DecisionLog::Decide(DecisionRecord record) {
  // The writer thread may still be inside the callback when this returns:
  // AwaitCallback's state is shared with it, not on this stack.
  return internal::AwaitCallback<Status>(
      [&](auto done) { DecideAsync(std::move(record), std::move(done)); });
}

std::vector<Status> DecisionLog::DecideMany(std::vector<DecisionRecord> records) {
  // All in flight before the first wait: the writer forces whatever queued
  // up meanwhile with one fsync (docs/protocol.md, "Recovery of a backlog").
  std::vector<internal::Answer<Status>> answers(records.size());
  for (size_t i = 0; i < records.size(); ++i) DecideAsync(std::move(records[i]), answers[i].Callback());
  std::vector<Status> statuses;
  statuses.reserve(answers.size());
  for (auto& a : answers) statuses.push_back(a.Wait());
  return statuses;
}

Result<std::optional<DecisionRecord>> DecisionLog::LookupForGid(const std::string& gid) {
  auto gtrid = GtridOfGid(gid);
  if (!gtrid.ok()) return gtrid.TakeStatus();
  return Lookup(*gtrid);
}

std::vector<Result<std::optional<DecisionRecord>>> DecisionLog::LookupManyForGids(
    const std::vector<std::string>& gids) {
  std::vector<Result<std::optional<DecisionRecord>>> out;
  out.reserve(gids.size());
  for (const std::string& gid : gids) out.push_back(LookupForGid(gid));
  return out;
}

// One owner: an incarnation other than the owner's own is gone exactly when
// it is older (the log lock makes the owner the only live one).
Result<bool> DecisionLog::ClaimIfGone(uint64_t incarnation) { return incarnation < this->incarnation(); }

}  // namespace twopc
