#include "saga/circuit_breaker.h"

#include <algorithm>

namespace twopc::internal {

CircuitBreaker::CircuitBreaker(int failure_threshold, std::chrono::milliseconds open_for)
    : failure_threshold_(std::max(failure_threshold, 1)), open_for_(open_for) {}

bool CircuitBreaker::Allow() {
  MutexLock lock(mu_);
  switch (state_) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      if (Clock::now() - opened_at_ < open_for_) return false;
      state_ = BreakerState::kHalfOpen;
      probe_out_ = true;
      return true;
    case BreakerState::kHalfOpen:
      // One probe at a time: if it fails, only one caller paid for it.
      if (probe_out_) return false;
      probe_out_ = true;
      return true;
  }
  return true;
}

void CircuitBreaker::RecordSuccess() {
  MutexLock lock(mu_);
  state_ = BreakerState::kClosed;
  consecutive_failures_ = 0;
  probe_out_ = false;
}

void CircuitBreaker::RecordFailure() {
  MutexLock lock(mu_);
  switch (state_) {
    case BreakerState::kClosed:
      if (++consecutive_failures_ >= failure_threshold_) Open(Clock::now());
      break;
    case BreakerState::kHalfOpen:
      Open(Clock::now());
      break;
    case BreakerState::kOpen:
      // A call let through before the breaker opened; the open period
      // already counts from the failure that opened it.
      break;
  }
}

BreakerState CircuitBreaker::state() const {
  MutexLock lock(mu_);
  if (state_ == BreakerState::kOpen && Clock::now() - opened_at_ >= open_for_) {
    return BreakerState::kHalfOpen;
  }
  return state_;
}

void CircuitBreaker::Open(Clock::time_point now) {
  state_ = BreakerState::kOpen;
  opened_at_ = now;
  probe_out_ = false;
}

CircuitBreaker& CircuitBreakers::For(const std::string& participant) {
  MutexLock lock(mu_);
  auto& slot = breakers_[participant];
  if (slot == nullptr) slot = std::make_unique<CircuitBreaker>(failure_threshold_, open_for_);
  return *slot;
}

BreakerState CircuitBreakers::StateOf(const std::string& participant) const {
  MutexLock lock(mu_);
  auto it = breakers_.find(participant);
  return it == breakers_.end() ? BreakerState::kClosed : it->second->state();
}

}  // namespace twopc::internal
