// One attempt of one saga step: the step's action (or its compensation) as a
// single local transaction on the step's participant, run through the
// Coordinator (a one-participant transaction commits in one phase and writes
// no decision record). The same transaction inserts the step's idempotency
// key first, so an attempt repeated after a crash or a lost answer is a
// no-op instead of a second application.
#pragma once

#include <chrono>
#include <string>

#include "saga/applied_table.h"
#include "saga/step_failure.h"
#include "twopc/coordinator.h"
#include "twopc/saga.h"

namespace twopc::internal {

struct StepAttempt {
  enum class Outcome {
    kApplied,         // the statements ran and committed in this attempt
    kAlreadyApplied,  // the key was there: an earlier attempt committed them
    kNothingToUndo,   // compensation only: the action never committed
    kFailed,
  };
  Outcome outcome = Outcome::kFailed;
  Status status;                                // why, when kFailed
  StepFailure failure = StepFailure::kRefused;  // when kFailed

  bool ok() const { return outcome != Outcome::kFailed; }
};

// Thread-safe (stateless beyond its references).
class StepRunner {
 public:
  StepRunner(Coordinator& coordinator, AppliedTables& tables, std::chrono::milliseconds deadline)
      : coordinator_(coordinator), tables_(tables), deadline_(deadline) {}

  // The action of step `index` (0-based) of saga `saga_id`, keyed
  // (saga_id, index, 'forward').
  StepAttempt Apply(const std::string& saga_id, int index, const SagaStep& step);

  // The compensation, keyed (saga_id, index, 'compensate'). It also inserts
  // the action's key: if that insert succeeds, the action never committed
  // (nothing to undo) and now never will -- a late retry of it finds its key
  // taken. If the action's transaction is still in flight on the server, the
  // insert waits for it, so the answer is never a guess.
  StepAttempt Compensate(const std::string& saga_id, int index, const SagaStep& step);

 private:
  // Inserts (saga_id, index, direction); sets *inserted.
  Status InsertKey(Transaction& tx, const std::string& participant, const std::string& saga_id,
                   int index, const char* direction, bool* inserted);
  // Runs or queues `statements`; a zero-row statement fails when `require_rows`.
  Status AddStatements(Transaction& tx, const SagaStep& step,
                       const std::vector<SagaStatement>& statements, bool require_rows);
  StepAttempt Finish(Transaction& tx, StepAttempt::Outcome outcome);

  Coordinator& coordinator_;
  AppliedTables& tables_;
  const std::chrono::milliseconds deadline_;
};

}  // namespace twopc::internal
