// The `twopc` CLI test fixture, shared by the cli_test sources: runs the
// real binary against real PostgreSQL servers (one sandbox for the suite).
//
// Every test writes its own config with its own decision log, so that a
// heuristic record or a decision one test leaves behind never changes
// another's exit codes; the servers are shared and every test rolls back
// what it left prepared.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pty.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/pg_sandbox.h"
#include "twopc/decision_log.h"
#include "twopc/gid.h"

extern char** environ;

namespace twopc::clitest {

using ::twopc::testing::PgSandbox;

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The inherited environment without TWOPC_CONFIG and NO_COLOR (a developer's
// shell may set them), plus `extra` ("NAME=value").
inline std::vector<std::string> ChildEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    if (entry.rfind("TWOPC_CONFIG=", 0) == 0 || entry.rfind("NO_COLOR=", 0) == 0) continue;
    env.push_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

inline std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Runs the twopc binary with stdout and stderr going to files (or stdout to
// `stdout_fd` when >= 0, e.g. a pseudo-terminal).
inline CliResult RunCli(std::vector<std::string> args, const std::string& scratch_dir,
                        std::vector<std::string> extra_env = {}, int stdout_fd = -1) {
  args.insert(args.begin(), TWOPC_CLI_PATH);
  std::vector<std::string> env = ChildEnv(extra_env);
  std::vector<char*> argv = CStrings(args);
  std::vector<char*> envp = CStrings(env);
  std::string out_path = scratch_dir + "/cli.out";
  std::string err_path = scratch_dir + "/cli.err";
  int out_fd =
      stdout_fd >= 0 ? stdout_fd : open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CliResult result;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (stdout_fd < 0) close(out_fd);
  close(err_fd);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  if (stdout_fd < 0) result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

inline std::string Show(const CliResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

inline nlohmann::json ParseJson(const CliResult& r) {
  auto doc = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(doc.is_discarded()) << "not one JSON document:\n" << Show(r);
  return doc;
}

inline bool Contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// A port nothing listens on: bound, then closed.
inline int DeadPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sandbox_ = PgSandbox::Start({"a", "b"}).release();
    if (sandbox_ == nullptr) return;
    sandbox_->Exec("a", "CREATE TABLE t(id int PRIMARY KEY, v int)");
    sandbox_->Exec("b", "CREATE TABLE u(id int PRIMARY KEY, v int)");
  }
  static void TearDownTestSuite() {
    delete sandbox_;
    sandbox_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(sandbox_, nullptr) << "the PostgreSQL sandbox did not start";
    name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    log_path_ = sandbox_->dir() + "/" + name_ + ".db";
    config_path_ = sandbox_->dir() + "/" + name_ + ".toml";
    WriteConfig(config_path_, "");
    // The coordinator creates its log at its first start; operator commands
    // never do. Incarnation 1 is taken here: gids of incarnation 1 belong to
    // a process that is gone by the time a test runs the CLI.
    OpenLog().reset();
  }

  // Every test leaves the servers as it found them, even when it failed.
  void TearDown() override {
    if (sandbox_ == nullptr) return;
    for (const char* db : {"a", "b"}) {
      for (const auto& row : sandbox_->Query(
               db, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")) {
        sandbox_->Exec(db, "ROLLBACK PREPARED '" + Quote(row[0]) + "'");
      }
    }
    sandbox_->Exec("a", "DELETE FROM t");
    sandbox_->Exec("b", "DELETE FROM u");
  }

  static std::string Quote(const std::string& text) {
    std::string out;
    for (char c : text) out += c == '\'' ? "''" : std::string(1, c);
    return out;
  }

  void WriteConfig(const std::string& path, const std::string& extra) {
    WriteConfigWithLog(path, log_path_, extra);
  }

  // A config whose [log] path is `log_path` as written (it may be relative).
  void WriteConfigWithLog(const std::string& path, const std::string& log_path,
                          const std::string& extra = "") {
    std::ofstream out(path);
    out << "node_id = \"" << sandbox_->options().node_id << "\"\n"
        << "[log]\npath = \"" << log_path << "\"\n";
    for (const char* db : {"a", "b"}) {
      out << "\n[[participants]]\nname = \"" << db << "\"\nconninfo = \"" << sandbox_->conninfo(db)
          << "\"\n";
    }
    out << extra;
  }

  CliResult Twopc(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), {"--config", config_path_});
    return RunCli(std::move(args), sandbox_->dir(), std::move(env));
  }

  // PREPAREs a branch that inserts `id` into t (on a) or u (on b).
  void PrepareBranch(const std::string& db, const std::string& gid, int id) {
    std::string table = db == "a" ? "t" : "u";
    sandbox_->Exec(db, "BEGIN; INSERT INTO " + table + " VALUES (" + std::to_string(id) +
                           ", 0); PREPARE TRANSACTION '" + Quote(gid) + "'");
  }

  bool IsPrepared(const std::string& db, const std::string& gid) {
    return sandbox_->QueryInt(
               db, "SELECT count(*) FROM pg_prepared_xacts WHERE gid = '" + Quote(gid) + "'") == 1;
  }

  std::unique_ptr<DecisionLog> OpenLog() {
    LogOptions options;
    options.path = log_path_;
    auto log = OpenSqliteDecisionLog(options);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }

  std::string Gid(uint64_t txn, uint32_t branch, uint64_t incarnation = 1) {
    return EncodeGid({sandbox_->options().node_id, incarnation, txn, branch});
  }
  std::string Gtrid(uint64_t txn, uint64_t incarnation = 1) {
    return EncodeGtrid(sandbox_->options().node_id, incarnation, txn);
  }

  static nlohmann::json FindBy(const nlohmann::json& list, const std::string& key,
                               const std::string& value) {
    for (const auto& item : list) {
      if (item.value(key, "") == value) return item;
    }
    return nullptr;
  }

  static inline PgSandbox* sandbox_ = nullptr;
  std::string name_;
  std::string log_path_;
  std::string config_path_;
};

}  // namespace twopc::clitest
