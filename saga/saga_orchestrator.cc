// SagaOrchestrator: the public face of the saga engine. It owns the saga log
// and the per-participant state (idempotency tables, circuit breakers), starts
// sagas, resumes the ones a crash left unfinished, and keeps two sagas from
// ever being driven by two threads at once.
#include <fmt/format.h>
#include "common/logging.h"

#include <algorithm>
#include <set>

#include "common/thread_annotations.h"
#include "saga/applied_table.h"
#include "saga/circuit_breaker.h"
#include "saga/parked_saga.h"
#include "saga/saga_counters.h"
#include "saga/saga_execution.h"
#include "saga/saga_ids.h"
#include "saga/saga_json.h"
#include "saga/saga_log.h"
#include "saga/step_driver.h"
#include "saga/step_runner.h"
#include "twopc/saga.h"

namespace twopc {

using internal::SagaLog;
using internal::StoredSaga;

class SagaOrchestratorImpl {
 public:
  SagaOrchestratorImpl(Coordinator& coordinator, SagaOptions options, std::unique_ptr<SagaLog> log)
      : coordinator_(coordinator),
        options_(std::move(options)),
        log_(std::move(log)),
        tables_(coordinator),
        runner_(coordinator, tables_, options_.step_deadline),
        breakers_(options_.breaker_failure_threshold, options_.breaker_open_for),
        counters_(*coordinator.metrics()),
        driver_(options_, runner_, breakers_, counters_) {}

  SagaResult Run(const Saga& saga);
  std::vector<SagaResult> ResumeUnfinished();
  Result<SagaResult> RetryParked(const std::string& saga_id);
  Result<std::vector<SagaRecord>> Unfinished() { return log_->Unfinished(); }
  BreakerState breaker(const std::string& participant) const {
    return breakers_.StateOf(participant);
  }
  SagaStats stats() const { return counters_.Snapshot(); }

 private:
  Status Validate(const Saga& saga) const;
  // A saga that never started: nothing was applied, so nothing is undone.
  static SagaResult NotStarted(std::string saga_id, Status cause);
  Status Record(const std::string& saga_id, const Saga& saga, const std::string& definition);
  SagaResult Resume(const StoredSaga& row);
  SagaResult Park(const StoredSaga& row, const Status& why);

  // The sagas a thread of this process is driving. Resume skips them, so a
  // saga that Run is in the middle of is never driven twice.
  bool Claim(const std::string& saga_id);
  void Release(const std::string& saga_id);

