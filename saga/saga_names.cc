// The names of saga and breaker states, as the saga log stores them and
// `twopc saga status` prints them. The log depends on them: never rename one.
#include "twopc/saga.h"

namespace twopc {

const char* SagaStateName(SagaState s) {
  switch (s) {
    case SagaState::kRunning:
      return "running";
    case SagaState::kCompensating:
      return "compensating";
    case SagaState::kCompleted:
      return "completed";
    case SagaState::kCompensated:
      return "compensated";
    case SagaState::kParked:
      return "parked";
  }
  return "unknown";
}

const char* BreakerStateName(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

}  // namespace twopc
