#include "saga/outbox_relay_threads.h"

#include "common/logging.h"

#include <algorithm>

namespace twopc::internal {

RelayThreads::RelayThreads(std::chrono::milliseconds idle_poll,
                           std::chrono::milliseconds max_error_backoff, LogLimiter& warnings)
    : idle_poll_(idle_poll),
      max_error_backoff_(std::max(max_error_backoff, idle_poll)),
      warnings_(warnings) {}

RelayThreads::~RelayThreads() { Stop(); }

void RelayThreads::Start(const std::vector<OutboxRelay*>& relays, int per_relay) {
  MutexLock start_stop(start_stop_mutex_);
  if (!threads_.empty()) return;
  {
    MutexLock lock(mutex_);
    stopping_ = false;
  }
  for (OutboxRelay* relay : relays) {
    for (int i = 0; i < per_relay; ++i) threads_.emplace_back([this, relay] { Loop(relay); });
  }
}

void RelayThreads::Stop() {
  MutexLock start_stop(start_stop_mutex_);
  if (threads_.empty()) return;
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.SignalAll();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void RelayThreads::Loop(OutboxRelay* relay) {
  std::chrono::milliseconds error_backoff = idle_poll_;
  for (;;) {
    Result<int> moved = relay->RunRound();
    std::chrono::milliseconds pause{0};
    if (!moved.ok()) {
      uint64_t suppressed = 0;
      if (warnings_.ShouldLog("round " + relay->participant(), &suppressed)) {
        twopc::internal::Log().warn("twopc outbox: relay round on {} failed: {} ({} more since the last warning)",
                     relay->participant(), moved.status().ToString(), suppressed);
      }
      pause = error_backoff;
      error_backoff =
          std::min(std::max(error_backoff * 2, std::chrono::milliseconds(1)), max_error_backoff_);
    } else {
      error_backoff = idle_poll_;
      if (moved.value() == 0) pause = idle_poll_;
    }
    if (!SleepUnlessStopped(pause)) return;
  }
}

bool RelayThreads::SleepUnlessStopped(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  MutexLock lock(mutex_);
  while (!stopping_ && wake_.WaitUntil(mutex_, until)) {
  }
  return !stopping_;
}

}  // namespace twopc::internal
