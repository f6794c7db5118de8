#include "twopc/retry.h"

#include "common/logging.h"

#include <random>
#include <thread>

namespace twopc {
namespace {

std::chrono::milliseconds Backoff(const RetryOptions& r, int attempt) {
  auto cap = std::min<std::chrono::milliseconds>(r.max_backoff,
                                                 r.initial_backoff * (1LL << std::min(attempt, 20)));
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::chrono::milliseconds(rng() % (cap.count() + 1));
}

}  // namespace

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
    auto pause = Backoff(retry, attempt - 1);
    twopc::internal::Log().debug("twopc: {} hit {} (attempt {}), retrying in {} ms", tx.gtrid(), last.sqlstate(),
                  attempt, pause.count());
    // `tx` rolls back when it goes out of scope if the body failed.
    tx.Rollback().ok();
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace twopc
