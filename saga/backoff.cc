#include "saga/backoff.h"

#include <algorithm>
#include <random>

namespace twopc::internal {

std::chrono::milliseconds SagaBackoff(std::chrono::milliseconds initial,
                                      std::chrono::milliseconds max_backoff, int retry) {
  int doublings = std::clamp(retry - 1, 0, 30);
  int64_t cap = std::min<int64_t>(max_backoff.count(), initial.count() << doublings);
  if (cap <= 0) return std::chrono::milliseconds(0);
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> pick(0, cap);
  return std::chrono::milliseconds(pick(rng));
}

}  // namespace twopc::internal
