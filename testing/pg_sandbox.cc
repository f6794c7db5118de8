#include "testing/pg_sandbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
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

// A libpq connection closed at scope exit.
struct Connection {
  explicit Connection(const std::string& conninfo)
      : conn(PQconnectdb((conninfo + " connect_timeout=10 application_name=twopc-test")
                             .c_str())) {}
  ~Connection() { PQfinish(conn); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool ok() const { return conn != nullptr && PQstatus(conn) == CONNECTION_OK; }
  std::string error() const {
    return conn == nullptr ? "out of memory" : PQerrorMessage(conn);
  }

  PGconn* conn;
};

// A PGresult freed at scope exit.
struct Result {
  explicit Result(PGresult* r) : res(r) {}
  ~Result() { PQclear(res); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  ExecStatusType status() const {
    return res == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res);
  }

  PGresult* res;
};

}  // namespace

std::string PgSandbox::ScriptPath() {
  return std::string(TWOPC_SOURCE_DIR) + "/scripts/pg-sandbox";
}

ScriptResult RunBashScript(const std::string& script, const std::vector<std::string>& args,
                           const std::vector<std::string>& extra_env) {
  ScriptResult result;
  char out_path[] = "/tmp/twopc-script-out-XXXXXX";
  int out_fd = mkstemp(out_path);
  if (out_fd < 0) {
    result.output = std::string("mkstemp: ") + std::strerror(errno);
    return result;
  }

  // bash runs the script explicitly so that a lost executable bit (e.g. an
  // archive extracted without modes) does not break the tests.
  std::vector<std::string> argv_strings = {"/bin/bash", script};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = ChildEnvironment(extra_env);
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env_strings);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  posix_spawn_file_actions_addclose(&actions, out_fd);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_fd);
  if (rc != 0) {
    unlink(out_path);
    result.output = std::string("posix_spawn /bin/bash: ") + std::strerror(rc);
    return result;
  }

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      result.output = std::string("waitpid: ") + std::strerror(errno);
      unlink(out_path);
      return result;
    }
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.output = ReadWholeFile(out_path);
  unlink(out_path);
  return result;
}

ScriptResult PgSandbox::RunScript(const std::vector<std::string>& args,
                                  const std::vector<std::string>& extra_env) {
  return RunBashScript(ScriptPath(), args, extra_env);
}

PgSandbox::PgSandbox(std::string dir, std::vector<std::string> databases,
                     SandboxOptions options)
    : dir_(std::move(dir)),
      databases_(std::move(databases)),
      options_(std::move(options)) {}

std::unique_ptr<PgSandbox> PgSandbox::Start(std::vector<std::string> databases,
                                            SandboxOptions opts) {
  // Under /tmp, not $TMPDIR: the socket directory path must stay short.
  char dir_template[] = "/tmp/twopc-sb-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    ADD_FAILURE() << "mkdtemp(/tmp/twopc-sb-XXXXXX): " << std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<PgSandbox> sandbox(
      new PgSandbox(dir_template, std::move(databases), std::move(opts)));
  ScriptResult started = RunScript(sandbox->StartArgs());
  if (started.exit_code != 0) {
    ADD_FAILURE() << "pg-sandbox " << JoinArgs(sandbox->StartArgs())
                  << " failed (exit " << started.exit_code << "):\n"
                  << started.output;
    return nullptr;  // The destructor stops whatever did start.
  }
  if (!sandbox->LoadEnv()) return nullptr;
  return sandbox;
}

PgSandbox::~PgSandbox() {
  ScriptResult stopped = RunScript({"stop", dir_, "--quiet"});
  if (stopped.exit_code != 0) {
    // Removing the data directory of a server still running would only hide
    // the leak; keep everything for inspection.
    ADD_FAILURE() << "pg-sandbox stop " << dir_ << " failed (exit "
                  << stopped.exit_code << "), directory kept:\n"
                  << stopped.output;
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec) {
    ADD_FAILURE() << "cannot remove " << dir_ << ": " << ec.message();
  }
}

std::vector<std::string> PgSandbox::StartArgs() const {
  std::vector<std::string> args = {"start", dir_, "--databases",
                                   JoinArgs(databases_)};
  if (options_.servers > 0) {
    args.insert(args.end(), {"--servers", std::to_string(options_.servers)});
  }
  args.insert(args.end(),
              {"--max-prepared", std::to_string(options_.max_prepared), "--fsync",
               options_.fsync ? "on" : "off", "--node-id", options_.node_id,
               "--quiet"});
  return args;
}

bool PgSandbox::LoadEnv() {
  const std::string path = dir_ + "/sandbox.env";
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
    if (port(db) <= 0) {
      ADD_FAILURE() << path << " has no port for database " << db;
      return false;
    }
  }
  return true;
}

std::string PgSandbox::EnvValue(const std::string& key) const {
  auto it = env_.find(key);
  return it == env_.end() ? std::string() : it->second;
}

int PgSandbox::port(const std::string& db) const {
  std::string value = EnvValue("DB_" + db + "_PORT");
  return value.empty() ? 0 : std::atoi(value.c_str());
}

int PgSandbox::server_of(const std::string& db) const {
  std::string value = EnvValue("DB_" + db + "_SERVER");
  return value.empty() ? 0 : std::atoi(value.c_str());
}

int PgSandbox::server_count() const {
  return std::atoi(EnvValue("SANDBOX_SERVERS").c_str());
}

