// Waiting on the caller's thread for the answer of an asynchronous call.
//
// Why not a std::promise on the waiting frame: the callback may run on
// another thread (an I/O thread, a log's writer thread), and it may still be
// inside set_value() -- or be called late, after a waiter with a deadline
// gave up -- when the waiting frame has already returned and destroyed the
// promise. Here the state is shared: every callback holds it, so a late or
// still-running callback only ever touches memory that is alive.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "common/thread_annotations.h"

namespace twopc::internal {

// One answer of type T. Thread-safe; REQUIRES: Wait/WaitUntil on one thread.
template <class T>
class Answer {
 public:
  Answer() : state_(std::make_shared<State>()) {}

  // The callback to hand to the asynchronous call (copyable, so it fits a
  // std::function). It may be called on any thread, before or after Wait,
  // and even after this Answer is gone; only its first call counts.
  auto Callback() const {
    return [state = state_](T value) { state->Set(std::move(value)); };
  }

  // Blocks until the callback ran; returns what it was given.
  T Wait() {
    State& s = *state_;
    MutexLock lock(s.mu);
    while (!s.value.has_value()) s.ready.Wait(s.mu);
    return std::move(*s.value);
  }

  // As Wait, but gives up at `deadline` (nullopt). A callback that comes
  // later is harmless.
  template <class Clock, class Duration>
  std::optional<T> WaitUntil(std::chrono::time_point<Clock, Duration> deadline) {
    State& s = *state_;
    MutexLock lock(s.mu);
    while (!s.value.has_value()) {
      if (!s.ready.WaitUntil(s.mu, deadline) && !s.value.has_value()) return std::nullopt;
    }
    return std::move(*s.value);
  }

 private:
  struct State {
    void Set(T v) {
      {
        MutexLock lock(mu);
        if (value.has_value()) return;
        value.emplace(std::move(v));
      }
      // Outside the lock, and safe: this callback's own reference keeps the
      // state alive even if the waiter woke, returned and dropped its own.
      ready.SignalAll();
    }

    // The value first: the helper's own tests expect a use-after-free of a
    // dangling state to show up here, not inside the mutex.
    std::optional<T> value TWOPC_GUARDED_BY(mu);
    Mutex mu;
    CondVar ready;
  };

  std::shared_ptr<State> state_;
};

// Starts an asynchronous call and waits for its answer:
//   Status s = AwaitCallback<Status>([&](auto done) { p.Commit(gid, std::move(done)); });
// `start` receives the callback (Answer<T>::Callback) and must arrange for
// it to be called exactly once.
template <class T, class Start>
T AwaitCallback(Start&& start) {
  Answer<T> answer;
  std::forward<Start>(start)(answer.Callback());
  return answer.Wait();
}

}  // namespace twopc::internal
