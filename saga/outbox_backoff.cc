#include "saga/outbox_backoff.h"

#include <algorithm>

#include "common/backoff.h"

namespace twopc::internal {
namespace {

// How long after its retry time an entry is considered stale.
constexpr std::chrono::minutes kStaleAfter{5};

}  // namespace

EventBackoff::EventBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(std::max(initial, std::chrono::milliseconds(1))), max_(std::max(max, initial_)) {}

std::vector<int64_t> EventBackoff::Waiting(Clock::time_point now) {
  MutexLock lock(mutex_);
  DropStale(now);
  std::vector<int64_t> ids;
  for (const auto& [id, entry] : entries_) {
    if (entry.not_before > now) ids.push_back(id);
  }
  return ids;
}

void EventBackoff::Failed(int64_t id, Clock::time_point now) {
  MutexLock lock(mutex_);
  Entry& e = entries_[id];
  e.failures = std::min(e.failures + 1, 64);  // past 64 doublings every wait is max_
  // No jitter: one relay thread retries the event, nobody collides with it.
  e.not_before = now + Backoff({initial_, max_, /*full_jitter=*/false}, e.failures);
}

void EventBackoff::Forget(int64_t id) {
  MutexLock lock(mutex_);
  entries_.erase(id);
}

void EventBackoff::DropStale(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& kv) { return kv.second.not_before + kStaleAfter < now; });
}

}  // namespace twopc::internal
