// Throwaway PostgreSQL 15 servers for integration tests.
//
// PgSandbox drives scripts/pg-sandbox: it starts real servers in a fresh
// /tmp/twopc-sb-XXXXXX directory (short, so that unix socket paths fit), on
// free loopback ports, with max_prepared_transactions set, and stops them and
// removes the directory when destroyed. Participants crash for real
// (`pg_ctl stop -m immediate`).
//
// Error policy: every failure is reported with GoogleTest's ADD_FAILURE()
// (with the script's output or libpq's message) and the call returns a
// neutral value: Start() returns nullptr, Query() an empty result, QueryInt()
// -1, the bool-returning verbs false. Tests therefore write
//   auto sb = PgSandbox::Start({"orders", "payments"});
//   ASSERT_NE(sb, nullptr);
// The SQL helpers are blocking, open one connection per call and are meant
// for test setup and verification only, never for the code under test.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace twopc::testing {

struct SandboxOptions {
  // Number of servers; 0 = one per database. Databases are spread round
  // robin: server 1 gets database 1, server 2 database 2, ...
  int servers = 0;
  int max_prepared = 100;
  // Off by default: it only risks data on an OS crash, never on the process
  // crashes the tests simulate, and makes the tests much faster.
  bool fsync = false;
  std::string node_id = "sandbox";
};

// Exit code and combined stdout+stderr of one sandbox script run.
struct ScriptResult {
  int exit_code = -1;
  std::string output;
};

// Runs `script` with bash (so that a lost executable bit does not matter)
// and `args`; `extra_env` holds "NAME=value" entries added to (or replacing
// in) the inherited environment. Output goes through a file, not a pipe, so
// that a server inheriting it could never keep the caller waiting for end of
// file. What every sandbox's RunScript does.
ScriptResult RunBashScript(const std::string& script, const std::vector<std::string>& args,
                           const std::vector<std::string>& extra_env = {});

class PgSandbox {
 public:
  static std::unique_ptr<PgSandbox> Start(std::vector<std::string> databases,
                                          SandboxOptions opts = {});

  // Stops every server (fast) and removes the directory. If a server cannot
  // be stopped, the directory is kept for inspection and the test fails.
  ~PgSandbox();

  PgSandbox(const PgSandbox&) = delete;
  PgSandbox& operator=(const PgSandbox&) = delete;

  const std::string& dir() const { return dir_; }
  // DIR/twopc.toml: node_id, [log] and one [[participants]] per database.
  std::string config_path() const { return dir_ + "/twopc.toml"; }
  const std::vector<std::string>& databases() const { return databases_; }
  const SandboxOptions& options() const { return options_; }
  // "host=127.0.0.1 port=P dbname=DB user=postgres"; "" for an unknown db.
  std::string conninfo(const std::string& db) const;
  int port(const std::string& db) const;
  // 1-based number of the server holding `db`; 0 for an unknown db.
  int server_of(const std::string& db) const;
  int server_count() const;
  // The pid in the postmaster.pid of `db`'s server, 0 if there is none (the
  // server is stopped). Check IsProcessAlive() for a server that crashed.
  pid_t PostmasterPid(const std::string& db) const;

  // `pg_ctl stop -m immediate` of the server holding `db`: a participant
  // crash. Every database of that server goes down with it.
  bool CrashServerOf(const std::string& db);
  // Clean (fast) stop of the server holding `db`.
  bool StopServerOf(const std::string& db);
  // Starts that server again on the same port; it runs crash recovery first,
  // so prepared transactions survive.
  bool RestartServerOf(const std::string& db);
  // Re-runs `start` on the same directory with the same options (reuses the
  // running servers) and reloads the ports.
  bool StartAgain();

  void Exec(const std::string& db, const std::string& sql);
  // Like Exec, for statements expected to fail: returns false and the error
  // message instead of failing the test.
  bool TryExec(const std::string& db, const std::string& sql,
               std::string* error = nullptr);
  // Rows of the result as text; SQL NULL reads as "" (select `x IS NULL`
  // where the difference matters).
  std::vector<std::vector<std::string>> Query(const std::string& db,
                                              const std::string& sql);
  // The single value of a one-row, one-column result.
  int64_t QueryInt(const std::string& db, const std::string& sql);
  // Prepared transactions of `db` (pg_prepared_xacts is server-wide, so the
  // count is restricted to the current database).
  int64_t PreparedCount(const std::string& db);

  // Path of scripts/pg-sandbox in the source tree.
  static std::string ScriptPath();
  // Runs scripts/pg-sandbox with `args`; `extra_env` holds "NAME=value"
  // entries added to (or replacing in) the inherited environment. Output goes
  // through a file, not a pipe, so that a postmaster inheriting it could never
  // keep the caller waiting for end of file.
  static ScriptResult RunScript(const std::vector<std::string>& args,
                                const std::vector<std::string>& extra_env = {});

 private:
  PgSandbox(std::string dir, std::vector<std::string> databases,
            SandboxOptions options);
  std::vector<std::string> StartArgs() const;
  // Reads DIR/sandbox.env written by the script into env_.
  bool LoadEnv();
  std::string EnvValue(const std::string& key) const;
  bool RunServerCommand(const std::string& db,
                        const std::vector<std::string>& args);

  std::string dir_;
  std::vector<std::string> databases_;
  SandboxOptions options_;
  std::map<std::string, std::string> env_;
};

// True while `pid` exists and is not a zombie (a stopped postmaster may stay
// a zombie when the container's init does not reap orphans).
bool IsProcessAlive(pid_t pid);

// A TCP socket listening on a free 127.0.0.1 port that never accepts and
// never answers. The kernel completes the handshake, so a client's connect()
// succeeds and the client then hangs waiting for the server: tests use it as
// an unreachable participant. Failures are ADD_FAILURE()s and leave port() 0.
class ScopedBlackholeServer {
 public:
  ScopedBlackholeServer();
  ~ScopedBlackholeServer();

  ScopedBlackholeServer(const ScopedBlackholeServer&) = delete;
  ScopedBlackholeServer& operator=(const ScopedBlackholeServer&) = delete;

  int port() const { return port_; }
  // A PostgreSQL conninfo pointing at the black hole.
  std::string conninfo(const std::string& dbname = "blackhole") const;

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace twopc::testing
