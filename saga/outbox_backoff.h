// EventBackoff: which outbox events of one participant a relay should leave
// alone for now because their last delivery failed.
//
// Without it a poison event (a handler that always fails, an event nobody
// handles) would be retried every idle_poll, burning a transaction on the
// target each time, and a batch full of them would starve the events behind.
// The state is in memory only: a restarted process simply retries at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <vector>

#include "common/thread_annotations.h"

namespace twopc::internal {

// Thread-safe: shared by the relays of one participant.
class EventBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  EventBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max);

  // Ids whose retry time has not come yet; a relay excludes them from its
  // batch.
  std::vector<int64_t> Waiting(Clock::time_point now);

  // Delivery of `id` failed: wait initial * 2^(failures-1), capped at max
  // (common/backoff.h, without jitter).
  void Failed(int64_t id, Clock::time_point now);

  // `id` left the outbox.
  void Forget(int64_t id);

 private:
  struct Entry {
    int failures = 0;
    Clock::time_point not_before;
  };

  // Entries due long ago belong to events that are gone (another process
  // delivered them): a live one would have been retried and re-armed.
  void DropStale(Clock::time_point now) TWOPC_REQUIRES(mutex_);

  const std::chrono::milliseconds initial_;
  const std::chrono::milliseconds max_;
  Mutex mutex_;
  std::map<int64_t, Entry> entries_ TWOPC_GUARDED_BY(mutex_);
};

}  // namespace twopc::internal
