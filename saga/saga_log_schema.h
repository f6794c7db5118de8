// The saga log's SQLite schema and the reads shared by the orchestrator and
// by `twopc saga status` (ReadUnfinishedSagas).
//
//   sagas(id TEXT PRIMARY KEY, name, definition JSON (NULL once finished),
//         state, steps, next_step, last_error, started_at_ms, updated_at_ms)
//
// One row per saga; its state and next_step are the saga's durable progress
// (SagaRecord documents next_step). Finished rows stay as a small history;
// their definition is dropped.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/sqlite_db.h"
#include "twopc/saga.h"
#include "twopc/status.h"

namespace twopc::internal {

// A saga row with its definition, for resuming it.
struct StoredSaga {
  SagaRecord record;
  std::string definition;  // JSON (saga_json.h)
};

// Refuses a file that is not a saga log (e.g. the decision log passed by
// mistake) before touching it, then sets WAL and synchronous=FULL and
// creates the schema. REQUIRES: the caller holds the log's lock.
Status InitializeSagaLog(SqliteDb* db);

// Checks that `db` is a saga log of a known format (for read-only opens).
Status CheckSagaLogFormat(SqliteDb* db);

// Rows in state running, compensating or parked, oldest first.
Result<std::vector<SagaRecord>> ReadUnfinishedRecords(SqliteDb* db);

// The row of `saga_id` with its definition; nullopt if there is none.
Result<std::optional<StoredSaga>> ReadStoredSaga(SqliteDb* db, const std::string& saga_id);

// "running" <-> SagaState::kRunning, ...
std::optional<SagaState> ParseSagaState(const std::string& name);

// `s` (from storage/sqlite_db, whose messages say "decision log") as the
// saga log's error.
Status SagaLogError(const Status& s);

}  // namespace twopc::internal
