#include "saga/outbox_relay.h"

#include <fmt/format.h>
#include "common/logging.h"

#include <exception>

#include "testing/sync_point.h"

namespace twopc::internal {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// A handler is application code. An exception escaping it must not take the
// relay thread, and with it the process, down: it fails the delivery like an
// error Status, and the event is retried.
Result<std::vector<EmitEvent>> CallHandler(const OutboxHandler& handler, Transaction& tx,
                                           const OutboxEvent& event) {
  try {
    return handler(tx, event);
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("handler threw: {}", e.what()));
  } catch (...) {
    return Status::Internal("handler threw a non-standard exception");
  }
}

// The target cannot be reached: its other rows in this round would only wait
// out the same timeout while the source transaction holds its locks.
bool TargetUnreachable(const Status& s) { return s.IsUnavailable() || s.IsTimedOut(); }

// A failed rollback needs no action: the server rolls the transaction back
// when the broken connection closes.
void RollbackQuietly(Transaction& tx) {
  if (Status s = tx.Rollback(); !s.ok()) {
    twopc::internal::LogWith(LogLevel::kDebug,
                             {.event = "rollback_failed",
                              .participant = s.participant(),
                              .sqlstate = s.sqlstate(),
                              .phase = "abort"},
                             "twopc outbox: rollback failed: {}", s.ToString());
  }
}

}  // namespace

OutboxRelay::OutboxRelay(OutboxContext& context, std::string participant)
    : context_(context),
      participant_(std::move(participant)),
      backoff_(context.options.retry_initial_backoff, context.options.retry_max_backoff) {}

Result<int> OutboxRelay::RunRound() {
  Transaction source = context_.coordinator.Begin();
  auto rows = LockOutboxBatch(source, participant_, context_.options.batch,
                              backoff_.Waiting(EventBackoff::Clock::now()));
  if (!rows.ok()) return rows.TakeStatus();
  std::vector<int64_t> done = DeliverBatch(*rows);
  if (done.empty()) {
    // Nothing to delete: just release the row locks.
    RollbackQuietly(source);
    return 0;
  }
  if (Status s = DeleteAndCommit(source, done); !s.ok()) return s;
  for (int64_t id : done) backoff_.Forget(id);
  return static_cast<int>(done.size());
}

std::vector<int64_t> OutboxRelay::DeliverBatch(const std::vector<OutboxRow>& rows) {
  std::vector<int64_t> done;
  std::set<std::string> unreachable;
  for (const OutboxRow& row : rows) {
    if (unreachable.count(row.target) != 0) continue;
    if (Deliver(row, &unreachable) != Outcome::kFailed) done.push_back(row.id);
  }
  return done;
}

OutboxRelay::Outcome OutboxRelay::Deliver(const OutboxRow& row,
                                          std::set<std::string>* unreachable) {
  // Looked up before touching the target: an event nobody handles must
  // neither be deleted nor have its key claimed.
  std::shared_ptr<const OutboxHandler> handler = context_.handlers.Find(row.target, row.event);
  if (handler == nullptr) {
    NoHandler(row);
    return Outcome::kFailed;
  }
  const OutboxEvent event = ToEvent(row);
  Transaction tx = context_.coordinator.Begin();
  auto claimed = ClaimInboxKey(tx, row.target, event.event_key);
  if (!claimed.ok()) {
    if (TargetUnreachable(claimed.status())) unreachable->insert(row.target);
    DeliveryFailed(row, claimed.status(), /*handler_error=*/false);
    return Outcome::kFailed;
  }
  if (!claimed.value()) {
    RollbackQuietly(tx);
    context_.counters.duplicates.fetch_add(1, kRelaxed);
    return Outcome::kDuplicate;
  }
  if (Status s = Handle(tx, *handler, event, row.target); !s.ok()) {
    RollbackQuietly(tx);
    DeliveryFailed(row, s, /*handler_error=*/true);
    return Outcome::kFailed;
  }
  // InDoubt counts as failed too: the row stays, and if this commit did
  // happen, the redelivery finds the key and is dropped.
  if (Status s = tx.Commit(); !s.ok()) {
    DeliveryFailed(row, s, /*handler_error=*/false);
    return Outcome::kFailed;
  }
  [[maybe_unused]] const uint64_t n = context_.counters.delivered.fetch_add(1, kRelaxed) + 1;
  TWOPC_SYNC_POINT("outbox_after_deliver", static_cast<int>(n));
  return Outcome::kHandled;
}

Status OutboxRelay::Handle(Transaction& tx, const OutboxHandler& handler, const OutboxEvent& event,
                           const std::string& target) {
  auto emits = CallHandler(handler, tx, event);
  if (!emits.ok()) return emits.TakeStatus();
  for (const EmitEvent& e : emits.value()) {
    if (Status s = ValidateEmit(e, context_.participants); !s.ok()) return s;
    if (Status s = QueueEmit(tx, target, event.saga_id, e); !s.ok()) return s;
  }
  return Status::OK();
}

Status OutboxRelay::DeleteAndCommit(Transaction& source, const std::vector<int64_t>& ids) {
  if (Status s = QueueDeleteDelivered(source, participant_, ids); !s.ok()) return s;
  return source.Commit();
}

OutboxEvent OutboxRelay::ToEvent(const OutboxRow& row) const {
  return {EventKey(participant_, row.id), row.saga_id, row.event, participant_, row.payload};
}

void OutboxRelay::NoHandler(const OutboxRow& row) {
  context_.counters.unhandled.fetch_add(1, kRelaxed);
  backoff_.Failed(row.id, EventBackoff::Clock::now());
  uint64_t suppressed = 0;
  if (context_.warnings.ShouldLog("no-handler " + row.target + " " + row.event, &suppressed)) {
    twopc::internal::LogWith(
        LogLevel::kWarn, {.event = "outbox_no_handler", .participant = row.target},
        "twopc outbox: no handler for event {} on {}; {} stays in the outbox of {} until one is "
        "registered ({} more skips since the last warning)",
        row.event, row.target, EventKey(participant_, row.id), participant_, suppressed);
  }
}

void OutboxRelay::DeliveryFailed(const OutboxRow& row, const Status& s, bool handler_error) {
  (handler_error ? context_.counters.handler_errors : context_.counters.delivery_errors)
      .fetch_add(1, kRelaxed);
  backoff_.Failed(row.id, EventBackoff::Clock::now());
  uint64_t suppressed = 0;
  const char* kind = handler_error ? "handler of" : "delivery of";
  if (context_.warnings.ShouldLog(fmt::format("{} {} {}", kind, row.target, row.event),
                                  &suppressed)) {
    twopc::internal::LogWith(
        LogLevel::kWarn,
        {.event = handler_error ? "outbox_handler_failed" : "outbox_delivery_failed",
         .participant = row.target,
         .sqlstate = s.sqlstate()},
        "twopc outbox: {} {} {} (saga {}) on {} failed: {}; it stays in the outbox of {} and is "
        "retried ({} similar failures since the last warning)",
        kind, row.event, EventKey(participant_, row.id), row.saga_id, row.target, s.ToString(),
        participant_, suppressed);
  }
}

}  // namespace twopc::internal
