#include "saga/outbox_relay_threads.h"

#include "common/backoff.h"
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
  // Failed rounds in a row. The pause after the n-th is idle_poll * 2^(n-1),
  // at least 1 ms so that idle_poll = 0 still backs off, without jitter: one
  // thread per relay, nothing to spread out.
  const BackoffPolicy error_backoff{std::max(idle_poll_, std::chrono::milliseconds(1)),
                                    max_error_backoff_, /*full_jitter=*/false};
  int failed_rounds = 0;
  for (;;) {
    Result<int> moved = relay->RunRound();
    std::chrono::milliseconds pause{0};
    if (!moved.ok()) {
      uint64_t suppressed = 0;
      if (warnings_.ShouldLog("round " + relay->participant(), &suppressed)) {
        twopc::internal::LogWith(
            LogLevel::kWarn,
            {.event = "outbox_round_failed",
             .participant = relay->participant(),
             .sqlstate = moved.status().sqlstate()},
            "twopc outbox: relay round on {} failed: {} ({} more since the last warning)",
            relay->participant(), moved.status().ToString(), suppressed);
      }
      failed_rounds = std::min(failed_rounds + 1, 64);
      pause = Backoff(error_backoff, failed_rounds);
    } else {
      failed_rounds = 0;
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
