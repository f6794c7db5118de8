// Status and Result<T>: the one error model of twopc.
//
// Every fallible call returns a Status (or a Result<T>). The outcomes of the
// protocol -- Aborted, InDoubt -- are ordinary results, not exceptions: a
// caller must look at them, so both types are [[nodiscard]].
//
// A Status that comes from PostgreSQL names the participant it came from and
// carries the server's SQLSTATE, so "which branch failed and why" is never lost.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace twopc {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    // The global transaction did not commit; nothing of it is visible anywhere.
    kAborted,
    // The outcome is unknown to this process (e.g. a connection was lost while
    // a one-phase COMMIT was in flight). Never retry blindly: find out.
    kInDoubt,
    // A participant or the log cannot be reached right now; try again later.
    kUnavailable,
    // A deadline passed before the operation finished.
    kTimedOut,
    // The caller passed something wrong (config, gid, participant name...).
    kInvalidArgument,
    // The log already holds a different decision for this transaction.
    kConflict,
    kNotFound,
    kCorruption,
    kIOError,
    // Another process holds the resource (e.g. the decision log's lock).
    kBusy,
    // A statement failed on a participant; sqlstate() says why.
    kSqlError,
    kInternal,
    // The transaction was decided COMMIT, but a branch was found rolled back
    // behind the coordinator's back (e.g. a hand ROLLBACK PREPARED): its
    // outcome is mixed (XA's heuristic mixed). Recorded in the decision log,
    // reported by `twopc status` until an operator repairs it and runs
    // `twopc forget`. message() names the branch.
    kHeuristicMixed,
  };

  Status() = default;  // OK

  static Status OK() { return Status(); }
  static Status Aborted(std::string msg) { return Status(Code::kAborted, std::move(msg)); }
  static Status InDoubt(std::string msg) { return Status(Code::kInDoubt, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status TimedOut(std::string msg) { return Status(Code::kTimedOut, std::move(msg)); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status Conflict(std::string msg) { return Status(Code::kConflict, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status SqlError(std::string msg) { return Status(Code::kSqlError, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }
  static Status HeuristicMixed(std::string msg) { return Status(Code::kHeuristicMixed, std::move(msg)); }

  // Builders: attach where a failure came from.
  Status&& WithParticipant(std::string name) && {
    participant_ = std::move(name);
    return std::move(*this);
  }
  Status&& WithSqlState(std::string sqlstate) && {
    sqlstate_ = std::move(sqlstate);
    return std::move(*this);
  }
  Status& WithParticipant(std::string name) & {
    participant_ = std::move(name);
    return *this;
  }
  Status& WithSqlState(std::string sqlstate) & {
    sqlstate_ = std::move(sqlstate);
    return *this;
  }

  bool ok() const { return code_ == Code::kOk; }
  bool IsAborted() const { return code_ == Code::kAborted; }
  bool IsInDoubt() const { return code_ == Code::kInDoubt; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsTimedOut() const { return code_ == Code::kTimedOut; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsSqlError() const { return code_ == Code::kSqlError; }
  bool IsHeuristicMixed() const { return code_ == Code::kHeuristicMixed; }

  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Name of the participant the failure came from; empty if none.
  const std::string& participant() const { return participant_; }
  // PostgreSQL's five-character SQLSTATE; empty if the failure was not a
  // server error (e.g. a lost connection).
  const std::string& sqlstate() const { return sqlstate_; }

  // True for the failures a transaction body may simply be rerun after:
  // serialization failure (40001) and deadlock (40P01).
  bool IsRetryableConflict() const { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }

  // "Aborted: participant payments: SQLSTATE 23514: new row violates ..."
  std::string ToString() const;

  static const char* CodeName(Code code);

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
  std::string participant_;
  std::string sqlstate_;
};

// A value or the Status saying why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  // REQUIRES: !status.ok()
  Result(Status status) : status_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  Status TakeStatus() { return std::move(status_); }

  // REQUIRES: ok()
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace twopc
