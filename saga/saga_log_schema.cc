#include "saga/saga_log_schema.h"

#include <fmt/format.h>

#include "saga/saga_status.h"

namespace twopc::internal {
namespace {

// PRAGMA application_id of a saga log ("TPSG"): tells it apart from the
// decision log and from any other SQLite file.
constexpr int64_t kApplicationId = 0x54505347;
constexpr int64_t kFormatVersion = 1;

constexpr const char* kCreateSchema =
    "CREATE TABLE IF NOT EXISTS sagas("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " definition TEXT,"
    " state TEXT NOT NULL,"
    " steps INTEGER NOT NULL,"
    " next_step INTEGER NOT NULL,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " started_at_ms INTEGER NOT NULL,"
    " updated_at_ms INTEGER NOT NULL);"
    // Finished rows accumulate; the unfinished ones are what resume and
    // `twopc saga status` read. The WHERE must match the queries' text.
    "CREATE INDEX IF NOT EXISTS sagas_unfinished ON sagas(started_at_ms)"
    " WHERE state IN ('running', 'compensating', 'parked');";

constexpr const char* kRecordColumns =
    "id, name, state, steps, next_step, last_error, started_at_ms, updated_at_ms";

Status Foreign(SqliteDb* db, std::string_view why) {
  return Status::InvalidArgument(
      fmt::format("saga log {}: not a saga log ({}); refusing to touch it", db->path(), why));
}

Result<bool> HasTables(SqliteDb* db) {
  auto n = db->QueryInt("SELECT count(*) FROM sqlite_master");
  if (!n.ok()) return SagaLogError(n.status());
  return *n > 0;
}

Result<SagaRecord> ReadRecord(SqliteStatement* stmt, const std::string& path) {
  SagaRecord r;
  r.saga_id = stmt->ColumnText(0);
  r.name = stmt->ColumnText(1);
  std::string state = stmt->ColumnText(2);
  auto parsed = ParseSagaState(state);
  if (!parsed) {
    return Status::Corruption(
        fmt::format("saga log {}: saga {} has unknown state '{}'", path, r.saga_id, state));
  }
  r.state = *parsed;
  r.steps = static_cast<int>(stmt->ColumnInt64(3));
  r.next_step = static_cast<int>(stmt->ColumnInt64(4));
  r.last_error = stmt->ColumnText(5);
  r.started_at_ms = stmt->ColumnInt64(6);
  r.updated_at_ms = stmt->ColumnInt64(7);
  return r;
}

}  // namespace

Status CheckSagaLogFormat(SqliteDb* db) {
  auto app = db->QueryInt("PRAGMA application_id");
  if (!app.ok()) return SagaLogError(app.status());
  if (*app != kApplicationId) {
    return Foreign(db, fmt::format("application_id {:#x}", *app));
  }
  auto version = db->QueryInt("PRAGMA user_version");
  if (!version.ok()) return SagaLogError(version.status());
  if (*version != kFormatVersion) {
    return Status::InvalidArgument(
        fmt::format("saga log {}: format version {} is not supported (this twopc reads version {})",
                    db->path(), *version, kFormatVersion));
  }
  return Status::OK();
}

Status InitializeSagaLog(SqliteDb* db) {
  auto has_tables = HasTables(db);
  if (!has_tables.ok()) return has_tables.TakeStatus();
  if (*has_tables) {
    if (Status s = CheckSagaLogFormat(db); !s.ok()) return s;
  }
  auto mode = db->QueryText("PRAGMA journal_mode = WAL");
  if (!mode.ok()) return SagaLogError(mode.status());
  if (*mode != "wal") {
    return Status::IOError(
        fmt::format("saga log {}: cannot switch to WAL (journal mode {})", db->path(), *mode));
  }
  // FULL: every commit fsyncs the WAL, so a saga's row is on disk before its
  // first step runs, and each recorded step survives a power loss.
  Status s = db->Exec("PRAGMA synchronous = FULL");
  if (s.ok()) s = db->Exec("BEGIN IMMEDIATE");
  if (s.ok()) s = db->Exec(kCreateSchema);
  if (s.ok()) {
    s = db->Exec(fmt::format("PRAGMA application_id = {}; PRAGMA user_version = {};",
                             kApplicationId, kFormatVersion)
                     .c_str());
  }
  if (s.ok()) s = db->Exec("COMMIT");
  if (!s.ok()) db->RollbackIfOpen();
  return s.ok() ? s : SagaLogError(s);
}

Result<std::vector<SagaRecord>> ReadUnfinishedRecords(SqliteDb* db) {
  std::string sql = fmt::format(
      "SELECT {} FROM sagas WHERE state IN ('running', 'compensating', 'parked')"
      " ORDER BY started_at_ms, rowid",
      kRecordColumns);
  auto stmt = db->Prepare(sql.c_str());
  if (!stmt.ok()) return SagaLogError(stmt.status());
  ScopedReset reset(stmt->get());
  std::vector<SagaRecord> out;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return SagaLogError(row.status());
    if (!*row) return out;
    auto record = ReadRecord(stmt->get(), db->path());
    if (!record.ok()) return record.TakeStatus();
    out.push_back(std::move(record).value());
  }
}

Result<std::optional<StoredSaga>> ReadStoredSaga(SqliteDb* db, const std::string& saga_id) {
  std::string sql = fmt::format("SELECT {}, definition FROM sagas WHERE id = ?1", kRecordColumns);
  auto stmt = db->Prepare(sql.c_str());
  if (!stmt.ok()) return SagaLogError(stmt.status());
  ScopedReset reset(stmt->get());
  (*stmt)->BindText(1, saga_id);
  auto row = (*stmt)->Step();
  if (!row.ok()) return SagaLogError(row.status());
  if (!*row) return std::optional<StoredSaga>();
  auto record = ReadRecord(stmt->get(), db->path());
  if (!record.ok()) return record.TakeStatus();
  return std::optional<StoredSaga>(StoredSaga{std::move(record).value(), (*stmt)->ColumnText(8)});
}

std::optional<SagaState> ParseSagaState(const std::string& name) {
  for (SagaState s : {SagaState::kRunning, SagaState::kCompensating, SagaState::kCompleted,
                      SagaState::kCompensated, SagaState::kParked}) {
    if (name == SagaStateName(s)) return s;
  }
  return std::nullopt;
}

Status SagaLogError(const Status& s) {
  constexpr std::string_view kTheirs = "decision log ";
  std::string msg = s.message();
  if (msg.rfind(kTheirs, 0) == 0) msg.replace(0, kTheirs.size(), "saga log ");
  return RewordStatus(s, std::move(msg));
}

}  // namespace twopc::internal
