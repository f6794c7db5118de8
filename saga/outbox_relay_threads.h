// RelayThreads: the background threads that run relay rounds.
#pragma once

#include <chrono>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"
#include "saga/outbox_relay.h"

namespace twopc::internal {

class RelayThreads {
 public:
  RelayThreads(std::chrono::milliseconds idle_poll, std::chrono::milliseconds max_error_backoff,
               LogLimiter& warnings);
  ~RelayThreads();  // Stop()

  // Starts `per_relay` threads for each relay. No-op while running.
  // REQUIRES: the relays outlive Stop().
  void Start(const std::vector<OutboxRelay*>& relays, int per_relay);

  // Lets each thread finish its current round, then joins them. No-op when
  // not running. Must not be called from a relay thread (a handler).
  void Stop();

 private:
  // Rounds back to back while they move events; sleeps idle_poll when the
  // outbox had nothing to move, and longer after each failed round (a
  // participant that is down should not be hammered).
  void Loop(OutboxRelay* relay);
  // Sleeps `d` unless Stop() is called; false once stopping.
  bool SleepUnlessStopped(std::chrono::milliseconds d) TWOPC_EXCLUDES(mutex_);

  const std::chrono::milliseconds idle_poll_;
  const std::chrono::milliseconds max_error_backoff_;
  LogLimiter& warnings_;
  Mutex start_stop_mutex_;       // serializes Start and Stop
  std::vector<std::thread> threads_ TWOPC_GUARDED_BY(start_stop_mutex_);
  Mutex mutex_;
  CondVar wake_;
  bool stopping_ TWOPC_GUARDED_BY(mutex_) = false;
};

}  // namespace twopc::internal
