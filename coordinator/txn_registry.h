// The transactions of this incarnation, by gtrid, from Begin until their
// state is released: the one place the recovery pass asks "may this gtrid
// still be deciding?" and "is the live process completing it?"
// (docs/protocol.md, "Transaction phases"). Internal.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/thread_annotations.h"
#include "coordinator/transaction_phase.h"

namespace twopc::internal {

struct TxnState;

class TxnRegistry {
 public:
  void Add(const std::shared_ptr<TxnState>& txn) TWOPC_EXCLUDES(mutex_);
  void Remove(const std::string& gtrid) TWOPC_EXCLUDES(mutex_);

  // The phase of `gtrid`; nullopt when this process has no such transaction
  // (never had, or released it).
  std::optional<TxnPhase> PhaseOf(const std::string& gtrid) const TWOPC_EXCLUDES(mutex_);
  // True while `gtrid` is registered and has not got past its decision
  // (TransactionPhase::MayBeDeciding). Recovery leaves its undecided
  // branches alone (docs/protocol.md, "Fencing").
  bool MayBeDeciding(const std::string& gtrid) const TWOPC_EXCLUDES(mutex_);
  // True while this process drives the COMMIT PREPAREDs of `gtrid`.
  bool IsCompleting(const std::string& gtrid) const TWOPC_EXCLUDES(mutex_);

  size_t Count() const TWOPC_EXCLUDES(mutex_);
  size_t CountIn(TxnPhase phase) const TWOPC_EXCLUDES(mutex_);
  // Every registered transaction whose state is still alive.
  std::vector<std::shared_ptr<TxnState>> Live() const TWOPC_EXCLUDES(mutex_);

 private:
  // The state, kept alive by the caller, not by the lock: a state whose last
  // owner is the caller is destroyed after the lock is released (its
  // destructor calls Remove).
  std::shared_ptr<TxnState> Find(const std::string& gtrid) const TWOPC_EXCLUDES(mutex_);

  mutable Mutex mutex_;
  std::map<std::string, std::weak_ptr<TxnState>> txns_ TWOPC_GUARDED_BY(mutex_);
};

}  // namespace twopc::internal
