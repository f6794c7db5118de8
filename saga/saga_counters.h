// The orchestrator's counters, bumped from every thread running a saga: its
// own (SagaStats, for the application) and the Prometheus ones in the
// coordinator's registry (for the /metrics endpoint). One method per event,
// so that the two can never disagree.
#pragma once

#include <atomic>
#include <cstdint>

#include "metrics/saga_metrics.h"
#include "twopc/saga.h"

namespace twopc::internal {

class SagaCounters {
 public:
  explicit SagaCounters(prometheus::Registry& registry) : metrics_(registry) {}

  // Run recorded a new saga (or may have: its insert ended in doubt).
  void Started() { metrics_.Started(); }
  void Completed() {
    Bump(completed_);
    metrics_.Completed();
  }
  void Compensated() {
    Bump(compensated_);
    metrics_.Compensated();
  }
  void Parked() {
    Bump(parked_);
    metrics_.Parked();
  }
  void Retried() {
    Bump(retries_);
    metrics_.StepRetried();
  }
  void StepCompensated() {
    Bump(compensations_);
    metrics_.StepCompensated();
  }
  void FastFailure() { Bump(fast_failures_); }

  SagaStats Snapshot() const {
    SagaStats s;
    s.completed = completed_.load(std::memory_order_relaxed);
    s.compensated = compensated_.load(std::memory_order_relaxed);
    s.parked = parked_.load(std::memory_order_relaxed);
    s.retries = retries_.load(std::memory_order_relaxed);
    s.compensations = compensations_.load(std::memory_order_relaxed);
    s.fast_failures = fast_failures_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  // Relaxed: each counter is read on its own, never to order other memory.
  static void Bump(std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }

  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> compensated_{0};
  std::atomic<uint64_t> parked_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> compensations_{0};
  std::atomic<uint64_t> fast_failures_{0};
  SagaMetrics metrics_;
};

}  // namespace twopc::internal
