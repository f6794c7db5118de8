// How the saga engine reads a failed step: give up and compensate, or try
// again. The rules are docs/sagas.md "Failure classification".
#pragma once

#include "twopc/status.h"

namespace twopc::internal {

enum class StepFailure {
  // The participant answered "no" (integrity 23xxx, data 22xxx, RAISE P0001,
  // a require_rows statement that matched nothing, or any other definite
  // error): running the same step again would get the same answer.
  kRefused,
  // The participant did not answer in time or asked to be asked again
  // (40001, 40P01, 55P03, lost connection, deadline, open breaker). Nothing
  // of the attempt was committed.
  kTransient,
  // The one-phase COMMIT was in flight when the connection was lost: the
  // step may have been applied. Retrying is safe because the retry finds the
  // step's idempotency key if it was.
  kInDoubt,
};

// REQUIRES: !s.ok()
StepFailure ClassifyStepFailure(const Status& s);

// True for the failures that say nothing about the server being healthy and
// that the participant's circuit breaker counts: the transient ones and the
// in-doubt ones (both mean a lost connection or a server that did not answer
// in time). A refusal is an answer, so it proves the server is up.
bool CountsAgainstBreaker(StepFailure f);

const char* StepFailureName(StepFailure f);

}  // namespace twopc::internal
