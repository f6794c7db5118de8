// The SQL of the outbox and the inbox, on one participant inside a caller's
// transaction. Nothing here commits: the caller decides what goes together
// into one local transaction, which is the whole point of the pattern.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "twopc/coordinator.h"
#include "twopc/outbox.h"

namespace twopc::internal {

// One twopc_outbox row as a relay reads it.
struct OutboxRow {
  int64_t id = 0;
  std::string saga_id;
  std::string event;
  std::string target;
  std::string payload;  // jsonb in PostgreSQL's text form
};

// "<source participant>:<outbox id>": unique as long as the outbox's id
// sequence is never reset (a reset would make the inbox drop new events as
// duplicates of old ones).
std::string EventKey(const std::string& source, int64_t id);

// Checks `e` before it is written: a known target, an event name, and a
// payload that is JSON (empty means {}). Catching these here names the
// culprit; a bad row would otherwise sit in the outbox forever.
Status ValidateEmit(const EmitEvent& e, const std::set<std::string>& participants);

// Queues the INSERT of `e` into `participant`'s outbox on `tx`; it goes out
// with the commit, in the same local transaction as the caller's change.
// REQUIRES: ValidateEmit(e, ...) is OK.
Status QueueEmit(Transaction& tx, const std::string& participant, const std::string& saga_id,
                 const EmitEvent& e);

// Locks up to `batch` outbox rows of `participant`, oldest first, skipping
// rows another relay holds (SKIP LOCKED: concurrent relays split the outbox
// instead of queueing behind each other) and the ids in `skip`.
Result<std::vector<OutboxRow>> LockOutboxBatch(Transaction& tx, const std::string& participant,
                                               int batch, const std::vector<int64_t>& skip);

// Queues the DELETE of the delivered rows `ids` from `participant`'s outbox.
Status QueueDeleteDelivered(Transaction& tx, const std::string& participant,
                            const std::vector<int64_t>& ids);

// Inserts `event_key` into `target`'s inbox. False if it was already there:
// the event took effect in an earlier, committed delivery.
Result<bool> ClaimInboxKey(Transaction& tx, const std::string& target,
                           const std::string& event_key);

// Rows in `participant`'s outbox, in a read-only local transaction.
Result<int64_t> CountOutbox(Coordinator& coordinator, const std::string& participant);

}  // namespace twopc::internal
