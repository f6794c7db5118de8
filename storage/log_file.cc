#include "storage/log_file.h"

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

Status ErrnoError(std::string_view log, const std::string& path, std::string_view what, int err) {
  return Status::IOError(fmt::format("{} {}: {}: {}", log, path, what, std::strerror(err)));
}

}  // namespace

Result<LogFileLock> LogFileLock::Acquire(const std::string& db_path, std::string_view what,
                                         std::string_view holder) {
  std::string lock_path = db_path + ".lock";
  // O_CLOEXEC: a child this process execs (pg_ctl, a shell) must not inherit
  // the lock and keep it after this process died.
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(what, db_path, "cannot open lock file " + lock_path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Busy(
          fmt::format("{} {} is in use: another {} holds {}", what, db_path, holder, lock_path));
    }
    return ErrnoError(what, db_path, "cannot lock " + lock_path, err);
  }
  return LogFileLock(fd);
}

bool LogLockHeld(const std::string& db_path) {
  // O_RDONLY, no O_CREAT: probing must not leave a lock file behind.
  int fd = open((db_path + ".lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);
  return held;
}

LogFileLock::LogFileLock(LogFileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

LogFileLock::~LogFileLock() {
  if (fd_ >= 0) close(fd_);
}

Status CreateLogFileIfMissing(const std::string& path, std::string_view what) {
  // O_EXCL: an existing file is never opened here, because closing that
  // descriptor would drop the POSIX locks another connection of this process
  // holds on it.
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    return Status::OK();
  }
  if (errno == EEXIST) return Status::OK();
  return ErrnoError(what, path, "cannot create", errno);
}

Status CheckLogExists(const std::string& path, std::string_view what) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) return Status::OK();
  if (errno == ENOENT) return Status::NotFound(fmt::format("{} {} does not exist", what, path));
  return ErrnoError(what, path, "cannot stat", errno);
}

}  // namespace twopc::internal
