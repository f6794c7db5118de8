#include "saga/outbox_handlers.h"

namespace twopc::internal {

void HandlerRegistry::Set(const std::string& target, const std::string& event,
                          OutboxHandler handler) {
  auto shared = std::make_shared<const OutboxHandler>(std::move(handler));
  MutexLock lock(mutex_);
  handlers_[{target, event}] = std::move(shared);
}

std::shared_ptr<const OutboxHandler> HandlerRegistry::Find(const std::string& target,
                                                           const std::string& event) const {
  MutexLock lock(mutex_);
  auto it = handlers_.find({target, event});
  return it == handlers_.end() ? nullptr : it->second;
}

}  // namespace twopc::internal
