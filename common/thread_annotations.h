// Clang's thread-safety analysis (-Wthread-safety): which mutex guards which
// member, checked by the compiler. The macros expand to nothing on other
// compilers. libstdc++'s std::mutex carries no annotations, so guarded state
// uses the Mutex / MutexLock / CondVar below instead. Internal.
//
//   Mutex mutex_;
//   int pins_ TWOPC_GUARDED_BY(mutex_) = 0;
//   void Drain() TWOPC_REQUIRES(mutex_);
//   ...
//   MutexLock lock(mutex_);
//   while (pins_ > 0) unpinned_.Wait(mutex_);
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define TWOPC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TWOPC_THREAD_ANNOTATION(x)
#endif

#define TWOPC_CAPABILITY(x) TWOPC_THREAD_ANNOTATION(capability(x))
#define TWOPC_SCOPED_CAPABILITY TWOPC_THREAD_ANNOTATION(scoped_lockable)
#define TWOPC_GUARDED_BY(x) TWOPC_THREAD_ANNOTATION(guarded_by(x))
#define TWOPC_PT_GUARDED_BY(x) TWOPC_THREAD_ANNOTATION(pt_guarded_by(x))
#define TWOPC_REQUIRES(...) TWOPC_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define TWOPC_EXCLUDES(...) TWOPC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define TWOPC_ACQUIRE(...) TWOPC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define TWOPC_RELEASE(...) TWOPC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TWOPC_ASSERT_CAPABILITY(x) TWOPC_THREAD_ANNOTATION(assert_capability(x))
#define TWOPC_RETURN_CAPABILITY(x) TWOPC_THREAD_ANNOTATION(lock_returned(x))
#define TWOPC_NO_THREAD_SAFETY_ANALYSIS TWOPC_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace twopc::internal {

// std::mutex with the analysis's annotations.
class TWOPC_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() TWOPC_ACQUIRE() { mutex_.lock(); }
  void Unlock() TWOPC_RELEASE() { mutex_.unlock(); }
  // BasicLockable, for templates that lock it themselves (spdlog's base_sink).
  void lock() TWOPC_ACQUIRE() { mutex_.lock(); }
  void unlock() TWOPC_RELEASE() { mutex_.unlock(); }
  // Tells the analysis the caller holds it (where it cannot see so itself).
  void AssertHeld() const TWOPC_ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mutex_;
};

// Holds a Mutex for a scope.
class TWOPC_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) TWOPC_ACQUIRE(mutex) : mutex_(mutex) { mutex_.Lock(); }
  ~MutexLock() TWOPC_RELEASE() { mutex_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mutex_;
};

// A condition variable used with a Mutex the caller holds. Waits may wake
// spuriously: callers loop on their condition (which the analysis checks,
// unlike a predicate lambda handed to std::condition_variable).
class CondVar {
 public:
  void Wait(Mutex& mutex) TWOPC_REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // False once `deadline` has passed.
  template <class Clock, class Duration>
  bool WaitUntil(Mutex& mutex, std::chrono::time_point<Clock, Duration> deadline)
      TWOPC_REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
    bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace twopc::internal
