// Throwaway MariaDB 10.11 servers for integration tests of MariaDB XA
// participants: the sibling of PgSandbox (testing/pg_sandbox.h).
//
// MariaDbSandbox drives scripts/mariadb-sandbox: it starts real servers in a
// fresh /tmp/twopc-msb-XXXXXX directory (short, so that unix socket paths
// fit), on free loopback ports, with the databases and the account
// twopc/twopc (ALL on those databases, no global privilege), and stops them
// and removes the directory when destroyed. Participants crash for real
// (`kill -9` of mariadbd); prepared XA branches survive it.
//
// Error policy: every failure is reported with GoogleTest's ADD_FAILURE()
// (with the script's output or the client library's message) and the call
// returns a neutral value: Start() returns nullptr, Query() an empty result,
// QueryInt() -1, the bool-returning verbs false. Tests therefore write
//   auto sb = MariaDbSandbox::Start({"billing", "ledger"});
//   ASSERT_NE(sb, nullptr);
// The SQL helpers are blocking (MariaDB Connector/C), open one connection per
// call, log in as twopc and are meant for test setup and verification only,
// never for the code under test. Each call is one session: its connection is
// closed when it returns, which is itself a client disconnect (an XA branch
// left ACTIVE or IDLE is rolled back then; a PREPARED one survives it).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "testing/pg_sandbox.h"  // ScriptResult

namespace twopc::testing {

struct MariaDbSandboxOptions {
  // Number of servers; 0 = one per database. Databases are spread round
  // robin: server 1 gets database 1, server 2 database 2, ...
  int servers = 0;
  int max_connections = 200;
  // Off by default: innodb_flush_log_at_trx_commit=2 and no doublewrite lose
  // data only on an OS crash, never on the process crashes tests simulate.
  bool durable = false;
};

class MariaDbSandbox {
 public:
  // What Query() returns for an SQL NULL (the client's convention in
  // LOAD DATA / SELECT ... INTO OUTFILE): a two-character string that no
  // test stores by accident.
  static constexpr char kNull[] = "\\N";
  static constexpr char kUser[] = "twopc";
  static constexpr char kPassword[] = "twopc";

  static std::unique_ptr<MariaDbSandbox> Start(std::vector<std::string> databases,
                                               MariaDbSandboxOptions opts = {});

  // Stops every server (clean shutdown) and removes the directory. If a
  // server cannot be stopped, the directory is kept for inspection and the
  // test fails.
  ~MariaDbSandbox();

  MariaDbSandbox(const MariaDbSandbox&) = delete;
  MariaDbSandbox& operator=(const MariaDbSandbox&) = delete;

  const std::string& dir() const { return dir_; }
  // DIR/mariadb-participants.toml: one [[participants]] (kind = "mariadb")
  // per database, for a test to append to its config.
  std::string participants_path() const { return dir_ + "/mariadb-participants.toml"; }
  const std::vector<std::string>& databases() const { return databases_; }
  const MariaDbSandboxOptions& options() const { return options_; }
  // "host=127.0.0.1 port=P user=twopc password=twopc dbname=DB"; "" for an
  // unknown db.
  std::string conninfo(const std::string& db) const;
  // TCP port of server `server` (1-based); 0 for an unknown server.
  int port(int server) const;
  // 1-based number of the server holding `db`; 0 for an unknown db.
  int server_of(const std::string& db) const;
  int server_count() const;
  // The pid of server `server`'s mariadbd, 0 if it is not running (as of the
  // sandbox's last start, stop or start of a server).
  pid_t ServerPid(int server) const;

  // Stops server `server`: a clean shutdown, or with `kill` a kill -9 (a
  // participant crash). Every database of that server goes down with it.
  // Stopping a stopped server is no error.
  bool StopServer(int server, bool kill);
  // Starts that server again on the same port and data directory; InnoDB
  // runs crash recovery first, so prepared XA branches survive.
  bool StartServer(int server);

  void Exec(const std::string& db, const std::string& sql);
  // Like Exec, for statements expected to fail: returns false and the error
  // ("ERROR 1397 (XAE04): XAER_NOTA: Unknown XID") and its number instead of
  // failing the test. `sql` may hold several statements separated by ';'
  // (they run in one session; the first failure ends it).
  bool TryExec(const std::string& db, const std::string& sql, std::string* error = nullptr,
               unsigned* error_number = nullptr);
  // Rows of the last result set of `sql` as text; SQL NULL reads as kNull.
  std::vector<std::vector<std::string>> Query(const std::string& db, const std::string& sql);
  // The single value of a one-row, one-column result.
  int64_t QueryInt(const std::string& db, const std::string& sql);

  // Path of scripts/mariadb-sandbox in the source tree.
  static std::string ScriptPath();
  // Runs scripts/mariadb-sandbox with `args`; `extra_env` holds "NAME=value"
  // entries added to (or replacing in) the inherited environment. Output goes
  // through a file, not a pipe, so that a server inheriting it could never
  // keep the caller waiting for end of file.
  static ScriptResult RunScript(const std::vector<std::string>& args,
                                const std::vector<std::string>& extra_env = {});

 private:
  MariaDbSandbox(std::string dir, std::vector<std::string> databases,
                 MariaDbSandboxOptions options);
  std::vector<std::string> StartArgs() const;
  // Reads DIR/mariadb.env written by the script into env_.
  bool LoadEnv();
  std::string EnvValue(const std::string& key) const;
  bool RunServerCommand(int server, const std::vector<std::string>& args);

  std::string dir_;
  std::vector<std::string> databases_;
  MariaDbSandboxOptions options_;
  std::map<std::string, std::string> env_;
};

}  // namespace twopc::testing
