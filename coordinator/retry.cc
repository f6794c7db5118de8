#include "twopc/retry.h"

#include "common/backoff.h"
#include "common/logging.h"

#include <thread>

namespace twopc {

Status RunTransaction(Coordinator& coordinator, const std::function<Status(Transaction&)>& body,
                      TransactionOptions options, RetryOptions retry) {
  Status last;
  for (int attempt = 1;; ++attempt) {
    Transaction tx = coordinator.Begin(options);
    last = body(tx);
    if (last.ok()) last = tx.Commit();
    bool retryable = last.IsRetryableConflict() ||
                     (retry.retry_lock_timeout && last.sqlstate() == "55P03");
    if (last.ok() || last.IsInDoubt() || !retryable) return last;
    if (attempt >= retry.max_attempts) return last;
    auto pause = internal::Backoff({retry.initial_backoff, retry.max_backoff}, attempt);
    twopc::internal::LogWith(
        LogLevel::kDebug,
        {.event = "transaction_retry", .gtrid = tx.gtrid(), .sqlstate = last.sqlstate()},
        "twopc: {} hit {} (attempt {}), retrying in {} ms", tx.gtrid(), last.sqlstate(), attempt,
        pause.count());
    // `tx` rolls back when it goes out of scope if the body failed.
    tx.Rollback().ok();
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace twopc
