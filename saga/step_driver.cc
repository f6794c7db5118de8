#include "saga/step_driver.h"

#include <fmt/format.h>
#include "common/logging.h"

#include <algorithm>
#include <thread>

#include "common/backoff.h"

namespace twopc::internal {

StepRun StepDriver::Forward(const std::string& saga_id, int index, const SagaStep& step) {
  return Drive(saga_id, index, step, /*forward=*/true);
}

StepRun StepDriver::Backward(const std::string& saga_id, int index, const SagaStep& step) {
  return Drive(saga_id, index, step, /*forward=*/false);
}

StepAttempt StepDriver::Attempt(const std::string& saga_id, int index, const SagaStep& step,
                                bool forward) {
  CircuitBreaker& breaker = breakers_.For(step.participant);
  if (!breaker.Allow()) {
    counters_.FastFailure();
    StepAttempt a;
    a.failure = StepFailure::kTransient;
    a.status = Status::Unavailable(fmt::format("circuit breaker of participant {} is open: "
                                               "not sent",
                                               step.participant))
                   .WithParticipant(step.participant);
    return a;
  }
  StepAttempt a =
      forward ? runner_.Apply(saga_id, index, step) : runner_.Compensate(saga_id, index, step);
  if (!a.ok() && CountsAgainstBreaker(a.failure)) {
    breaker.RecordFailure();
  } else {
    breaker.RecordSuccess();
  }
  return a;
}

StepRun StepDriver::Drive(const std::string& saga_id, int index, const SagaStep& step,
                          bool forward) {
  const int max_attempts =
      std::max(1, forward ? options_.max_attempts : options_.max_compensation_attempts);
  StepRun run;
  for (;;) {
    run.last = Attempt(saga_id, index, step, forward);
    ++run.attempts;
    if (run.last.ok()) return run;
    if (run.last.failure == StepFailure::kInDoubt) run.maybe_applied = true;
    if (forward && run.last.failure == StepFailure::kRefused) return run;
    if (run.attempts >= max_attempts) return run;
    ++run.retries;
    counters_.Retried();
    // Full jitter: sagas that collided on the same rows, or that all lost
    // the same participant, would otherwise retry in lock step.
    auto pause = Backoff({options_.initial_backoff, options_.max_backoff}, run.retries);
    twopc::internal::LogWith(
        LogLevel::kDebug,
        {.event = "saga_step_retry",
         .participant = step.participant,
         .sqlstate = run.last.status.sqlstate()},
        "twopc: saga {} step {} ({}) {} attempt {} failed ({}: {}); retrying in {} ms", saga_id,
        index + 1, step.name, forward ? "action" : "compensation", run.attempts,
        StepFailureName(run.last.failure), run.last.status.ToString(), pause.count());
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace twopc::internal
