// A child process whose stdout the bench reads line by line (crash mode's
// coordinator processes). Killed with SIGKILL and reaped by the destructor if
// still running, so an interrupted bench leaves no coordinator behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twopc/status.h"

namespace twopc::bench {

class ChildProcess {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts argv[0] (a path) with `argv`; stdout on a pipe, stderr inherited,
  // stdin /dev/null.
  static Result<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv);
  ~ChildProcess();

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // The next line of stdout without its '\n'; nullopt at end of file or
  // when `deadline` passes (timed_out() tells which).
  std::optional<std::string> ReadLine(Clock::time_point deadline);
  bool timed_out() const { return timed_out_; }

  // SIGKILL (unless already reaped) and reap.
  void KillAndWait();
  // Reaps; the exit code, 128+signal, or nullopt if still running at `deadline`.
  std::optional<int> Wait(Clock::time_point deadline);

 private:
  ChildProcess(pid_t pid, int fd) : pid_(pid), fd_(fd) {}

  pid_t pid_;
  int fd_;
  bool reaped_ = false;
  int exit_code_ = -1;
  bool timed_out_ = false;
  bool eof_ = false;
  std::string buffer_;
};

}  // namespace twopc::bench
