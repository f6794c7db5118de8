// A child process started with its stdout on a pipe that the parent reads
// line by line, killed with SIGKILL, reaped with waitpid: the coordinator
// processes that the crash tests and twopc-bench's crash mode kill.
//
// The destructor SIGKILLs and reaps a child that is still running, so a test
// or a bench that stops half-way never leaves a coordinator process behind
// holding the decision log's lock or participant connections.
//
// Error policy: no GoogleTest dependency; Spawn() reports failure through
// `error`, the other calls through their return values.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace twopc::support {

// How a reaped child ended.
struct ChildExit {
  bool exited = false;  // returned from main / called exit()
  int exit_code = -1;
  bool signaled = false;  // killed by a signal
  int signal = 0;

  // True iff it died by SIGKILL -- what a crash test expects from a process
  // that reached its TWOPC_CRASH_AT point or that the test killed.
  bool KilledBySigkill() const;
  std::string ToString() const;  // "exit 0", "signal 9 (Killed)"
};

class ChildProcess {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts argv[0] (a path, not searched in PATH) with `argv`. `extra_env`
  // holds "NAME=value" entries that replace or add to the inherited
  // environment. stdout goes to a pipe read by ReadLine(); stderr is appended
  // to `stderr_path` (inherited when empty). stdin is /dev/null.
  static std::unique_ptr<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                             const std::vector<std::string>& extra_env,
                                             const std::string& stderr_path, std::string* error);

  // SIGKILLs and reaps the child if it was not reaped yet.
  ~ChildProcess();

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // The next line of the child's stdout, without its '\n'. nullopt when the
  // deadline passes first (then timed_out() is true) or at end of file (the
  // child exited or was killed and every line was read; eof() is true).
  std::optional<std::string> ReadLine(Clock::time_point deadline);
  // Every line until end of file or the deadline.
  std::vector<std::string> ReadRemainingLines(Clock::time_point deadline);
  bool eof() const { return eof_; }
  bool timed_out() const { return timed_out_; }

  // Sends SIGKILL unless the child was already reaped (its pid may then
  // belong to another process).
  void Kill();
  // Reaps the child; nullopt if it is still running at the deadline.
  std::optional<ChildExit> Wait(Clock::time_point deadline);
  // Kill() then Wait() (a SIGKILLed process is reaped within milliseconds;
  // the bound only guards against a kernel stuck in uninterruptible I/O).
  ChildExit KillAndWait();

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}

  pid_t pid_;
  int stdout_fd_;
  bool reaped_ = false;
  ChildExit exit_;
  std::string buffer_;  // bytes read past the last complete line
  bool eof_ = false;
  bool timed_out_ = false;
};

// Our environment with `extra` ("NAME=value") entries replacing variables of
// the same name: what a child is started with.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra);
// argv/envp form of `strings` (null-terminated; points into `strings`).
std::vector<char*> CStrings(std::vector<std::string>& strings);

}  // namespace twopc::support
