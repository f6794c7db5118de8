#include "twopc/decision_log.h"

#include <utility>

#include "common/wait.h"

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

}  // namespace twopc
