// RunTransaction: reruns a transaction body on transient conflicts.
//
//   twopc::Status s = twopc::RunTransaction(*coord, [&](twopc::Transaction& tx) {
//     auto rows = tx.Execute("orders", "SELECT stock FROM items WHERE id = $1", {7});
//     if (!rows.ok()) return rows.status();
//     return tx.Queue("orders", "UPDATE items SET stock = stock - 1 WHERE id = $1", {7});
//   });
//
// The body runs in a fresh transaction each attempt and is committed by
// RunTransaction. It is rerun, with exponential backoff and jitter, only when
// the attempt failed with a serialization failure (40001), a deadlock
// (40P01) or, unless disabled, a lock timeout (55P03) -- from a statement or
// from the commit. Never on InDoubt: the
// first attempt may have committed, and running it again could apply it twice.
#pragma once

#include <chrono>
#include <functional>

#include "twopc/coordinator.h"

namespace twopc {

struct RetryOptions {
  // Attempts in all, the first included.
  int max_attempts = 5;
  // Backoff before attempt k+1 is about initial_backoff * 2^(k-1), capped at
  // max_backoff, with full jitter so that colliding transactions spread out.
  std::chrono::milliseconds initial_backoff{5};
  std::chrono::milliseconds max_backoff{500};
  // Also rerun on lock_not_available (55P03). With a lock_timeout set, that
  // is how a distributed deadlock shows up: two transactions each waiting on
  // the other in *different* databases, which no single server can detect.
  // A MariaDB lock wait timeout (error 1205) is reported with that SQLSTATE
  // too (its own is the generic HY000).
  bool retry_lock_timeout = true;
};

// Returns the last attempt's outcome. If the body returns a non-OK Status
// that is not a retryable conflict, the transaction is rolled back and that
// Status is returned as it is.
Status RunTransaction(Coordinator& coordinator, const std::function<Status(Transaction&)>& body,
                      TransactionOptions options = {}, RetryOptions retry = {});

}  // namespace twopc
