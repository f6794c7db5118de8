// OutboxRelay: moves the events of one participant's outbox to their targets.
//
// One round:
//   1. source transaction on P: lock a batch of outbox rows (FOR UPDATE SKIP
//      LOCKED), oldest first;
//   2. for each row, a separate local transaction on its target T: claim the
//      event's key in T's inbox (a conflict means an earlier delivery already
//      committed: a duplicate, dropped), run the handler, queue the events it
//      emits into T's outbox, commit;
//   3. delete the delivered rows from P's outbox and commit the source
//      transaction.
// A crash between 2 and 3 leaves delivered rows in P's outbox; the next round
// delivers them again and T's inbox drops them. The order -- target commit
// before source delete -- is what makes delivery at-least-once; the inbox key
// in the handler's own transaction is what makes the effect exactly-once.
//
// Sync point (TWOPC_CRASH_AT, see testing/sync_point.h):
//   outbox_after_deliver:k  the k-th event this process delivered is
//                           committed on its target, not yet deleted from its
//                           source outbox
#pragma once

#include <set>
#include <string>

#include "saga/outbox_backoff.h"
#include "saga/outbox_context.h"
#include "saga/outbox_store.h"

namespace twopc::internal {

// Thread-safe: the relay threads of one participant share one OutboxRelay;
// SKIP LOCKED gives each of them different rows.
class OutboxRelay {
 public:
  OutboxRelay(OutboxContext& context, std::string participant);

  const std::string& participant() const { return participant_; }

  // Runs one round (above). Returns the number of rows removed from the
  // outbox (delivered or duplicate). Errors are those of the source
  // transaction; a failed delivery only leaves its row for a later round.
  Result<int> RunRound();

 private:
  enum class Outcome { kHandled, kDuplicate, kFailed };

  // Delivers the rows the backoff and the round's unreachable targets allow;
  // returns the ids to delete.
  std::vector<int64_t> DeliverBatch(const std::vector<OutboxRow>& rows);
  // Step 2 for one row; never touches the source transaction.
  Outcome Deliver(const OutboxRow& row, std::set<std::string>* unreachable);
  // Runs the handler in `tx` and queues what it emits into the outbox of
  // `target`, the handling participant. Non-OK: the caller rolls back.
  Status Handle(Transaction& tx, const OutboxHandler& handler, const OutboxEvent& event,
                const std::string& target);
  Status DeleteAndCommit(Transaction& source, const std::vector<int64_t>& ids);

  OutboxEvent ToEvent(const OutboxRow& row) const;
  void NoHandler(const OutboxRow& row);
  void DeliveryFailed(const OutboxRow& row, const Status& s, bool handler_error);

  OutboxContext& context_;
  const std::string participant_;
  EventBackoff backoff_;
};

}  // namespace twopc::internal