std::string PgSandbox::conninfo(const std::string& db) const {
  int p = port(db);
  if (p <= 0) return "";
  return "host=127.0.0.1 port=" + std::to_string(p) + " dbname=" + db +
         " user=postgres";
}

pid_t PgSandbox::PostmasterPid(const std::string& db) const {
  std::string data = EnvValue("SERVER" + std::to_string(server_of(db)) + "_DATA");
  if (data.empty()) return 0;
  std::ifstream in(data + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid)) return 0;
  return static_cast<pid_t>(pid);
}

bool PgSandbox::RunServerCommand(const std::string& db,
                                 const std::vector<std::string>& args) {
  if (server_of(db) == 0) {
    ADD_FAILURE() << "database " << db << " is not in the sandbox " << dir_;
    return false;
  }
  ScriptResult result = RunScript(args);
  if (result.exit_code != 0) {
    ADD_FAILURE() << "pg-sandbox " << JoinArgs(args) << " failed (exit "
                  << result.exit_code << "):\n"
                  << result.output;
    return false;
  }
  return true;
}

bool PgSandbox::CrashServerOf(const std::string& db) {
  return RunServerCommand(db, {"stop", dir_, "--server",
                               std::to_string(server_of(db)), "--mode",
                               "immediate", "--quiet"});
}

bool PgSandbox::StopServerOf(const std::string& db) {
  return RunServerCommand(db, {"stop", dir_, "--server",
                               std::to_string(server_of(db)), "--mode", "fast",
                               "--quiet"});
}

bool PgSandbox::RestartServerOf(const std::string& db) {
  return RunServerCommand(
      db, {"start-server", dir_, std::to_string(server_of(db)), "--quiet"});
}

bool PgSandbox::StartAgain() {
  ScriptResult result = RunScript(StartArgs());
  if (result.exit_code != 0) {
    ADD_FAILURE() << "pg-sandbox " << JoinArgs(StartArgs()) << " failed (exit "
                  << result.exit_code << "):\n"
                  << result.output;
    return false;
  }
  return LoadEnv();
}

bool PgSandbox::TryExec(const std::string& db, const std::string& sql,
                        std::string* error) {
  Connection c(conninfo(db));
  if (!c.ok()) {
    if (error != nullptr) *error = c.error();
    return false;
  }
  Result r(PQexec(c.conn, sql.c_str()));
  if (r.status() != PGRES_COMMAND_OK && r.status() != PGRES_TUPLES_OK) {
    if (error != nullptr) *error = c.error();
    return false;
  }
  return true;
}

void PgSandbox::Exec(const std::string& db, const std::string& sql) {
  std::string error;
  if (!TryExec(db, sql, &error)) {
    ADD_FAILURE() << "on " << db << ": " << sql << "\n" << error;
  }
}

std::vector<std::vector<std::string>> PgSandbox::Query(const std::string& db,
                                                       const std::string& sql) {
  std::vector<std::vector<std::string>> rows;
  Connection c(conninfo(db));
  if (!c.ok()) {
    ADD_FAILURE() << "cannot connect to " << db << ": " << c.error();
    return rows;
  }
  Result r(PQexec(c.conn, sql.c_str()));
  if (r.status() != PGRES_TUPLES_OK && r.status() != PGRES_COMMAND_OK) {
    ADD_FAILURE() << "on " << db << ": " << sql << "\n" << c.error();
    return rows;
  }
  const int n_rows = PQntuples(r.res);
  const int n_cols = PQnfields(r.res);
  rows.reserve(n_rows);
  for (int i = 0; i < n_rows; ++i) {
    std::vector<std::string> row;
    row.reserve(n_cols);
    for (int j = 0; j < n_cols; ++j) {
      row.emplace_back(PQgetvalue(r.res, i, j), PQgetlength(r.res, i, j));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

int64_t PgSandbox::QueryInt(const std::string& db, const std::string& sql) {
  std::vector<std::vector<std::string>> rows = Query(db, sql);
  if (rows.size() != 1 || rows[0].size() != 1) {
    ADD_FAILURE() << "on " << db << ": " << sql
                  << "\nexpected one row with one column, got " << rows.size()
                  << " rows";
    return -1;
  }
  const std::string& text = rows[0][0];
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0) {
    ADD_FAILURE() << "on " << db << ": " << sql << "\nnot an integer: '" << text
                  << "'";
    return -1;
  }
  return value;
}

int64_t PgSandbox::PreparedCount(const std::string& db) {
  return QueryInt(db,
                  "SELECT count(*) FROM pg_prepared_xacts "
                  "WHERE database = current_database()");
}

bool IsProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0) return errno == EPERM;  // EPERM: exists, not ours.
  // /proc/PID/stat: "pid (comm) S ..."; comm may contain spaces and
  // parentheses, so the state is the first field after the last ')'.
  std::string stat = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return true;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

ScopedBlackholeServer::ScopedBlackholeServer() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // The kernel picks a free port.
  socklen_t len = sizeof(addr);
  // A full backlog makes the handshake itself hang; a large one keeps the
  // behaviour uniform: every connect succeeds and then nothing ever answers.
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd_, SOMAXCONN) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "black hole socket on 127.0.0.1: " << std::strerror(errno);
    close(fd_);
    fd_ = -1;
    return;
  }
  port_ = ntohs(addr.sin_port);
}

ScopedBlackholeServer::~ScopedBlackholeServer() {
  if (fd_ >= 0) close(fd_);
}

std::string ScopedBlackholeServer::conninfo(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + dbname +
         " user=postgres";
}

}  // namespace twopc::testing
