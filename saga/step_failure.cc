#include "saga/step_failure.h"

#include <string>

namespace twopc::internal {
namespace {

// SQLSTATEs after which the same statement may well succeed: serialization
// failure, deadlock, lock timeout, and the server going away or not taking
// connections yet (class 08, admin shutdown, crash shutdown, starting up,
// too many connections).
bool IsTransientSqlState(const std::string& state) {
  if (state == "40001" || state == "40P01" || state == "55P03") return true;
  if (state.rfind("08", 0) == 0) return true;
  return state == "57P01" || state == "57P02" || state == "57P03" || state == "53300";
}

}  // namespace

StepFailure ClassifyStepFailure(const Status& s) {
  if (s.IsInDoubt()) return StepFailure::kInDoubt;
  // Unavailable and TimedOut come before the SQLSTATE: a lost connection may
  // carry the server's last SQLSTATE (e.g. 57P01), but it is the loss that
  // matters.
  if (s.IsUnavailable() || s.IsTimedOut()) return StepFailure::kTransient;
  if (IsTransientSqlState(s.sqlstate())) return StepFailure::kTransient;
  // Class 23 (check, unique, foreign key), class 22 (data), P0001 (RAISE)
  // and everything else: a definite answer.
  return StepFailure::kRefused;
}

bool CountsAgainstBreaker(StepFailure f) { return f != StepFailure::kRefused; }

const char* StepFailureName(StepFailure f) {
  switch (f) {
    case StepFailure::kRefused:
      return "refused";
    case StepFailure::kTransient:
      return "transient";
    case StepFailure::kInDoubt:
      return "in doubt";
  }
  return "unknown";
}

}  // namespace twopc::internal
