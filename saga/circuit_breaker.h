// One circuit breaker per participant: when a
// participant keeps failing, sagas stop sending it work for a while instead
// of each one waiting out its own connect timeouts, and find out it is back
// with a single probe.
//
//   closed    --threshold consecutive failures-->  open
//   open      --open_for elapsed, next Allow()-->  half-open (that call is the probe)
//   half-open --probe succeeds-->  closed;  --probe fails-->  open (timer restarts)
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "common/thread_annotations.h"
#include "twopc/saga.h"

namespace twopc::internal {

// Thread-safe.
class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;

  CircuitBreaker(int failure_threshold, std::chrono::milliseconds open_for);

  // Whether a call may go to the participant now. False = fail fast: open,
  // or half-open with its one probe already out. A caller that got true
  // must report the call's outcome with RecordSuccess or RecordFailure.
  bool Allow();
  // The participant answered (a business refusal counts: it is an answer).
  void RecordSuccess();
  // The participant did not answer (lost connection, timeout, in doubt).
  void RecordFailure();

  // kHalfOpen also when open_for has elapsed and no probe was sent yet: the
  // next call would be let through.
  BreakerState state() const;

 private:
  void Open(Clock::time_point now) TWOPC_REQUIRES(mu_);

  const int failure_threshold_;
  const std::chrono::milliseconds open_for_;

  mutable Mutex mu_;
  BreakerState state_ TWOPC_GUARDED_BY(mu_) = BreakerState::kClosed;
  int consecutive_failures_ TWOPC_GUARDED_BY(mu_) = 0;
  Clock::time_point opened_at_ TWOPC_GUARDED_BY(mu_);
  bool probe_out_ TWOPC_GUARDED_BY(mu_) = false;
};

// The breakers of all participants, created on first use. Thread-safe.
class CircuitBreakers {
 public:
  CircuitBreakers(int failure_threshold, std::chrono::milliseconds open_for)
      : failure_threshold_(failure_threshold), open_for_(open_for) {}

  CircuitBreaker& For(const std::string& participant);
  // kClosed for a participant no step has used yet.
  BreakerState StateOf(const std::string& participant) const;

 private:
  const int failure_threshold_;
  const std::chrono::milliseconds open_for_;
  mutable Mutex mu_;
  // Values are never removed, so references handed out stay valid.
  std::map<std::string, std::unique_ptr<CircuitBreaker>> breakers_ TWOPC_GUARDED_BY(mu_);
};

}  // namespace twopc::internal
