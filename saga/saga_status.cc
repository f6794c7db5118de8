#include "saga/saga_status.h"

namespace twopc::internal {
namespace {

Status SameCode(Status::Code code, std::string message) {
  switch (code) {
    case Status::Code::kOk:
    case Status::Code::kInternal:
      return Status::Internal(std::move(message));
    case Status::Code::kAborted:
      return Status::Aborted(std::move(message));
    case Status::Code::kInDoubt:
      return Status::InDoubt(std::move(message));
    case Status::Code::kUnavailable:
      return Status::Unavailable(std::move(message));
    case Status::Code::kTimedOut:
      return Status::TimedOut(std::move(message));
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    case Status::Code::kConflict:
      return Status::Conflict(std::move(message));
    case Status::Code::kNotFound:
      return Status::NotFound(std::move(message));
    case Status::Code::kCorruption:
      return Status::Corruption(std::move(message));
    case Status::Code::kIOError:
      return Status::IOError(std::move(message));
    case Status::Code::kBusy:
      return Status::Busy(std::move(message));
    case Status::Code::kSqlError:
      return Status::SqlError(std::move(message));
    case Status::Code::kHeuristicMixed:
      return Status::HeuristicMixed(std::move(message));
  }
  return Status::Internal(std::move(message));
}

}  // namespace

Status RewordStatus(const Status& s, std::string message) {
  Status out = SameCode(s.code(), std::move(message));
  if (!s.participant().empty()) out.WithParticipant(s.participant());
  if (!s.sqlstate().empty()) out.WithSqlState(s.sqlstate());
  return out;
}

}  // namespace twopc::internal
