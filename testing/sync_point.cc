#include "testing/sync_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace twopc::internal {
namespace {

struct CrashTarget {
  std::string name;
  int index = 0;
};

// "after_prepare:2" -> {after_prepare, 2}; nullptr when unset.
const CrashTarget* ParseTarget(const char* env_name) {
  const char* env = std::getenv(env_name);
  if (env == nullptr || *env == '\0') return nullptr;
  auto* t = new CrashTarget;
  std::string spec(env);
  auto colon = spec.find(':');
  t->name = spec.substr(0, colon);
  if (colon != std::string::npos) t->index = std::atoi(spec.c_str() + colon + 1);
  return t;
}

// Parsed once each.
const CrashTarget* GetCrashTarget() {
  static const CrashTarget* target = ParseTarget("TWOPC_CRASH_AT");
  return target;
}
// TWOPC_STOP_AT: the process stops itself (SIGSTOP) there, once, and goes on
// when continued: a coordinator frozen mid-protocol, as a long GC pause or a
// stalled VM would leave it (the fencing race tests).
const CrashTarget* GetStopTarget() {
  static const CrashTarget* target = ParseTarget("TWOPC_STOP_AT");
  return target;
}

bool Matches(const CrashTarget* t, const char* name, int index) {
  return t != nullptr && t->name == name && (t->index == 0 || t->index == index);
}

std::atomic<bool> g_have_callbacks{false};
std::mutex g_mutex;
std::map<std::string, std::function<void(int)>>& Callbacks() {
  static auto* callbacks = new std::map<std::string, std::function<void(int)>>;
  return *callbacks;
}

}  // namespace

void ReachSyncPoint(const char* name, int index) {
  static std::atomic<bool> stopped_once{false};
  if (Matches(GetStopTarget(), name, index) && !stopped_once.exchange(true)) {
    static const char kMsg[] = "twopc: TWOPC_STOP_AT reached, stopping myself\n";
    (void)!write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    // raise(), not kill(getpid()): sent to this very thread, so it stops
    // before it returns to the protocol; a process-wide signal may be taken
    // by another thread while this one sends what follows the point.
    raise(SIGSTOP);
  }
  if (Matches(GetCrashTarget(), name, index)) {
    // A real crash: no destructors, no flushing, exactly like kill -9.
    static const char kMsg[] = "twopc: TWOPC_CRASH_AT reached, killing myself\n";
    (void)!write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    kill(getpid(), SIGKILL);
  }
  if (!g_have_callbacks.load(std::memory_order_relaxed)) return;
  std::function<void(int)> callback;
  {
    std::lock_guard lock(g_mutex);
    auto it = Callbacks().find(name);
    if (it == Callbacks().end()) return;
    callback = it->second;
  }
  callback(index);
}

void SetSyncPointCallback(const std::string& name, std::function<void(int)> callback) {
  std::lock_guard lock(g_mutex);
  Callbacks()[name] = std::move(callback);
  g_have_callbacks.store(true);
}

void ClearSyncPointCallbacks() {
  std::lock_guard lock(g_mutex);
  Callbacks().clear();
  g_have_callbacks.store(false);
}

}  // namespace twopc::internal
