// Exponential backoff with full jitter, for retried saga steps.
#pragma once

#include <chrono>

namespace twopc::internal {

// The pause before retry number `retry` (1 = the first retry): uniform in
// [0, min(max_backoff, initial * 2^(retry-1))]. Full jitter rather than a
// fixed schedule: sagas that collided on the same rows (or that all lost the
// same participant) would otherwise come back in lock step and collide again.
// Thread-safe.
std::chrono::milliseconds SagaBackoff(std::chrono::milliseconds initial,
                                      std::chrono::milliseconds max_backoff, int retry);

}  // namespace twopc::internal
