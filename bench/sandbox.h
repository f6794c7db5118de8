// --sandbox N: throwaway PostgreSQL servers for one bench invocation,
// started and stopped with the project's scripts/pg-sandbox.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc::bench {

struct SandboxSpec {
  int servers = 3;
  std::vector<std::string> databases;  // spread round robin over the servers
  bool fsync = true;
  int max_connections = 200;  // per server; max_prepared_transactions follows it
  int max_prepared = 0;       // unless set here (recovery backlogs need more)
  // Written into the generated config's [log] section (--log-store); unset:
  // the script's default (the SQLite log next to the config).
  std::optional<LogStore> log_store;
  // MariaDB databases m1..mN, one server each (scripts/mariadb-sandbox in
  // DIR/mariadb), appended to DIR/twopc.toml as kind = "mariadb"
  // participants; durable (--durable) when `fsync` is on.
  int mariadb = 0;
};

// Sets `store = "..."` in the [log] section of the TOML config at `path` (a
// [log] section is added if missing). With postgres, the SQLite log's keys
// (path, group_commit_window_us, max_batch) are dropped from that section:
// the config reader refuses them with that store.
Status WriteConfigLogStore(const std::string& path, LogStore store);

class Sandbox {
 public:
  // Starts the servers in a new /tmp/twopc-bench-XXXXXX directory (short:
  // unix socket paths must fit) and writes DIR/twopc.toml.
  static Result<std::unique_ptr<Sandbox>> Start(const SandboxSpec& spec);
  // Stops every server and removes the directory.
  ~Sandbox();

  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const std::string& dir() const { return dir_; }
  std::string config_path() const { return dir_ + "/twopc.toml"; }

 private:
  explicit Sandbox(std::string dir) : dir_(std::move(dir)) {}
  // Starts the MariaDB servers and appends their participants to the config.
  Status StartMariaDb(const SandboxSpec& spec);
  std::string dir_;
  bool mariadb_ = false;  // DIR/mariadb holds servers to stop
};

// scripts/pg-sandbox of the source tree this bench was built from, or
// $TWOPC_PG_SANDBOX when set (an installed bench run from elsewhere).
std::string SandboxScriptPath();
// scripts/mariadb-sandbox, or $TWOPC_MARIADB_SANDBOX when set.
std::string MariaDbSandboxScriptPath();

// Runs `argv` (argv[0] a path) with stdin from /dev/null and stdout+stderr
// appended to `output_path` -- a file, not a pipe: a postmaster inheriting a
// pipe would keep the reader waiting for end of file. Returns the exit code.
Result<int> RunProgram(const std::vector<std::string>& argv, const std::string& output_path);

}  // namespace twopc::bench
