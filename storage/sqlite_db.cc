#include "storage/sqlite_db.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace twopc::internal {
namespace {

// How long a statement waits for another connection's lock (a checkpoint, an
// operator tool reading the log) before failing with Busy.
constexpr int kBusyTimeoutMs = 5000;

// What SqliteError says for a full disk; IsDiskFull looks for it.
constexpr const char* kDiskFull = "disk full";

}  // namespace

Status SqliteError(int rc, const std::string& path, std::string_view what, std::string_view detail,
                   int sys_errno) {
  std::string msg = fmt::format("decision log {}: {}: ", path, what);
  if ((rc & 0xff) != SQLITE_FULL && (sys_errno == ENOSPC || sys_errno == EDQUOT)) {
    return Status::IOError(msg +
                           fmt::format("{} ({}: {})", kDiskFull, detail, std::strerror(sys_errno)));
  }
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(msg + std::string(detail));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Busy(msg + std::string(detail));
    case SQLITE_FULL:
      return Status::IOError(msg + fmt::format("{} ({})", kDiskFull, detail));
    default:
      return Status::IOError(msg + std::string(detail));
  }
}

bool IsDiskFull(const Status& s) {
  return s.IsIOError() && s.message().find(kDiskFull) != std::string::npos;
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, int flags,
                                                 const char* vfs, const std::string& uri) {
  sqlite3* db = nullptr;
  int rc = uri.empty() ? sqlite3_open_v2(path.c_str(), &db, flags, vfs)
                       : sqlite3_open_v2(uri.c_str(), &db, flags | SQLITE_OPEN_URI, vfs);
  if (rc != SQLITE_OK) {
    // sqlite3_open_v2 returns a handle even on failure (unless out of memory);
    // it carries the message and must be closed.
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int sys_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
    sqlite3_close_v2(db);
    return SqliteError(rc, path, "open", detail, sys_errno);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return std::unique_ptr<SqliteDb>(new SqliteDb(db, path));
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

Status SqliteDb::Error(int rc, std::string_view what) const {
  return SqliteError(rc, path_, what, sqlite3_errmsg(db_), sqlite3_system_errno(db_));
}

Status SqliteDb::Exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, sql);
  return Status::OK();
}

Result<int64_t> SqliteDb::QueryInt(const char* sql) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.TakeStatus();
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.TakeStatus();
  if (!*row) return Status::Corruption(fmt::format("decision log {}: {}: no result", path_, sql));
  return (*stmt)->ColumnInt64(0);
}

Result<std::string> SqliteDb::QueryText(const char* sql) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.TakeStatus();
  auto row = (*stmt)->Step();
  if (!row.ok()) return row.TakeStatus();
  if (!*row) return Status::Corruption(fmt::format("decision log {}: {}: no result", path_, sql));
  return (*stmt)->ColumnText(0);
}

Result<std::unique_ptr<SqliteStatement>> SqliteDb::Prepare(const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, sql);
  return std::make_unique<SqliteStatement>(this, stmt);
}

void SqliteDb::RollbackIfOpen() {
  if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void SqliteStatement::BindText(int index, std::string_view value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

void SqliteStatement::BindInt64(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
}

Result<bool> SqliteStatement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, sqlite3_sql(stmt_));
}

Status SqliteStatement::Run() {
  auto row = Step();
  if (!row.ok()) return row.TakeStatus();
  return Status::OK();
}

std::string SqliteStatement::ColumnText(int index) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
  if (text == nullptr) return {};
  return std::string(text, sqlite3_column_bytes(stmt_, index));
}

int64_t SqliteStatement::ColumnInt64(int index) { return sqlite3_column_int64(stmt_, index); }

bool SqliteStatement::ColumnIsNull(int index) {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

}  // namespace twopc::internal
