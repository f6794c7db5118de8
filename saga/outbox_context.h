// OutboxContext: what the bus and its relays share.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>

#include "saga/outbox_handlers.h"
#include "saga/outbox_log_limiter.h"
#include "twopc/coordinator.h"
#include "twopc/outbox.h"

namespace twopc::internal {

// The counters behind OutboxBus::stats(); relaxed atomics, since they are
// statistics and order nothing.
struct OutboxCounters {
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> handler_errors{0};
  std::atomic<uint64_t> delivery_errors{0};
  std::atomic<uint64_t> unhandled{0};

  OutboxStats Snapshot() const {
    constexpr auto kRelaxed = std::memory_order_relaxed;
    return {delivered.load(kRelaxed), duplicates.load(kRelaxed), handler_errors.load(kRelaxed),
            delivery_errors.load(kRelaxed), unhandled.load(kRelaxed)};
  }
};

struct OutboxContext {
  OutboxContext(Coordinator& c, OutboxOptions o, std::set<std::string> p)
      : coordinator(c), options(o), participants(std::move(p)) {}

  Coordinator& coordinator;
  const OutboxOptions options;
  const std::set<std::string> participants;  // every participant of the coordinator
  HandlerRegistry handlers;
  OutboxCounters counters;
  // Recurring relay warnings (no handler, participant down) once a minute.
  LogLimiter warnings{std::chrono::seconds(60)};
};

}  // namespace twopc::internal
