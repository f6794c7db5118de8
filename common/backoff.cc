#include "common/backoff.h"

#include <algorithm>
#include <random>

namespace twopc::internal {

int64_t RandomJitter(int64_t bound) {
  if (bound <= 0) return 0;
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::uniform_int_distribution<int64_t>(0, bound)(rng);
}

std::chrono::milliseconds Backoff(const BackoffPolicy& policy, int retry,
                                  const JitterSource& jitter) {
  const int64_t max = std::max<int64_t>(policy.max.count(), 0);
  int64_t ceiling = std::min(std::max<int64_t>(policy.initial.count(), 0), max);
  // Doubling stops at the cap, so neither the shift count nor the product
  // can overflow, whatever retry count a long outage reaches.
  for (int i = 1; i < retry && ceiling > 0 && ceiling < max; ++i) {
    ceiling = ceiling > max / 2 ? max : ceiling * 2;
  }
  if (!policy.full_jitter || ceiling == 0) return std::chrono::milliseconds(ceiling);
  int64_t pause = jitter ? jitter(ceiling) : RandomJitter(ceiling);
  return std::chrono::milliseconds(std::clamp<int64_t>(pause, 0, ceiling));
}

}  // namespace twopc::internal
