// Choreographed sagas over a transactional outbox -- the "practical
// alternative to 2PC" that migration guides recommend, measured by
// twopc-bench as mode saga-outbox.
//
// Each service (participant) writes its state change and its outgoing event
// in ONE local transaction: the event goes into the service's own table
//   twopc_outbox(id bigserial primary key, saga_id text, event text,
//                target text, payload jsonb, created_at timestamptz)
// No broker: relays move events with PostgreSQL itself as the queue
// (SELECT ... FOR UPDATE SKIP LOCKED). Delivery is at least once; the
// receiving service dedupes in its own transaction through
//   twopc_inbox(event_key text primary key)
// so each event takes effect exactly once, even when a relay is killed
// between delivering and deleting.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "twopc/coordinator.h"
#include "twopc/saga.h"

namespace twopc {

// An event as a handler sees it.
struct OutboxEvent {
  std::string event_key;  // unique: "<source participant>:<outbox id>"
  std::string saga_id;
  std::string event;      // e.g. "OrderCreated", "PaymentDeclined"
  std::string source;     // participant that emitted it
  std::string payload;    // JSON text
};

// Another event to emit from inside a handler, in the same local transaction.
struct EmitEvent {
  std::string event;
  std::string target;   // participant that must handle it
  std::string payload;  // JSON text; empty means {}
};

// A handler runs inside the receiving participant's local transaction (`tx`
// touches only that participant). It applies the change and returns the
// events to emit; a non-OK Status rolls its transaction back (the event is
// retried later, or -- for a business refusal -- the handler should instead
// emit a failure event and return OK).
using OutboxHandler =
    std::function<Result<std::vector<EmitEvent>>(Transaction& tx, const OutboxEvent& event)>;

struct OutboxOptions {
  int batch = 32;                                 // events a relay moves per round
  std::chrono::milliseconds idle_poll{2};         // sleep when a relay found nothing
  int relays_per_participant = 1;
  // An event whose delivery failed (handler error, no handler, target
  // unreachable) is skipped by this process's relays for a while, doubling
  // from `retry_initial_backoff` up to `retry_max_backoff` per failure, so a
  // poison event neither spins nor holds back the events behind it.
  std::chrono::milliseconds retry_initial_backoff{10};
  std::chrono::milliseconds retry_max_backoff{1000};
};

struct OutboxStats {
  uint64_t delivered = 0;     // events handled (first delivery)
  uint64_t duplicates = 0;    // redeliveries dropped by the inbox
  uint64_t handler_errors = 0;
  uint64_t delivery_errors = 0;  // target unreachable, or its commit failed
  uint64_t unhandled = 0;        // deliveries skipped: no handler registered
};

class OutboxBusImpl;

class OutboxBus {
 public:
  // Creates twopc_outbox/twopc_inbox on every participant if missing.
  // REQUIRES: `coordinator` outlives the bus.
  static Result<std::unique_ptr<OutboxBus>> Open(Coordinator& coordinator, OutboxOptions options = {});
  ~OutboxBus();  // stops the relays

  // Registers the handler for `event` on participant `target` (replacing an
  // earlier one). Thread-safe; may be called while relays run.
  void On(const std::string& target, const std::string& event, OutboxHandler handler);

  // Starts an event chain: runs `start` as a local transaction on
  // `participant` and emits `first` from it atomically. `start` should touch
  // only `participant` (it may be empty). Returns the commit's outcome; on
  // InDoubt the chain may have started: find out before publishing again.
  Status Publish(const std::string& participant, const std::string& saga_id,
                 const std::function<Status(Transaction&)>& start, const EmitEvent& first);

  // Starts / stops the relay threads (relays_per_participant per
  // participant). StopRelays lets each thread finish its round; it must not
  // be called from a handler.
  void StartRelays();
  void StopRelays();

  // Runs one relay round for `participant` in the calling thread (tests).
  // Returns the number of events delivered, i.e. removed from the outbox:
  // handled now, or found already handled (a duplicate dropped by the inbox).
  Result<int> RelayOnce(const std::string& participant);

  // Events still waiting in outboxes (all participants).
  Result<int64_t> Pending();
  OutboxStats stats() const;

 private:
  explicit OutboxBus(std::unique_ptr<OutboxBusImpl> impl);
  std::unique_ptr<OutboxBusImpl> impl_;
};

}  // namespace twopc
