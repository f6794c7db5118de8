// The two tables of the transactional outbox, created on every participant.
//
//   twopc_outbox  events a service emitted, waiting for a relay; the row is
//                 written in the same local transaction as the state change
//                 that caused it, so one never exists without the other.
//   twopc_inbox   keys of the events a service has handled; the key is
//                 inserted in the handler's own transaction, which is what
//                 turns at-least-once delivery into exactly-once effect.
#pragma once

#include <string>

#include "twopc/coordinator.h"

namespace twopc::internal {

// Creates twopc_outbox and twopc_inbox on `participant` if missing, in one
// local transaction. Safe to run from several processes at once.
Status CreateOutboxSchema(Coordinator& coordinator, const std::string& participant);

}  // namespace twopc::internal
