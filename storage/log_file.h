// A log's files on disk, shared by the decision log and the saga log: the
// exclusive lock that makes one process the only writer of a log, and the
// database file's creation mode. `what` names the log in errors ("decision
// log", "saga log"); `holder` names who holds it ("coordinator").
#pragma once

#include <string>
#include <string_view>

#include "twopc/status.h"

namespace twopc::internal {

// flock() on "<path>.lock", held for the life of the object. Not on the
// database file itself: closing any other descriptor of that file in this
// process would drop SQLite's POSIX locks on it. The kernel drops a flock
// when its process dies (kill -9 included), so a crashed process never
// leaves its log locked; a second writer, in this process or another,
// gets Busy.
class LogFileLock {
 public:
  static Result<LogFileLock> Acquire(const std::string& db_path, std::string_view what,
                                     std::string_view holder);

  LogFileLock(LogFileLock&& other) noexcept;
  LogFileLock& operator=(LogFileLock&&) = delete;
  ~LogFileLock();

 private:
  explicit LogFileLock(int fd) : fd_(fd) {}
  int fd_;
};

// True when a live process holds the LogFileLock of the log at `db_path` (a
// coordinator, an orchestrator, `twopc recover`); false when nobody does or
// the lock file cannot be opened. The probe takes a shared lock and lets go
// at once: a shared one conflicts with a holder's exclusive lock only, so two
// probes at the same time never see each other as a holder. A LogFileLock
// being taken at that very moment may still see the probe and get Busy.
bool LogLockHeld(const std::string& db_path);

// Creates the database file with mode 0600 if it does not exist (SQLite would
// use 0644, and the logs hold gids, SQL and parameters). SQLite gives the
// -wal and -shm files the database file's mode.
Status CreateLogFileIfMissing(const std::string& path, std::string_view what);

// NotFound if `path` does not exist, IOError if it cannot be examined.
Status CheckLogExists(const std::string& path, std::string_view what);

}  // namespace twopc::internal
