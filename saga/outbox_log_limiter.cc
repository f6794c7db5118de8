#include "saga/outbox_log_limiter.h"

namespace twopc::internal {

bool LogLimiter::ShouldLog(const std::string& key, uint64_t* suppressed) {
  const Clock::time_point now = Clock::now();
  MutexLock lock(mutex_);
  auto [it, first] = entries_.try_emplace(key);
  Entry& e = it->second;
  if (!first && now - e.last < every_) {
    ++e.suppressed;
    return false;
  }
  *suppressed = e.suppressed;
  e.suppressed = 0;
  e.last = now;
  return true;
}

}  // namespace twopc::internal
