// The one backoff: how long to wait before retry number n of anything that
// twopc retries -- COMMIT PREPARED in phase 2 (coordinator/commit_protocol.cc),
// RunTransaction's reruns (coordinator/retry.cc), saga steps
// (saga/step_driver.cc), outbox deliveries (saga/outbox_backoff.cc) and
// failed relay rounds (saga/outbox_relay_threads.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace twopc::internal {

struct BackoffPolicy {
  std::chrono::milliseconds initial{0};  // the ceiling of the first retry's pause
  std::chrono::milliseconds max{0};      // no pause is ever longer
  // Full jitter: the pause is uniform in [0, ceiling] rather than the ceiling
  // itself. Wanted wherever many callers fail together (transactions that
  // collided on the same rows, every branch that lost the same server): with
  // a fixed schedule they would come back in lock step and collide again.
  bool full_jitter = true;
};

// Returns a uniformly distributed value in [0, bound] (bound >= 0). Tests
// pass a fixed one; everything else uses RandomJitter.
using JitterSource = std::function<int64_t(int64_t bound)>;

// A thread-local PRNG seeded from std::random_device. Thread-safe.
int64_t RandomJitter(int64_t bound);

// The pause before retry number `retry` (1 = the first retry; less is taken
// as 1). Ceiling: min(max, initial * 2^(retry-1)), computed without overflow
// for any inputs (negative durations count as zero); the pause is the ceiling,
// or with full jitter jitter(ceiling) clamped into [0, ceiling].
std::chrono::milliseconds Backoff(const BackoffPolicy& policy, int retry,
                                  const JitterSource& jitter = RandomJitter);

}  // namespace twopc::internal
