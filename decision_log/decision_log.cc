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

Result<std::optional<DecisionRecord>> DecisionLog::LookupForGid(const std::string& gid) {
  auto gtrid = GtridOfGid(gid);
  if (!gtrid.ok()) return gtrid.TakeStatus();
  return Lookup(*gtrid);
}

// One owner: an incarnation other than the owner's own is gone exactly when
// it is older (the log lock makes the owner the only live one).
Result<bool> DecisionLog::ClaimIfGone(uint64_t incarnation) { return incarnation < this->incarnation(); }

}  // namespace twopc
