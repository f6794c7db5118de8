// The orchestrator's counters (SagaStats), bumped from every thread running
// a saga.
#pragma once

#include <atomic>
#include <cstdint>

#include "twopc/saga.h"

namespace twopc::internal {

struct SagaCounters {
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> compensated{0};
  std::atomic<uint64_t> parked{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> compensations{0};
  std::atomic<uint64_t> fast_failures{0};

  static void Bump(std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }

  SagaStats Snapshot() const {
    SagaStats s;
    s.completed = completed.load(std::memory_order_relaxed);
    s.compensated = compensated.load(std::memory_order_relaxed);
    s.parked = parked.load(std::memory_order_relaxed);
    s.retries = retries.load(std::memory_order_relaxed);
    s.compensations = compensations.load(std::memory_order_relaxed);
    s.fast_failures = fast_failures.load(std::memory_order_relaxed);
    return s;
  }
};

}  // namespace twopc::internal
