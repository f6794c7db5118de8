// Handing a parked saga back to the orchestrator. A saga is parked when a
// compensation kept failing (docs/sagas.md): it stops half-undone and waits for
// an operator. Once the operator fixed the cause (restored a table, relaxed a
// constraint, brought a server back), the undo should go on from where it
// stopped -- by the engine, with its idempotency keys, not by hand.
#pragma once

#include <string>

#include "saga/saga_log.h"
#include "twopc/status.h"

namespace twopc::internal {

// Reads `saga_id` afresh and, if it is parked, records it (forced) as
// compensating again at the step whose compensation failed, keeping its last
// error. Returns the row as now recorded. NotFound when the log has no such
// saga; InvalidArgument when it is not parked (the message says its state).
// REQUIRES: no thread drives `saga_id` (the caller claimed it, or holds the
// log with no orchestrator running).
Result<StoredSaga> HandBackParked(SagaLog& log, const std::string& saga_id);

}  // namespace twopc::internal
