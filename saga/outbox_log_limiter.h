// LogLimiter: says whether a recurring warning should be logged now.
//
// A relay meets the same problem (an event nobody handles, a participant
// that is down) on every round; logging each time would bury everything else.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "common/thread_annotations.h"

namespace twopc::internal {

// Thread-safe.
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogLimiter(std::chrono::seconds every) : every_(every) {}

  // True the first time `key` is seen and then at most once per `every`.
  // When true, `*suppressed` is the number of falses for `key` since the
  // last true.
  bool ShouldLog(const std::string& key, uint64_t* suppressed);

 private:
  struct Entry {
    Clock::time_point last;
    uint64_t suppressed = 0;
  };

  const std::chrono::seconds every_;
  Mutex mutex_;
  std::map<std::string, Entry> entries_ TWOPC_GUARDED_BY(mutex_);
};

}  // namespace twopc::internal
