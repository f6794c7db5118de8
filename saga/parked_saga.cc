#include "saga/parked_saga.h"

#include <fmt/format.h>
#include "common/logging.h"

#include <algorithm>

#include "saga/saga_execution.h"

namespace twopc::internal {
namespace {

// What the saga was compensating for, as it was recorded when it turned back.
std::string OriginalCause(const std::string& last_error) {
  size_t at = last_error.find(kCompensatingBecause);
  return at == std::string::npos ? last_error : last_error.substr(at + kCompensatingBecause.size());
}

}  // namespace

Result<StoredSaga> HandBackParked(SagaLog& log, const std::string& saga_id) {
  auto row = log.Load(saga_id);
  if (!row.ok()) return row.TakeStatus();
  if (!row->has_value()) {
    return Status::NotFound(fmt::format("saga log {} has no saga '{}'", log.path(), saga_id));
  }
  StoredSaga saga = std::move(**row);
  SagaRecord& r = saga.record;
  if (r.state != SagaState::kParked) {
    return Status::InvalidArgument(
        fmt::format("saga '{}' ({}) is {}, not parked: only a parked saga is handed back", saga_id,
                    r.name, SagaStateName(r.state)));
  }
  // Recorded before any compensation runs: if this process dies right after,
  // the next Open resumes the undo instead of leaving the saga parked.
  r.state = SagaState::kCompensating;
  r.last_error = OriginalCause(r.last_error);
  // A saga parked because its row could not be resumed at all may have been
  // going forward, its next step one past the last; handed back, it is undone
  // from its last step (steps that never ran are fenced through their keys).
  r.next_step = std::min(r.next_step, r.steps - 1);
  if (Status s = log.Update(saga_id, r.state, r.next_step, r.last_error); !s.ok()) return s;
  r.updated_at_ms = SagaNowMs();
  twopc::internal::LogWith(
      LogLevel::kInfo, {.event = "saga_handed_back"},
      "twopc: saga {} ({}) handed back by an operator: compensating from step {} of {}", saga_id,
      r.name, r.next_step + 1, r.steps);
  return saga;
}

}  // namespace twopc::internal
