#include "saga/saga_log_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace twopc::internal {
namespace {

Status ErrnoError(const std::string& path, std::string_view what, int err) {
  return Status::IOError(fmt::format("saga log {}: {}: {}", path, what, std::strerror(err)));
}

}  // namespace

Result<SagaLogLock> SagaLogLock::Acquire(const std::string& db_path) {
  std::string lock_path = db_path + ".lock";
  // O_CLOEXEC: a child this process execs must not inherit the lock and keep
  // it after the orchestrator died.
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(db_path, "cannot open lock file " + lock_path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Busy(fmt::format("saga log {} is in use: another saga orchestrator holds {}",
                                      db_path, lock_path));
    }
    return ErrnoError(db_path, "cannot lock " + lock_path, err);
  }
  return SagaLogLock(fd);
}

SagaLogLock::SagaLogLock(SagaLogLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

SagaLogLock::~SagaLogLock() {
  if (fd_ >= 0) close(fd_);
}

Status CreateSagaLogFileIfMissing(const std::string& path) {
  // O_EXCL: an existing file is never opened here, because closing that
  // descriptor would drop the POSIX locks another connection of this process
  // holds on it.
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    return Status::OK();
  }
  if (errno == EEXIST) return Status::OK();
  return ErrnoError(path, "cannot create", errno);
}

Status CheckSagaLogExists(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) return Status::OK();
  if (errno == ENOENT) return Status::NotFound(fmt::format("saga log {} does not exist", path));
  return ErrnoError(path, "cannot stat", errno);
}

}  // namespace twopc::internal
