// Thin RAII layer over the SQLite C API for the decision log: one connection,
// prepared statements, and the conversion of every SQLite error into a Status
// that names the log file (STYLE.md: convert errors at the module boundary).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "twopc/status.h"

namespace twopc::internal {

// Maps an SQLite result code to twopc's error model:
//   SQLITE_CORRUPT, SQLITE_NOTADB -> Corruption
//   SQLITE_BUSY, SQLITE_LOCKED    -> Busy
//   SQLITE_FULL, or any error whose
//   `sys_errno` is ENOSPC/EDQUOT    -> IOError whose message says "disk full"
//   everything else               -> IOError
// The message carries `path`, what was being done, and `detail` (normally
// sqlite3_errmsg of the connection). `sys_errno` is sqlite3_system_errno:
// a full disk often surfaces as SQLITE_IOERR_* ("disk I/O error", e.g.
// growing the -shm file), which alone would not tell the operator why.
Status SqliteError(int rc, const std::string& path, std::string_view what, std::string_view detail,
                   int sys_errno = 0);

// True for a Status that SqliteError made for a full disk.
bool IsDiskFull(const Status& s);

class SqliteStatement;

// One SQLite connection. Not thread-safe: the owner serializes its use.
class SqliteDb {
 public:
  // `flags` as for sqlite3_open_v2; `vfs` nullptr for the default VFS. Sets a
  // busy timeout and extended result codes. A non-empty `uri` ("file:...")
  // is opened instead of `path`, which still names the log in errors.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path, int flags, const char* vfs,
                                                const std::string& uri = "");
  ~SqliteDb();

  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs `sql` (one or more statements without results).
  Status Exec(const char* sql);

  // Runs `sql`, a statement that returns one value (e.g. a PRAGMA).
  Result<int64_t> QueryInt(const char* sql);
  Result<std::string> QueryText(const char* sql);

  Result<std::unique_ptr<SqliteStatement>> Prepare(const char* sql);

  // The Status for `rc`, returned by the last call on this connection.
  Status Error(int rc, std::string_view what) const;

  // Rolls back if a transaction is open. After a failed statement or COMMIT,
  // SQLite may or may not have rolled back by itself; a transaction left open
  // could later be committed by an unrelated COMMIT, making durable what was
  // reported as failed.
  void RollbackIfOpen();

  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
};

// A prepared statement, reset and unbound before every use.
class SqliteStatement {
 public:
  SqliteStatement(SqliteDb* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement() { sqlite3_finalize(stmt_); }

  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // Readies the statement for a new execution.
  void Reset();

  // Parameters are 1-based, as in SQLite.
  void BindText(int index, std::string_view value);
  void BindInt64(int index, int64_t value);

  // Advances; true if a row is available, false when done.
  Result<bool> Step();
  // Runs a statement that returns no rows to completion.
  Status Run();

  // Columns are 0-based, as in SQLite.
  std::string ColumnText(int index);
  int64_t ColumnInt64(int index);
  bool ColumnIsNull(int index);

  // Rows changed by the last Run() on this connection.
  int64_t Changes() { return sqlite3_changes64(db_->handle()); }

 private:
  SqliteDb* db_;
  sqlite3_stmt* stmt_;
};

// Resets a statement when it goes out of scope. A SELECT left mid-result
// keeps its read transaction (its WAL snapshot) open: the reader would not
// see later commits and checkpoints could not pass it.
class ScopedReset {
 public:
  explicit ScopedReset(SqliteStatement* stmt) : stmt_(stmt) { stmt_->Reset(); }
  ~ScopedReset() { stmt_->Reset(); }

  ScopedReset(const ScopedReset&) = delete;
  ScopedReset& operator=(const ScopedReset&) = delete;

 private:
  SqliteStatement* stmt_;
};

}  // namespace twopc::internal
