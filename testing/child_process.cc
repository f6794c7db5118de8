#include "testing/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace twopc::support {

std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    bool replaced = std::any_of(extra.begin(), extra.end(),
                                [&](const std::string& x) { return name_of(x) == name_of(entry); });
    if (!replaced) env.push_back(std::move(entry));
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

bool ChildExit::KilledBySigkill() const { return signaled && signal == SIGKILL; }

std::string ChildExit::ToString() const {
  if (exited) return "exit " + std::to_string(exit_code);
  if (signaled) return "signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return "not reaped";
}

std::unique_ptr<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                                  const std::vector<std::string>& extra_env,
                                                  const std::string& stderr_path,
                                                  std::string* error) {
  // O_CLOEXEC on both ends: servers the test restarts later must not inherit
  // the pipe, or the test would never see end of file after a kill.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + std::strerror(errno);
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);  // dup2 clears O_CLOEXEC
  if (!stderr_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
  }
  std::vector<std::string> args = argv;
  std::vector<std::string> env = ChildEnvironment(extra_env);
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, c_args[0], &actions, nullptr, c_args.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    *error = "posix_spawn " + argv[0] + ": " + std::strerror(rc);
    return nullptr;
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, fds[0]));
}

ChildProcess::~ChildProcess() {
  KillAndWait();
  close(stdout_fd_);
}

std::optional<std::string> ChildProcess::ReadLine(Clock::time_point deadline) {
  timed_out_ = false;
  while (true) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (eof_) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out_ = true;
      return std::nullopt;
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) {
      eof_ = true;
      continue;
    }
    if (ready <= 0) continue;
    char chunk[4096];
    ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      // A line cut by the kill (no '\n') is dropped: the child writes each
      // line with one write(2), so that never happens to a line it reported.
      eof_ = true;
    }
  }
}

std::vector<std::string> ChildProcess::ReadRemainingLines(Clock::time_point deadline) {
  std::vector<std::string> lines;
  while (auto line = ReadLine(deadline)) lines.push_back(std::move(*line));
  return lines;
}

void ChildProcess::Kill() {
  if (!reaped_) kill(pid_, SIGKILL);
}

std::optional<ChildExit> ChildProcess::Wait(Clock::time_point deadline) {
  while (!reaped_) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      exit_.exited = WIFEXITED(status);
      exit_.exit_code = exit_.exited ? WEXITSTATUS(status) : -1;
      exit_.signaled = WIFSIGNALED(status);
      exit_.signal = exit_.signaled ? WTERMSIG(status) : 0;
      break;
    }
    if (r < 0 && errno != EINTR) {
      reaped_ = true;  // not our child any more: nothing left to reap or kill
      break;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_;
}

ChildExit ChildProcess::KillAndWait() {
  Kill();
  auto exit = Wait(Clock::now() + std::chrono::seconds(30));
  return exit.value_or(ChildExit{});
}

}  // namespace twopc::support
