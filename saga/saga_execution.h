// One saga run to its end, from wherever its log says it stands: forward
// from next_step, then -- if a step fails for good -- backward through the
// compensations of the steps that may have been applied. Every step's
// completion and every state change is in the saga log before the next step
// starts, so a crash at any point leaves a log that Resume continues from.
#pragma once

#include <string>
#include <string_view>

#include "saga/saga_counters.h"
#include "saga/saga_log.h"
#include "saga/step_driver.h"
#include "twopc/saga.h"

namespace twopc::internal {

// Between a parked saga's own error and the cause it was compensating for, in
// its last_error. Handing the saga back (parked_saga.h) cuts there, so that
// the undo goes on with the original cause instead of nesting one park
// message inside the next.
inline constexpr std::string_view kCompensatingBecause = "; the saga was compensating because: ";

class SagaExecution {
 public:
  // REQUIRES: the saga's row is in `log`, and no other thread runs saga_id.
  SagaExecution(SagaLog& log, StepDriver& driver, SagaCounters& counters, std::string saga_id,
                const Saga& saga);

  // Runs steps next_step.. forward; compensates when one fails for good.
  SagaResult Forward(int next_step);
  // Compensates steps next_step, next_step-1, ..., 0 (backward). `cause` is
  // why the saga is being compensated.
  SagaResult Backward(int next_step, Status cause);

 private:
  // A step failed for good: record the turn, then compensate.
  SagaResult TurnBack(int failed_step, const StepRun& run);
  // The lowest step at or below `from` whose compensation has statements;
  // -1 if none. Steps without a compensation need no transaction.
  int LowestToCompensate(int from) const;
  SagaResult Finish(SagaState state, Status cause);
  // The log could not be written: stop here, as parked in this process's
  // eyes. The log still says where the saga stands, so the next Open
  // resumes it from there.
  SagaResult LogFailed(const Status& s);
  std::string StepLabel(int index) const;

  SagaLog& log_;
  StepDriver& driver_;
  SagaCounters& counters_;
  SagaResult result_;
  const Saga& saga_;
};

}  // namespace twopc::internal
