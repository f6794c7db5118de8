// The saga log's files on disk: the exclusive lock that makes one process the
// only orchestrator writing a log, and the database file's creation mode.
#pragma once

#include <string>

#include "twopc/status.h"

namespace twopc::internal {

// flock() on "<path>.lock", held for the life of the object. Not on the
// database file itself: closing any other descriptor of that file in this
// process would drop SQLite's POSIX locks on it. The kernel drops a flock
// when its process dies (kill -9 included), so a crashed orchestrator never
// leaves its log locked; a second orchestrator, in this process or another,
// gets Busy.
class SagaLogLock {
 public:
  static Result<SagaLogLock> Acquire(const std::string& db_path);

  SagaLogLock(SagaLogLock&& other) noexcept;
  SagaLogLock& operator=(SagaLogLock&&) = delete;
  ~SagaLogLock();

 private:
  explicit SagaLogLock(int fd) : fd_(fd) {}
  int fd_;
};

// Creates the database file with mode 0600 if it does not exist (SQLite would
// use 0644, and the log holds the SQL and parameters of every saga). SQLite
// gives the -wal and -shm files the database file's mode.
Status CreateSagaLogFileIfMissing(const std::string& path);

// NotFound if `path` does not exist, IOError if it cannot be examined.
Status CheckSagaLogExists(const std::string& path);

}  // namespace twopc::internal
