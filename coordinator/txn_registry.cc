#include "coordinator/txn_registry.h"

#include "coordinator/transaction_state.h"

namespace twopc::internal {

void TxnRegistry::Add(const std::shared_ptr<TxnState>& txn) {
  MutexLock lock(mutex_);
  txns_[txn->gtrid] = txn;
}

void TxnRegistry::Remove(const std::string& gtrid) {
  MutexLock lock(mutex_);
  txns_.erase(gtrid);
}

std::shared_ptr<TxnState> TxnRegistry::Find(const std::string& gtrid) const {
  MutexLock lock(mutex_);
  auto it = txns_.find(gtrid);
  return it == txns_.end() ? nullptr : it->second.lock();
}

std::optional<TxnPhase> TxnRegistry::PhaseOf(const std::string& gtrid) const {
  auto txn = Find(gtrid);
  if (txn == nullptr) return std::nullopt;
  return txn->phase.Get();
}

bool TxnRegistry::MayBeDeciding(const std::string& gtrid) const {
  auto txn = Find(gtrid);
  return txn != nullptr && txn->phase.MayBeDeciding();
}

bool TxnRegistry::IsCompleting(const std::string& gtrid) const {
  return PhaseOf(gtrid) == TxnPhase::kCompleting;
}

size_t TxnRegistry::Count() const {
  MutexLock lock(mutex_);
  return txns_.size();
}

size_t TxnRegistry::CountIn(TxnPhase phase) const {
  size_t n = 0;
  for (const auto& txn : Live()) n += txn->phase.Get() == phase ? 1 : 0;
  return n;
}

std::vector<std::shared_ptr<TxnState>> TxnRegistry::Live() const {
  MutexLock lock(mutex_);
  std::vector<std::shared_ptr<TxnState>> live;
  for (const auto& [gtrid, weak] : txns_) {
    if (auto txn = weak.lock()) live.push_back(std::move(txn));
  }
  return live;
}

}  // namespace twopc::internal
