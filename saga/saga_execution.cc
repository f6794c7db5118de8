#include "saga/saga_execution.h"

#include <fmt/format.h>
#include "common/logging.h"

#include "testing/sync_point.h"
#include "saga/saga_status.h"

namespace twopc::internal {

SagaExecution::SagaExecution(SagaLog& log, StepDriver& driver, SagaCounters& counters,
                             std::string saga_id, const Saga& saga)
    : log_(log), driver_(driver), counters_(counters), saga_(saga) {
  result_.saga_id = std::move(saga_id);
}

SagaResult SagaExecution::Forward(int next_step) {
  const int n = static_cast<int>(saga_.steps.size());
  for (int i = next_step; i < n; ++i) {
    StepRun run = driver_.Forward(result_.saga_id, i, saga_.steps[i]);
    result_.retries += run.retries;
    if (!run.last.ok()) return TurnBack(i, run);
    // Crash tests kill the process here: the step is committed on its
    // participant but not yet in the log. Resume must find it applied.
    TWOPC_SYNC_POINT("saga_after_step", i + 1);
    bool last = i + 1 == n;
    Status s =
        log_.Update(result_.saga_id, last ? SagaState::kCompleted : SagaState::kRunning, i + 1, "");
    if (!s.ok()) return LogFailed(s);
  }
  if (n == 0 || next_step >= n) {
    // Nothing ran here (resumed after the last step's record was written,
    // or a saga without steps): the row may still say running.
    Status s = log_.Update(result_.saga_id, SagaState::kCompleted, n, "");
    if (!s.ok()) return LogFailed(s);
  }
  return Finish(SagaState::kCompleted, Status::OK());
}

SagaResult SagaExecution::TurnBack(int failed_step, const StepRun& run) {
  const SagaStep& step = saga_.steps[failed_step];
  Status cause = RewordStatus(run.last.status,
                              fmt::format("{} {} after {} attempt{}: {}", StepLabel(failed_step),
                                          StepFailureName(run.last.failure), run.attempts,
                                          run.attempts == 1 ? "" : "s", run.last.status.message()));
  if (cause.participant().empty()) cause.WithParticipant(step.participant);
  // A step that ended in doubt may be applied: compensate it too (its
  // compensation finds out through the keys whether there is anything to
  // undo). Otherwise the failed step left nothing behind.
  int from = run.maybe_applied ? failed_step : failed_step - 1;
  twopc::internal::LogWith(LogLevel::kDebug,
                           {.event = "saga_compensating",
                            .participant = cause.participant(),
                            .sqlstate = cause.sqlstate()},
                           "twopc: saga {} ({}) compensating: {}", result_.saga_id, saga_.name,
                           cause.ToString());
  Status s = log_.Update(result_.saga_id, SagaState::kCompensating, from, cause.ToString());
  if (!s.ok()) return LogFailed(s);
  return Backward(from, std::move(cause));
}

SagaResult SagaExecution::Backward(int next_step, Status cause) {
  const int lowest = LowestToCompensate(next_step);
  for (int i = next_step; i >= lowest && i >= 0; --i) {
    const SagaStep& step = saga_.steps[i];
    if (step.compensation.empty()) continue;
    StepRun run = driver_.Backward(result_.saga_id, i, step);
    result_.retries += run.retries;
    if (!run.last.ok()) {
      Status parked = RewordStatus(
          run.last.status,
          fmt::format("compensation of {} failed {} times, saga parked for an operator: {}{}{}",
                      StepLabel(i), run.attempts, run.last.status.message(), kCompensatingBecause,
                      cause.ToString()));
      twopc::internal::LogWith(LogLevel::kError,
                               {.event = "saga_parked",
                                .participant = parked.participant(),
                                .sqlstate = parked.sqlstate()},
                               "twopc: saga {} ({}) parked: {}", result_.saga_id, saga_.name,
                               parked.ToString());
      Status s = log_.Update(result_.saga_id, SagaState::kParked, i, parked.ToString());
      if (!s.ok()) return LogFailed(s);
      return Finish(SagaState::kParked, std::move(parked));
    }
    // Counted where the statements ran: a compensation found already
    // applied (by a process that crashed before recording it) was counted
    // there, and one with nothing to undo undid nothing.
    if (run.last.outcome == StepAttempt::Outcome::kApplied) {
      ++result_.compensations;
      counters_.StepCompensated();
    }
    TWOPC_SYNC_POINT("saga_after_compensation", i + 1);
    // The last compensation's record is also the saga's final state: one
    // forced write instead of two.
    bool last = i == lowest;
    Status s =
        log_.Update(result_.saga_id, last ? SagaState::kCompensated : SagaState::kCompensating,
                    i - 1, cause.ToString());
    if (!s.ok()) return LogFailed(s);
  }
  if (lowest < 0) {
    Status s = log_.Update(result_.saga_id, SagaState::kCompensated, -1, cause.ToString());
    if (!s.ok()) return LogFailed(s);
  }
  return Finish(SagaState::kCompensated, std::move(cause));
}

int SagaExecution::LowestToCompensate(int from) const {
  for (int i = 0; i <= from && i < static_cast<int>(saga_.steps.size()); ++i) {
    if (!saga_.steps[i].compensation.empty()) return i;
  }
  return -1;
}

SagaResult SagaExecution::Finish(SagaState state, Status cause) {
  result_.state = state;
  result_.cause = std::move(cause);
  switch (state) {
    case SagaState::kCompleted:
      counters_.Completed();
      break;
    case SagaState::kCompensated:
      counters_.Compensated();
      break;
    case SagaState::kParked:
      counters_.Parked();
      break;
    case SagaState::kRunning:
    case SagaState::kCompensating:
      break;
  }
  return result_;
}

SagaResult SagaExecution::LogFailed(const Status& s) {
  twopc::internal::LogWith(LogLevel::kError, {.event = "saga_log_failed"},
                           "twopc: saga {} ({}) stopped: its progress cannot be recorded: {}",
                           result_.saga_id, saga_.name, s.ToString());
  return Finish(SagaState::kParked,
                RewordStatus(s,
                             "the saga log cannot record this saga's progress, so it stopped "
                             "here; reopening the orchestrator resumes it from its last "
                             "record: " +
                                 s.message()));
}

std::string SagaExecution::StepLabel(int index) const {
  const SagaStep& step = saga_.steps[index];
  return fmt::format("step {} ({}) on {}", index + 1, step.name, step.participant);
}

}  // namespace twopc::internal
