#include "twopc/decision_log.h"

#include <future>
#include <memory>
#include <utility>

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
  // Shared, not on this stack: the writer thread may still be inside
  // set_value() when future.get() has already returned here.
  auto answer = std::make_shared<std::promise<Status>>();
  std::future<Status> future = answer->get_future();
  DecideAsync(std::move(record), [answer](Status s) { answer->set_value(std::move(s)); });
  return future.get();
}

}  // namespace twopc
