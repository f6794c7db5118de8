#include "testing/mariadb_sandbox.h"

#include <fcntl.h>
#include <mysql.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include <gtest/gtest.h>

#include "testing/child_process.h"

namespace twopc::testing {
namespace {

using support::ChildEnvironment;
using support::CStrings;

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string JoinArgs(const std::vector<std::string>& args) {
  std::string joined;
  for (const std::string& arg : args) {
    if (!joined.empty()) joined += ' ';
    joined += arg;
  }
  return joined;
}

// "ERROR 1397 (XAE04): XAER_NOTA: Unknown XID", the mariadb client's format.
std::string ErrorText(MYSQL* conn) {
  return "ERROR " + std::to_string(mysql_errno(conn)) + " (" + mysql_sqlstate(conn) +
         "): " + mysql_error(conn);
}

// A Connector/C connection as twopc to one database, closed at scope exit.
// Multi-statement strings are allowed so that one helper call can hold a whole
// session (XA START ... XA PREPARE).
struct Connection {
  Connection(int port, const std::string& db) : conn(mysql_init(nullptr)) {
    if (conn == nullptr) return;
    const unsigned int connect_timeout = 10;
    // Bounds every read: a test must fail, not hang, when a server stops
    // answering (a statement waits at most innodb_lock_wait_timeout, 50 s).
    const unsigned int read_timeout = 120;
    mysql_options(conn, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(conn, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
    mysql_options(conn, MYSQL_OPT_WRITE_TIMEOUT, &read_timeout);
    connected = mysql_real_connect(
                    conn, "127.0.0.1", MariaDbSandbox::kUser, MariaDbSandbox::kPassword, db.c_str(),
                    static_cast<unsigned int>(port), nullptr, CLIENT_MULTI_STATEMENTS) != nullptr;
  }
  ~Connection() {
    if (conn != nullptr) mysql_close(conn);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool ok() const { return conn != nullptr && connected; }
  std::string error() const { return conn == nullptr ? "out of memory" : ErrorText(conn); }

  MYSQL* conn;
  bool connected = false;
};

// A MYSQL_RES freed at scope exit.
struct Result {
  explicit Result(MYSQL_RES* r) : res(r) {}
  ~Result() {
    if (res != nullptr) mysql_free_result(res);
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  MYSQL_RES* res;
};

using Rows = std::vector<std::vector<std::string>>;

// Runs every statement of `sql` and keeps the rows of the last result set in
// `rows` (if given). Stops at the first failing statement: Connector/C
// reports it either from mysql_real_query (the first statement) or from
// mysql_next_result (a later one).
bool RunStatements(Connection& c, const std::string& sql, Rows* rows, std::string* error,
                   unsigned* error_number) {
  auto fail = [&] {
    if (error != nullptr) *error = c.error();
    if (error_number != nullptr) *error_number = mysql_errno(c.conn);
    return false;
  };
  if (mysql_real_query(c.conn, sql.data(), sql.size()) != 0) return fail();
  while (true) {
    Result r(mysql_store_result(c.conn));
    if (r.res != nullptr) {
      if (rows != nullptr) {
        rows->clear();
        const unsigned int n_cols = mysql_num_fields(r.res);
        while (MYSQL_ROW row = mysql_fetch_row(r.res)) {
          const unsigned long* lengths = mysql_fetch_lengths(r.res);
          std::vector<std::string> values;
          values.reserve(n_cols);
          for (unsigned int j = 0; j < n_cols; ++j) {
            values.emplace_back(row[j] == nullptr ? std::string(MariaDbSandbox::kNull)
                                                  : std::string(row[j], lengths[j]));
          }
          rows->push_back(std::move(values));
        }
      }
    } else if (mysql_field_count(c.conn) != 0) {
      return fail();  // A result set was due but could not be read.
    }
    const int next = mysql_next_result(c.conn);
    if (next > 0) return fail();
    if (next < 0) return true;
  }
}

}  // namespace

std::string MariaDbSandbox::ScriptPath() {
  return std::string(TWOPC_SOURCE_DIR) + "/scripts/mariadb-sandbox";
}

ScriptResult MariaDbSandbox::RunScript(const std::vector<std::string>& args,
                                       const std::vector<std::string>& extra_env) {
  return RunBashScript(ScriptPath(), args, extra_env);
}

MariaDbSandbox::MariaDbSandbox(std::string dir, std::vector<std::string> databases,
                               MariaDbSandboxOptions options)
    : dir_(std::move(dir)), databases_(std::move(databases)), options_(std::move(options)) {}

std::unique_ptr<MariaDbSandbox> MariaDbSandbox::Start(std::vector<std::string> databases,
                                                      MariaDbSandboxOptions opts) {
  // Under /tmp, not $TMPDIR: the socket paths must stay short.
  char dir_template[] = "/tmp/twopc-msb-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    ADD_FAILURE() << "mkdtemp(/tmp/twopc-msb-XXXXXX): " << std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<MariaDbSandbox> sandbox(
      new MariaDbSandbox(dir_template, std::move(databases), std::move(opts)));
  ScriptResult started = RunScript(sandbox->StartArgs());
  if (started.exit_code != 0) {
    ADD_FAILURE() << "mariadb-sandbox " << JoinArgs(sandbox->StartArgs()) << " failed (exit "
                  << started.exit_code << "):\n"
                  << started.output;
    return nullptr;  // The destructor stops whatever did start.
  }
  if (!sandbox->LoadEnv()) return nullptr;
  return sandbox;
}

MariaDbSandbox::~MariaDbSandbox() {
  ScriptResult stopped = RunScript({"stop", dir_, "--quiet"});
  if (stopped.exit_code != 0) {
    // Removing the data directory of a server still running would only hide
    // the leak; keep everything for inspection.
    ADD_FAILURE() << "mariadb-sandbox stop " << dir_ << " failed (exit " << stopped.exit_code
                  << "), directory kept:\n"
                  << stopped.output;
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec) {
    ADD_FAILURE() << "cannot remove " << dir_ << ": " << ec.message();
  }
}

std::vector<std::string> MariaDbSandbox::StartArgs() const {
  std::vector<std::string> args = {"start", dir_, "--databases", JoinArgs(databases_)};
  if (options_.servers > 0) {
    args.insert(args.end(), {"--servers", std::to_string(options_.servers)});
  }
  args.insert(args.end(), {"--max-connections", std::to_string(options_.max_connections)});
  if (options_.durable) args.emplace_back("--durable");
  args.emplace_back("--quiet");
  return args;
}

bool MariaDbSandbox::LoadEnv() {
  const std::string path = dir_ + "/mariadb.env";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return false;
  }
  // The script writes NAME=value or NAME='value' lines, with no quotes inside
  // values, so that this simple reader suffices.
  env_.clear();
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    env_[line.substr(0, eq)] = value;
  }
  for (const std::string& db : databases_) {
    if (port(server_of(db)) <= 0) {
      ADD_FAILURE() << path << " has no port for database " << db;
      return false;
    }
  }
  return true;
}

std::string MariaDbSandbox::EnvValue(const std::string& key) const {
  auto it = env_.find(key);
  return it == env_.end() ? std::string() : it->second;
}

int MariaDbSandbox::port(int server) const {
  std::string value = EnvValue("MARIADB_SERVER" + std::to_string(server) + "_PORT");
  return value.empty() ? 0 : std::atoi(value.c_str());
}

int MariaDbSandbox::server_of(const std::string& db) const {
  std::string value = EnvValue("MARIADB_DB_" + db + "_SERVER");
  return value.empty() ? 0 : std::atoi(value.c_str());
}

int MariaDbSandbox::server_count() const { return std::atoi(EnvValue("MARIADB_SERVERS").c_str()); }

pid_t MariaDbSandbox::ServerPid(int server) const {
  std::string value = EnvValue("MARIADB_SERVER" + std::to_string(server) + "_PID");
  return value.empty() ? 0 : static_cast<pid_t>(std::atol(value.c_str()));
}

std::string MariaDbSandbox::conninfo(const std::string& db) const {
  int p = port(server_of(db));
  if (p <= 0) return "";
  return "host=127.0.0.1 port=" + std::to_string(p) + " user=" + kUser + " password=" + kPassword +
         " dbname=" + db;
}

bool MariaDbSandbox::RunServerCommand(int server, const std::vector<std::string>& args) {
  if (server < 1 || server > server_count()) {
    ADD_FAILURE() << "no server " << server << " in the sandbox " << dir_;
    return false;
  }
  ScriptResult result = RunScript(args);
  if (result.exit_code != 0) {
    ADD_FAILURE() << "mariadb-sandbox " << JoinArgs(args) << " failed (exit " << result.exit_code
                  << "):\n"
                  << result.output;
    return false;
  }
  // The script rewrote mariadb.env with the server's new pid.
  return LoadEnv();
}

bool MariaDbSandbox::StopServer(int server, bool kill) {
  return RunServerCommand(server, {"stop", dir_, "--server", std::to_string(server), "--mode",
                                   kill ? "kill" : "fast", "--quiet"});
}

bool MariaDbSandbox::StartServer(int server) {
  return RunServerCommand(server, {"start-server", dir_, std::to_string(server), "--quiet"});
}

bool MariaDbSandbox::TryExec(const std::string& db, const std::string& sql, std::string* error,
                             unsigned* error_number) {
  Connection c(port(server_of(db)), db);
  if (!c.ok()) {
    if (error != nullptr) *error = c.error();
    if (error_number != nullptr) *error_number = c.conn == nullptr ? 0 : mysql_errno(c.conn);
    return false;
  }
  return RunStatements(c, sql, nullptr, error, error_number);
}

void MariaDbSandbox::Exec(const std::string& db, const std::string& sql) {
  std::string error;
  if (!TryExec(db, sql, &error)) {
    ADD_FAILURE() << "on " << db << ": " << sql << "\n" << error;
  }
}

std::vector<std::vector<std::string>> MariaDbSandbox::Query(const std::string& db,
                                                            const std::string& sql) {
  Rows rows;
  Connection c(port(server_of(db)), db);
  if (!c.ok()) {
    ADD_FAILURE() << "cannot connect to " << db << ": " << c.error();
    return rows;
  }
  std::string error;
  if (!RunStatements(c, sql, &rows, &error, nullptr)) {
    ADD_FAILURE() << "on " << db << ": " << sql << "\n" << error;
    return {};
  }
  return rows;
}

int64_t MariaDbSandbox::QueryInt(const std::string& db, const std::string& sql) {
  Rows rows = Query(db, sql);
  if (rows.size() != 1 || rows[0].size() != 1) {
    ADD_FAILURE() << "on " << db << ": " << sql << "\nexpected one row with one column, got "
                  << rows.size() << " rows";
    return -1;
  }
  const std::string& text = rows[0][0];
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0) {
    ADD_FAILURE() << "on " << db << ": " << sql << "\nnot an integer: '" << text << "'";
    return -1;
  }
  return value;
}

}  // namespace twopc::testing
