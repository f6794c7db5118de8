// Drives one saga step to an answer: attempts through the participant's
// circuit breaker, transient failures retried with backoff and full jitter.
//
// Forward (an action): a refusal ends the step at once; transient and
// in-doubt failures are retried up to max_attempts.
// Backward (a compensation): every failure is retried, up to
// max_compensation_attempts -- a compensation is not allowed to give up
// quietly; the caller parks the saga when it still fails.
#pragma once

#include <string>

#include "saga/circuit_breaker.h"
#include "saga/saga_counters.h"
#include "saga/step_runner.h"
#include "twopc/saga.h"

namespace twopc::internal {

struct StepRun {
  StepAttempt last;  // the successful attempt, or the last failure
  int attempts = 0;
  int retries = 0;
  // Forward only: an attempt ended in doubt, so the action may have been
  // applied although the step failed. Its compensation must then run (it
  // finds out through the keys whether there is anything to undo).
  bool maybe_applied = false;
};

// Thread-safe.
class StepDriver {
 public:
  StepDriver(const SagaOptions& options, StepRunner& runner, CircuitBreakers& breakers,
             SagaCounters& counters)
      : options_(options), runner_(runner), breakers_(breakers), counters_(counters) {}

  StepRun Forward(const std::string& saga_id, int index, const SagaStep& step);
  StepRun Backward(const std::string& saga_id, int index, const SagaStep& step);

 private:
  // One attempt through the breaker; a fast failure when it is open.
  StepAttempt Attempt(const std::string& saga_id, int index, const SagaStep& step, bool forward);
  StepRun Drive(const std::string& saga_id, int index, const SagaStep& step, bool forward);

  const SagaOptions& options_;
  StepRunner& runner_;
  CircuitBreakers& breakers_;
  SagaCounters& counters_;
};

}  // namespace twopc::internal
