#include "saga/step_runner.h"

#include <fmt/format.h>

namespace twopc::internal {
namespace {

StepAttempt Failed(Status s) {
  StepAttempt a;
  a.failure = ClassifyStepFailure(s);
  a.status = std::move(s);
  return a;
}

StepAttempt Succeeded(StepAttempt::Outcome outcome) {
  StepAttempt a;
  a.outcome = outcome;
  return a;
}

}  // namespace

StepAttempt StepRunner::Apply(const std::string& saga_id, int index, const SagaStep& step) {
  if (Status s = tables_.Ensure(step.participant, deadline_); !s.ok()) return Failed(std::move(s));
  TransactionOptions options;
  options.deadline = deadline_;
  Transaction tx = coordinator_.Begin(options);
  bool inserted = false;
  Status s = InsertKey(tx, step.participant, saga_id, index, kSagaDirectionForward, &inserted);
  if (!s.ok()) return Failed(std::move(s));
  if (!inserted) {
    // Nothing was written: rolling back or committing is the same, and
    // rolling back cannot fail in doubt.
    tx.Rollback().ok();
    return Succeeded(StepAttempt::Outcome::kAlreadyApplied);
  }
  s = AddStatements(tx, step, step.action, step.require_rows);
  if (!s.ok()) {
    tx.Rollback().ok();
    return Failed(std::move(s));
  }
  return Finish(tx, StepAttempt::Outcome::kApplied);
}

StepAttempt StepRunner::Compensate(const std::string& saga_id, int index, const SagaStep& step) {
  if (Status s = tables_.Ensure(step.participant, deadline_); !s.ok()) return Failed(std::move(s));
  TransactionOptions options;
  options.deadline = deadline_;
  Transaction tx = coordinator_.Begin(options);
  bool inserted = false;
  Status s = InsertKey(tx, step.participant, saga_id, index, kSagaDirectionCompensate, &inserted);
  if (!s.ok()) return Failed(std::move(s));
  if (!inserted) {
    tx.Rollback().ok();
    return Succeeded(StepAttempt::Outcome::kAlreadyApplied);
  }
  bool action_missing = false;
  s = InsertKey(tx, step.participant, saga_id, index, kSagaDirectionForward, &action_missing);
  if (!s.ok()) return Failed(std::move(s));
  if (action_missing) {
    // Commit both keys: the compensation is done (there was nothing to
    // undo), and the action is fenced off for good.
    return Finish(tx, StepAttempt::Outcome::kNothingToUndo);
  }
  s = AddStatements(tx, step, step.compensation, /*require_rows=*/false);
  if (!s.ok()) {
    tx.Rollback().ok();
    return Failed(std::move(s));
  }
  return Finish(tx, StepAttempt::Outcome::kApplied);
}

Status StepRunner::InsertKey(Transaction& tx, const std::string& participant,
                             const std::string& saga_id, int index, const char* direction,
                             bool* inserted) {
  auto r = tx.Execute(participant,
                      IsMariaDbParticipant(coordinator_, participant) ? kInsertSagaKeyMariaDb
                                                                      : kInsertSagaKey,
                      {saga_id, index, direction});
  if (!r.ok()) return r.TakeStatus();
  *inserted = r->affected() > 0;
  return Status::OK();
}

Status StepRunner::AddStatements(Transaction& tx, const SagaStep& step,
                                 const std::vector<SagaStatement>& statements, bool require_rows) {
  for (size_t i = 0; i < statements.size(); ++i) {
    const SagaStatement& st = statements[i];
    if (!require_rows) {
      // Queued statements go out with the COMMIT: one round trip for the
      // whole step. Their errors come back from Commit() with SQLSTATE.
      if (Status s = tx.Queue(step.participant, st.sql, st.params); !s.ok()) return s;
      continue;
    }
    auto r = tx.Execute(step.participant, st.sql, st.params);
    if (!r.ok()) return r.TakeStatus();
    if (r->affected() == 0) {
      // A business refusal although the server reported success: Aborted
      // without SQLSTATE, which ClassifyStepFailure reads as refused.
      return Status::Aborted(fmt::format("statement {} of step '{}' affected no rows "
                                         "(require_rows)",
                                         i + 1, step.name))
          .WithParticipant(step.participant);
    }
  }
  return Status::OK();
}

StepAttempt StepRunner::Finish(Transaction& tx, StepAttempt::Outcome outcome) {
  Status s = tx.Commit();
  if (!s.ok()) return Failed(std::move(s));
  return Succeeded(outcome);
}

}  // namespace twopc::internal