  Coordinator& coordinator_;
  const SagaOptions options_;
  std::unique_ptr<SagaLog> log_;
  internal::AppliedTables tables_;
  internal::StepRunner runner_;
  internal::CircuitBreakers breakers_;
  internal::SagaCounters counters_;
  internal::StepDriver driver_;
  internal::SagaIdGenerator ids_;
  internal::Mutex active_mu_;
  std::set<std::string> active_ TWOPC_GUARDED_BY(active_mu_);
};

SagaResult SagaOrchestratorImpl::Run(const Saga& saga) {
  std::string id = ids_.Next();
  if (Status s = Validate(saga); !s.ok()) return NotStarted(id, std::move(s));
  auto definition = internal::SagaToJson(saga);
  if (!definition.ok()) return NotStarted(id, definition.TakeStatus());
  // Claimed before the row exists: a concurrent ResumeUnfinished that sees
  // the new row must leave it to this thread.
  Claim(id);
  Status s = Record(id, saga, *definition);
  // Started once its row exists (or may exist), so that started minus the
  // three outcomes is what is still running or waits for a resume; a
  // resumed saga was counted by the Run that recorded it.
  if (s.ok() || s.IsInDoubt()) counters_.Started();
  SagaResult result;
  if (!s.ok()) {
    result = NotStarted(id, std::move(s));
    if (result.cause.IsInDoubt()) {
      // The row may surface when the log is reopened, and the saga would
      // then run: not "not started", but waiting for that.
      result.state = SagaState::kParked;
      counters_.Parked();
    }
  } else {
    result = internal::SagaExecution(*log_, driver_, counters_, id, saga).Forward(0);
  }
  Release(id);
  return result;
}

Status SagaOrchestratorImpl::Validate(const Saga& saga) const {
  const auto& participants = coordinator_.options().participants;
  for (size_t i = 0; i < saga.steps.size(); ++i) {
    const SagaStep& step = saga.steps[i];
    bool known =
        std::any_of(participants.begin(), participants.end(),
                    [&](const ParticipantOptions& p) { return p.name == step.participant; });
    if (!known) {
      return Status::InvalidArgument(
          fmt::format("saga '{}' step {} ({}): no participant named '{}'", saga.name, i + 1,
                      step.name, step.participant));
    }
  }
  return Status::OK();
}

SagaResult SagaOrchestratorImpl::NotStarted(std::string saga_id, Status cause) {
  SagaResult r;
  r.saga_id = std::move(saga_id);
  r.state = SagaState::kCompensated;
  r.cause = std::move(cause);
  return r;
}

Status SagaOrchestratorImpl::Record(const std::string& saga_id, const Saga& saga,
                                    const std::string& definition) {
  SagaRecord record;
  record.saga_id = saga_id;
  record.name = saga.name;
  record.state = SagaState::kRunning;
  record.steps = static_cast<int>(saga.steps.size());
  record.next_step = 0;
  record.started_at_ms = record.updated_at_ms = internal::SagaNowMs();
  return log_->Insert(record, definition);
}

std::vector<SagaResult> SagaOrchestratorImpl::ResumeUnfinished() {
  std::vector<SagaResult> results;
  auto listed = log_->Unfinished();
  if (!listed.ok()) {
    twopc::internal::LogWith(LogLevel::kError, {.event = "saga_log_unreadable"},
                             "twopc: cannot read unfinished sagas: {}", listed.status().ToString());
    return results;
  }
  for (const SagaRecord& record : *listed) {
    // Parked sagas wait for an operator.
    if (record.state == SagaState::kParked) continue;
    const std::string& id = record.saga_id;
    if (!Claim(id)) continue;
    // Read again now that it is ours: the listing may be older than a Run
    // that finished this saga in the meantime.
    auto row = log_->Load(id);
    if (!row.ok()) {
      twopc::internal::LogWith(LogLevel::kError, {.event = "saga_log_unreadable"},
                               "twopc: cannot read saga {}: {}", id, row.status().ToString());
    } else if (row->has_value() && ((*row)->record.state == SagaState::kRunning ||
                                    (*row)->record.state == SagaState::kCompensating)) {
      results.push_back(Resume(**row));
    }
    Release(id);
  }
  return results;
}

Result<SagaResult> SagaOrchestratorImpl::RetryParked(const std::string& saga_id) {
  if (!Claim(saga_id)) {
    return Status::Busy(fmt::format("saga '{}' is being driven by another thread", saga_id));
  }
  auto row = internal::HandBackParked(*log_, saga_id);
  Result<SagaResult> result = row.ok() ? Result<SagaResult>(Resume(*row)) : row.TakeStatus();
  Release(saga_id);
  return result;
}

SagaResult SagaOrchestratorImpl::Resume(const StoredSaga& row) {
  const SagaRecord& r = row.record;
  auto saga = internal::SagaFromJson(row.definition);
  if (!saga.ok()) return Park(row, saga.status());
  const int n = static_cast<int>(saga->steps.size());
  bool running = r.state == SagaState::kRunning;
  if (n != r.steps || (running && (r.next_step < 0 || r.next_step > n)) ||
      (!running && (r.next_step < -1 || r.next_step >= n))) {
    return Park(row, Status::Corruption(fmt::format(
                         "saga log row says {} at step {} of {}, its definition has {} steps",
                         SagaStateName(r.state), r.next_step, r.steps, n)));
  }
  twopc::internal::LogWith(LogLevel::kInfo, {.event = "saga_resuming"},
                           "twopc: resuming saga {} ({}): {} at step {} of {}", r.saga_id, r.name,
                           SagaStateName(r.state), r.next_step + 1, n);
  internal::SagaExecution execution(*log_, driver_, counters_, r.saga_id, *saga);
  if (running) return execution.Forward(r.next_step);
  return execution.Backward(r.next_step, Status::Aborted(r.last_error));
}

SagaResult SagaOrchestratorImpl::Park(const StoredSaga& row, const Status& why) {
  const SagaRecord& r = row.record;
  std::string error = "cannot resume: " + why.ToString() +
                      (r.last_error.empty() ? "" : "; earlier: " + r.last_error);
  twopc::internal::LogWith(
      LogLevel::kError,
      {.event = "saga_parked", .participant = why.participant(), .sqlstate = why.sqlstate()},
      "twopc: saga {} ({}) parked: {}", r.saga_id, r.name, error);
  Status s = log_->Update(r.saga_id, SagaState::kParked, r.next_step, error);
  if (!s.ok()) {
    twopc::internal::LogWith(LogLevel::kError, {.event = "saga_park_failed"},
                             "twopc: cannot park saga {}: {}", r.saga_id, s.ToString());
  }
  counters_.Parked();
  SagaResult result;
  result.saga_id = r.saga_id;
  result.state = SagaState::kParked;
  result.cause = why;
  return result;
}

bool SagaOrchestratorImpl::Claim(const std::string& saga_id) {
  internal::MutexLock lock(active_mu_);
  return active_.insert(saga_id).second;
}

void SagaOrchestratorImpl::Release(const std::string& saga_id) {
  internal::MutexLock lock(active_mu_);
  active_.erase(saga_id);
}

Result<std::unique_ptr<SagaOrchestrator>> SagaOrchestrator::Open(Coordinator& coordinator,
                                                                 SagaOptions options) {
  auto log = SagaLog::Open(options.log_path);
  if (!log.ok()) return log.TakeStatus();
  auto impl = std::make_unique<SagaOrchestratorImpl>(coordinator, std::move(options),
                                                     std::move(log).value());
  std::vector<SagaResult> resumed = impl->ResumeUnfinished();
  for (const SagaResult& r : resumed) {
    twopc::internal::LogWith(LogLevel::kInfo,
                             {.event = "saga_resumed",
                              .participant = r.cause.participant(),
                              .sqlstate = r.cause.sqlstate()},
                             "twopc: resumed saga {}: {}{}", r.saga_id, SagaStateName(r.state),
                             r.cause.ok() ? "" : " (" + r.cause.ToString() + ")");
  }
  return std::unique_ptr<SagaOrchestrator>(new SagaOrchestrator(std::move(impl)));
}

SagaOrchestrator::SagaOrchestrator(std::unique_ptr<SagaOrchestratorImpl> impl)
    : impl_(std::move(impl)) {}

SagaOrchestrator::~SagaOrchestrator() = default;

SagaResult SagaOrchestrator::Run(Saga saga) { return impl_->Run(saga); }

std::vector<SagaResult> SagaOrchestrator::ResumeUnfinished() { return impl_->ResumeUnfinished(); }

Result<SagaResult> SagaOrchestrator::RetryParked(const std::string& saga_id) {
  return impl_->RetryParked(saga_id);
}

Result<std::vector<SagaRecord>> SagaOrchestrator::Unfinished() { return impl_->Unfinished(); }

BreakerState SagaOrchestrator::breaker(const std::string& participant) const {
  return impl_->breaker(participant);
}

SagaStats SagaOrchestrator::stats() const { return impl_->stats(); }

}  // namespace twopc
