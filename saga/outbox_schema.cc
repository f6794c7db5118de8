#include "saga/outbox_schema.h"

namespace twopc::internal {
namespace {

// CREATE TABLE IF NOT EXISTS is not safe against itself: two sessions that
// both find the table missing race on the catalog and one fails with a
// unique violation. Every creator takes this transaction-scoped advisory lock
// first, so two buses opening at once (a relay process restarting while the
// application opens its own) serialize instead.
constexpr const char* kSchemaLock = "SELECT pg_advisory_xact_lock(hashtext('twopc_outbox_schema'))";

constexpr const char* kCreateOutbox =
    "CREATE TABLE IF NOT EXISTS twopc_outbox("
    " id bigserial PRIMARY KEY,"
    " saga_id text NOT NULL,"
    " event text NOT NULL,"
    " target text NOT NULL,"
    " payload jsonb NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())";

constexpr const char* kCreateInbox =
    "CREATE TABLE IF NOT EXISTS twopc_inbox("
    " event_key text PRIMARY KEY,"
    " handled_at timestamptz NOT NULL DEFAULT now())";

}  // namespace

Status CreateOutboxSchema(Coordinator& coordinator, const std::string& participant) {
  Transaction tx = coordinator.Begin();
  if (auto locked = tx.Execute(participant, kSchemaLock); !locked.ok()) {
    return locked.TakeStatus();
  }
  if (Status s = tx.Queue(participant, kCreateOutbox); !s.ok()) return s;
  if (Status s = tx.Queue(participant, kCreateInbox); !s.ok()) return s;
  return tx.Commit();
}

}  // namespace twopc::internal
