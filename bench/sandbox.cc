#include "bench/sandbox.h"

#include "bench/flags.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace twopc::bench {
namespace {

std::string Tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

std::string Trimmed(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

Status WriteConfigLogStore(const std::string& path, LogStore store) {
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  in.close();
  std::string store_line = std::string("store = \"") + LogStoreName(store) + "\"";
  std::vector<std::string> out;
  bool in_log = false, written = false;
  for (const std::string& line : lines) {
    std::string t = Trimmed(line);
    if (!t.empty() && t.front() == '[') {
      in_log = t == "[log]";
      out.push_back(line);
      if (in_log) {
        out.push_back(store_line);
        written = true;
      }
      continue;
    }
    if (in_log) {
      std::string key = Trimmed(t.substr(0, t.find('=')));
      if (t.find('=') != std::string::npos) {
        if (key == "store") continue;
        if (store == LogStore::kPostgres &&
            (key == "path" || key == "group_commit_window_us" || key == "max_batch")) {
          continue;
        }
      }
    }
    out.push_back(line);
  }
  if (!written) {
    out.push_back("[log]");
    out.push_back(store_line);
  }
  std::string tmp = path + ".tmp";
  {
    std::ofstream o(tmp, std::ios::trunc);
    for (const auto& line : out) o << line << "\n";
    o.close();
    if (!o) return Status::IOError("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot replace " + path + ": " + ec.message());
  return Status::OK();
}

std::string SandboxScriptPath() {
  if (const char* env = std::getenv("TWOPC_PG_SANDBOX"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::string(TWOPC_SOURCE_DIR) + "/scripts/pg-sandbox";
}

std::string MariaDbSandboxScriptPath() {
  if (const char* env = std::getenv("TWOPC_MARIADB_SANDBOX"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::string(TWOPC_SOURCE_DIR) + "/scripts/mariadb-sandbox";
}

Result<int> RunProgram(const std::vector<std::string>& argv, const std::string& output_path) {
  int out = open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return Status::IOError(output_path + ": " + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out, 1);
  posix_spawn_file_actions_adddup2(&actions, out, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out);
  if (rc != 0) return Status::IOError("cannot run " + argv[0] + ": " + std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::IOError(std::string("waitpid: ") + std::strerror(errno));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result<std::unique_ptr<Sandbox>> Sandbox::Start(const SandboxSpec& spec) {
  char tmpl[] = "/tmp/twopc-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return Status::IOError(std::string("mkdtemp: ") + std::strerror(errno));
  }
  std::unique_ptr<Sandbox> sb(new Sandbox(tmpl));
  std::string dbs;
  for (const auto& d : spec.databases) dbs += (dbs.empty() ? "" : " ") + d;
  // bash runs the script explicitly: a checkout that lost the executable
  // bit still works.
  std::vector<std::string> argv = {"/bin/bash",
                                   SandboxScriptPath(),
                                   "start",
                                   sb->dir_,
                                   "--databases",
                                   dbs,
                                   "--servers",
                                   std::to_string(spec.servers),
                                   "--node-id",
                                   "bench",
                                   "--fsync",
                                   spec.fsync ? "on" : "off",
                                   "--max-connections",
                                   std::to_string(spec.max_connections),
                                   "--max-prepared",
                                   std::to_string(spec.max_prepared > 0 ? spec.max_prepared
                                                                        : spec.max_connections),
                                   "--quiet"};
  std::string log = sb->dir_ + "/pg-sandbox.out";
  auto rc = RunProgram(argv, log);
  if (!rc.ok()) return rc.TakeStatus();
  if (rc.value() != 0) {
    return Status::Unavailable(
        fmt::format("scripts/pg-sandbox start failed (exit {}):\n{}", rc.value(), Tail(log, 4000)));
  }
  if (spec.log_store) {
    if (Status st = WriteConfigLogStore(sb->config_path(), *spec.log_store); !st.ok()) return st;
  }
  if (spec.mariadb > 0) {
    if (Status st = sb->StartMariaDb(spec); !st.ok()) return st;
  }
  return sb;
}

Status Sandbox::StartMariaDb(const SandboxSpec& spec) {
  std::string dbs;
  for (int i = 1; i <= spec.mariadb; ++i) dbs += (i == 1 ? "m" : " m") + std::to_string(i);
  std::vector<std::string> argv = {"/bin/bash",     MariaDbSandboxScriptPath(),
                                   "start",         dir_ + "/mariadb",
                                   "--databases",   dbs,
                                   "--servers",     std::to_string(spec.mariadb),
                                   "--max-connections", std::to_string(spec.max_connections),
                                   "--quiet"};
  // The same durability as the PostgreSQL servers: with fsync on, InnoDB
  // flushes its log at every commit (innodb_flush_log_at_trx_commit=1).
  if (spec.fsync) argv.push_back("--durable");
  mariadb_ = true;  // a failed start may have left servers: the destructor stops them
  std::string log = dir_ + "/mariadb-sandbox.out";
  auto rc = RunProgram(argv, log);
  if (!rc.ok()) return rc.TakeStatus();
  if (rc.value() != 0) {
    return Status::Unavailable(fmt::format("scripts/mariadb-sandbox start failed (exit {}):\n{}",
                                           rc.value(), Tail(log, 4000)));
  }
  std::ifstream in(dir_ + "/mariadb/mariadb-participants.toml");
  if (!in) return Status::IOError("cannot read " + dir_ + "/mariadb/mariadb-participants.toml");
  std::stringstream participants;
  participants << in.rdbuf();
  std::ofstream out(config_path(), std::ios::app);
  out << "\n" << participants.str();
  out.close();
  if (!out) return Status::IOError("cannot append to " + config_path());
  return Status::OK();
}

Sandbox::~Sandbox() {
  bool kept = false;
  if (mariadb_) {
    std::string mlog = dir_ + "/mariadb-sandbox.out";
    auto mrc = RunProgram(
        {"/bin/bash", MariaDbSandboxScriptPath(), "stop", dir_ + "/mariadb", "--quiet"}, mlog);
    if (!mrc.ok() || mrc.value() != 0) {
      fmt::print(stderr, "twopc-bench: stopping the MariaDB sandbox servers failed\n{}\n",
                 Tail(mlog, 2000));
      kept = true;
    }
  }
  std::string log = dir_ + "/pg-sandbox.out";
  auto rc = RunProgram({"/bin/bash", SandboxScriptPath(), "stop", dir_, "--quiet"}, log);
  if (!rc.ok() || rc.value() != 0) {
    // Keep the directory: the servers may still run from it.
    fmt::print(stderr, "twopc-bench: stopping the sandbox servers failed; left {} in place\n{}\n",
               dir_, Tail(log, 2000));
    return;
  }
  if (kept) {
    fmt::print(stderr, "twopc-bench: left {} in place (MariaDB servers may still run from it)\n",
               dir_);
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace twopc::bench
