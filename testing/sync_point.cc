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

// Parsed once: "after_prepare:2" -> {after_prepare, 2}.
const CrashTarget* GetCrashTarget() {
  static const CrashTarget* target = [] () -> const CrashTarget* {
    const char* env = std::getenv("TWOPC_CRASH_AT");
    if (env == nullptr || *env == '\0') return nullptr;
    auto* t = new CrashTarget;
    std::string spec(env);
    auto colon = spec.find(':');
    t->name = spec.substr(0, colon);
    if (colon != std::string::npos) t->index = std::atoi(spec.c_str() + colon + 1);
    return t;
  }();
  return target;
}

std::atomic<bool> g_have_callbacks{false};
std::mutex g_mutex;
std::map<std::string, std::function<void(int)>>& Callbacks() {
  static auto* callbacks = new std::map<std::string, std::function<void(int)>>;
  return *callbacks;
}

}  // namespace

void ReachSyncPoint(const char* name, int index) {
  if (const CrashTarget* t = GetCrashTarget();
      t != nullptr && t->name == name && (t->index == 0 || t->index == index)) {
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
