#include "saga/applied_table.h"

namespace twopc::internal {
namespace {

// CREATE TABLE IF NOT EXISTS is not safe against itself: two sessions that
// both find the table missing race on the catalog and one fails with 23505 on
// pg_type. Every creator (this process's and other orchestrators') takes this
// transaction-scoped advisory lock first, so they serialize instead.
constexpr const char* kSchemaLock = "SELECT pg_advisory_xact_lock(hashtext('twopc_saga_applied'))";

constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS twopc_saga_applied("
    " saga_id text NOT NULL,"
    " step int NOT NULL,"
    " direction text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (saga_id, step, direction))";

constexpr const char* kTableExists = "SELECT to_regclass('twopc_saga_applied') IS NOT NULL";

// A creator that does not take kSchemaLock (an older twopc, a hand-made
// script) can still race with us: 23505 / 42P07 then mean "someone else just
// created it", and one more try finds it there.
constexpr int kCreateAttempts = 3;

constexpr const char* kTableExistsMariaDb =
    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
    " AND TABLE_NAME = 'twopc_saga_applied'";

}  // namespace

bool IsMariaDbParticipant(const Coordinator& coordinator, const std::string& name) {
  for (const auto& p : coordinator.options().participants) {
    if (p.name == name) return p.kind == ParticipantKind::kMariaDb;
  }
  return false;
}

Status AppliedTables::Ensure(const std::string& participant, std::chrono::milliseconds deadline) {
  Entry& entry = EntryFor(participant);
  MutexLock lock(entry.mu);
  if (entry.ready) return Status::OK();
  Status s;
  for (int attempt = 1; attempt <= kCreateAttempts; ++attempt) {
    s = Create(participant, deadline);
    if (s.ok() || (s.sqlstate() != "23505" && s.sqlstate() != "42P07")) break;
  }
  entry.ready = s.ok();
  return s;
}

AppliedTables::Entry& AppliedTables::EntryFor(const std::string& participant) {
  MutexLock lock(mu_);
  auto& slot = entries_[participant];
  if (slot == nullptr) slot = std::make_unique<Entry>();
  return *slot;
}

Status AppliedTables::Create(const std::string& participant, std::chrono::milliseconds deadline) {
  TransactionOptions options;
  options.deadline = deadline;
  Transaction tx = coordinator_.Begin(options);
  if (IsMariaDbParticipant(coordinator_, participant)) {
    auto exists = tx.Execute(participant, kTableExistsMariaDb);
    if (!exists.ok()) return exists.TakeStatus();
    if (exists->size() == 1 && (*exists)[0][0].value_or("0") != "0") return tx.Commit();
    tx.Rollback().ok();
    return Status::InvalidArgument(
               "twopc_saga_applied is missing on MariaDB participant " + participant +
               "; MariaDB refuses DDL inside an XA branch, so create it beforehand (saga.h)")
        .WithParticipant(participant);
  }
  // Look first: CREATE TABLE IF NOT EXISTS checks the CREATE privilege on
  // the schema before it finds the table there, and since PostgreSQL 15 an
  // application role often lacks it. A table a DBA created is enough.
  auto exists = tx.Execute(participant, kTableExists);
  if (!exists.ok()) return exists.TakeStatus();
  if (exists->size() == 1 && (*exists)[0][0].value_or("f") == "t") return tx.Commit();
  if (auto locked = tx.Execute(participant, kSchemaLock); !locked.ok()) return locked.TakeStatus();
  if (Status s = tx.Queue(participant, kCreateTable); !s.ok()) return s;
  return tx.Commit();
}

}  // namespace twopc::internal
