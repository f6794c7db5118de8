// HandlerRegistry: which function handles event E on participant T.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "common/thread_annotations.h"
#include "twopc/outbox.h"

namespace twopc::internal {

// Thread-safe: relays look handlers up while the application registers more.
class HandlerRegistry {
 public:
  // Registers (or replaces) the handler of `event` on `target`.
  void Set(const std::string& target, const std::string& event, OutboxHandler handler);

  // The handler of `event` on `target`, or nullptr. Shared, so that a relay
  // can keep running a handler while Set() replaces it.
  std::shared_ptr<const OutboxHandler> Find(const std::string& target,
                                            const std::string& event) const;

 private:
  using Key = std::pair<std::string, std::string>;  // (target, event)

  mutable Mutex mutex_;
  std::map<Key, std::shared_ptr<const OutboxHandler>> handlers_ TWOPC_GUARDED_BY(mutex_);
};

}  // namespace twopc::internal
