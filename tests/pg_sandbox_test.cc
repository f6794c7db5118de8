// Integration tests of scripts/pg-sandbox and the PgSandbox fixture against
// real PostgreSQL 15 servers: everything the other integration, crash and
// benchmark tests rely on (ports, config, 2PC settings, crashes, cleanup).
#include "testing/pg_sandbox.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace twopc::testing {
namespace {

// EXPECT_TRUE(Contains(text, part)) prints both on failure (gmock's
// HasSubstr without linking gmock).
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not found in:\n" << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(PgSandbox, TwoServersServeBothDatabases) {
  auto sb = PgSandbox::Start({"a", "b"});
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->server_count(), 2);
  EXPECT_EQ(sb->server_of("a"), 1);
  EXPECT_EQ(sb->server_of("b"), 2);
  EXPECT_GT(sb->port("a"), 0);
  EXPECT_GT(sb->port("b"), 0);
  EXPECT_NE(sb->port("a"), sb->port("b"));

  for (const std::string db : {"a", "b"}) {
    sb->Exec(db, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    sb->Exec(db, "INSERT INTO t VALUES (1, '" + db + "'), (2, NULL)");
    auto rows = sb->Query(db, "SELECT id, v, current_database() FROM t ORDER BY id");
    ASSERT_EQ(rows.size(), 2u) << db;
    EXPECT_EQ(rows[0], (std::vector<std::string>{"1", db, db}));
    EXPECT_EQ(rows[1], (std::vector<std::string>{"2", "", db}));
    EXPECT_EQ(sb->QueryInt(db, "SELECT count(*) FROM t"), 2);
  }
  // Each database lives on its own server.
  EXPECT_EQ(sb->QueryInt("a", "SELECT count(*) FROM pg_database WHERE datname = 'b'"), 0);
  EXPECT_EQ(sb->conninfo("a"), "host=127.0.0.1 port=" + std::to_string(sb->port("a")) +
                                   " dbname=a user=postgres");
}

TEST(PgSandbox, ConfigListsEveryParticipantWithItsPort) {
  SandboxOptions opts;
  opts.node_id = "node-7";
  auto sb = PgSandbox::Start({"a", "b"}, opts);
  ASSERT_NE(sb, nullptr);
  const std::string toml = ReadFile(sb->config_path());
  EXPECT_TRUE(Contains(toml, "node_id = \"node-7\"\n"));
  EXPECT_TRUE(Contains(toml, "[log]\npath = \"twopc-decisions.db\"\n"));
  const std::string a = "[[participants]]\nname = \"a\"\nconninfo = \"" + sb->conninfo("a") + "\"\n";
  const std::string b = "[[participants]]\nname = \"b\"\nconninfo = \"" + sb->conninfo("b") + "\"\n";
  ASSERT_TRUE(Contains(toml, a));
  ASSERT_TRUE(Contains(toml, b));
  // Participants keep the order of the databases.
  EXPECT_LT(toml.find(a), toml.find(b));
}

TEST(PgSandbox, DatabasesSpreadRoundRobinOverFewerServers) {
  SandboxOptions opts;
  opts.servers = 2;
  auto sb = PgSandbox::Start({"x", "y", "z"}, opts);
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->server_count(), 2);
  EXPECT_EQ(sb->server_of("x"), 1);
  EXPECT_EQ(sb->server_of("y"), 2);
  EXPECT_EQ(sb->server_of("z"), 1);
  EXPECT_EQ(sb->port("x"), sb->port("z"));
  EXPECT_NE(sb->port("x"), sb->port("y"));
  for (const std::string db : {"x", "y", "z"}) {
    EXPECT_EQ(sb->Query(db, "SELECT current_database()"),
              (std::vector<std::vector<std::string>>{{db}}));
  }
}

TEST(PgSandbox, ServersAreConfiguredForTwoPhaseCommit) {
  auto sb = PgSandbox::Start({"a"});
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->QueryInt("a", "SHOW max_prepared_transactions"), 100);
  EXPECT_EQ(sb->QueryInt("a", "SHOW max_connections"), 200);
  EXPECT_EQ(sb->Query("a", "SHOW fsync"), (std::vector<std::vector<std::string>>{{"off"}}));
  EXPECT_EQ(sb->Query("a", "SHOW listen_addresses"),
            (std::vector<std::vector<std::string>>{{"127.0.0.1"}}));
  EXPECT_TRUE(std::filesystem::exists(sb->dir() + "/server1/postgres.log"));
}

TEST(PgSandbox, PrepareTransactionIsCountedAndRolledBack) {
  auto sb = PgSandbox::Start({"a", "b"});
  ASSERT_NE(sb, nullptr);
  sb->Exec("a", "CREATE TABLE t (id int)");
  sb->Exec("a", "BEGIN; INSERT INTO t VALUES (1); PREPARE TRANSACTION 'sandbox-test-1'");
  EXPECT_EQ(sb->PreparedCount("a"), 1);
  EXPECT_EQ(sb->PreparedCount("b"), 0);
  EXPECT_EQ(sb->Query("a", "SELECT gid FROM pg_prepared_xacts"),
            (std::vector<std::vector<std::string>>{{"sandbox-test-1"}}));
  // Not visible before the decision.
  EXPECT_EQ(sb->QueryInt("a", "SELECT count(*) FROM t"), 0);

  sb->Exec("a", "ROLLBACK PREPARED 'sandbox-test-1'");
  EXPECT_EQ(sb->PreparedCount("a"), 0);
  EXPECT_EQ(sb->QueryInt("a", "SELECT count(*) FROM t"), 0);
}

TEST(PgSandbox, CrashAndRestartKeepDataPreparedTransactionsAndPort) {
  auto sb = PgSandbox::Start({"a", "b"});
  ASSERT_NE(sb, nullptr);
  const int port_a = sb->port("a");
  const pid_t pid_a = sb->PostmasterPid("a");
  ASSERT_GT(pid_a, 0);
  ASSERT_TRUE(IsProcessAlive(pid_a));

  sb->Exec("a", "CREATE TABLE t (id int)");
  sb->Exec("a", "INSERT INTO t VALUES (1)");
  sb->Exec("a", "BEGIN; INSERT INTO t VALUES (2); PREPARE TRANSACTION 'sandbox-crash-1'");

  ASSERT_TRUE(sb->CrashServerOf("a"));
  EXPECT_FALSE(IsProcessAlive(pid_a));
  EXPECT_EQ(sb->PostmasterPid("a"), 0);
  std::string error;
  EXPECT_FALSE(sb->TryExec("a", "SELECT 1", &error));
  EXPECT_FALSE(error.empty());
  // The other participant is unaffected.
  EXPECT_EQ(sb->QueryInt("b", "SELECT 1"), 1);
  ScriptResult status = PgSandbox::RunScript({"status", sb->dir()});
  EXPECT_EQ(status.exit_code, 1) << status.output;
  EXPECT_TRUE(Contains(status.output, "stopped"));

  ASSERT_TRUE(sb->RestartServerOf("a"));
  EXPECT_EQ(sb->port("a"), port_a);
  EXPECT_GT(sb->PostmasterPid("a"), 0);
  EXPECT_NE(sb->PostmasterPid("a"), pid_a);
  EXPECT_EQ(sb->QueryInt("a", "SELECT count(*) FROM t"), 1);
  // A prepared transaction survives the crash: what 2PC recovery relies on.
  EXPECT_EQ(sb->PreparedCount("a"), 1);
  sb->Exec("a", "COMMIT PREPARED 'sandbox-crash-1'");
  EXPECT_EQ(sb->QueryInt("a", "SELECT count(*) FROM t"), 2);
  status = PgSandbox::RunScript({"status", sb->dir()});
  EXPECT_EQ(status.exit_code, 0) << status.output;

  // A clean stop and a restart of an already running server are no errors.
  ASSERT_TRUE(sb->StopServerOf("b"));
  ASSERT_TRUE(sb->StopServerOf("b"));
  ASSERT_TRUE(sb->RestartServerOf("b"));
  ASSERT_TRUE(sb->RestartServerOf("b"));
  EXPECT_EQ(sb->QueryInt("b", "SELECT 1"), 1);
}

TEST(PgSandbox, RerunningStartReusesRunningServers) {
  auto sb = PgSandbox::Start({"a", "b"});
  ASSERT_NE(sb, nullptr);
  const int port_a = sb->port("a"), port_b = sb->port("b");
  const pid_t pid_a = sb->PostmasterPid("a"), pid_b = sb->PostmasterPid("b");
  sb->Exec("b", "CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)");

  ASSERT_TRUE(sb->StartAgain());
  EXPECT_EQ(sb->port("a"), port_a);
  EXPECT_EQ(sb->port("b"), port_b);
  EXPECT_EQ(sb->PostmasterPid("a"), pid_a);
  EXPECT_EQ(sb->PostmasterPid("b"), pid_b);
  EXPECT_EQ(sb->QueryInt("b", "SELECT id FROM kept"), 42);

  // A stopped server is started again on its recorded port.
  ASSERT_TRUE(sb->CrashServerOf("b"));
  ASSERT_TRUE(sb->StartAgain());
  EXPECT_EQ(sb->port("b"), port_b);
  EXPECT_EQ(sb->QueryInt("b", "SELECT id FROM kept"), 42);
}

TEST(PgSandbox, MaxPreparedZeroDisablesPrepare) {
  SandboxOptions opts;
  opts.max_prepared = 0;
  auto sb = PgSandbox::Start({"a"}, opts);
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->QueryInt("a", "SHOW max_prepared_transactions"), 0);
  std::string error;
  EXPECT_FALSE(sb->TryExec("a", "BEGIN; CREATE TABLE t (id int); PREPARE TRANSACTION 'x'",
                           &error));
  EXPECT_TRUE(Contains(error, "prepared transactions are disabled"));
}

TEST(PgSandbox, DestructorStopsEveryServerAndRemovesTheDirectory) {
  auto sb = PgSandbox::Start({"a", "b"});
  ASSERT_NE(sb, nullptr);
  const pid_t pid_a = sb->PostmasterPid("a"), pid_b = sb->PostmasterPid("b");
  const std::string dir = sb->dir();
  ASSERT_TRUE(IsProcessAlive(pid_a));
  ASSERT_TRUE(IsProcessAlive(pid_b));
  // A crashed server must not trouble the destructor either.
  ASSERT_TRUE(sb->CrashServerOf("b"));

  sb.reset();
  EXPECT_FALSE(IsProcessAlive(pid_a));
  EXPECT_FALSE(IsProcessAlive(pid_b));
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(PgSandboxScript, ConninfoAndStatusCommands) {
  auto sb = PgSandbox::Start({"a", "b"});
  ASSERT_NE(sb, nullptr);
  ScriptResult conninfo = PgSandbox::RunScript({"conninfo", sb->dir(), "b"});
  EXPECT_EQ(conninfo.exit_code, 0);
  EXPECT_EQ(conninfo.output, sb->conninfo("b") + "\n");

  ScriptResult unknown = PgSandbox::RunScript({"conninfo", sb->dir(), "nope"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(Contains(unknown.output, "nope"));

  ScriptResult status = PgSandbox::RunScript({"status", sb->dir()});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_TRUE(Contains(status.output, "port " + std::to_string(sb->port("a"))));
  EXPECT_TRUE(Contains(status.output, "running (pid " + std::to_string(sb->PostmasterPid("b"))));
  EXPECT_TRUE(Contains(status.output, "databases: b"));

  // sandbox.env is shell-sourceable.
  const std::string command = "bash -c '. " + sb->dir() +
                              "/sandbox.env && echo \"$DB_a_PORT $SERVER2_PORT\"'";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[128] = {};
  ASSERT_NE(fgets(line, sizeof(line), pipe), nullptr);
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_EQ(std::string(line),
            std::to_string(sb->port("a")) + " " + std::to_string(sb->port("b")) + "\n");
  std::string env = ReadFile(sb->dir() + "/sandbox.env");
  EXPECT_TRUE(Contains(env, "SANDBOX_SERVERS=2\n"));
  EXPECT_TRUE(Contains(env, "DB_a_PORT=" + std::to_string(sb->port("a")) + "\n"));
  EXPECT_TRUE(Contains(env, "SERVER2_PORT=" + std::to_string(sb->port("b")) + "\n"));
}

TEST(PgSandboxScript, MissingServerBinariesNameThePackage) {
  char dir[] = "/tmp/twopc-sb-nobin-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  ScriptResult result = PgSandbox::RunScript({"start", dir, "--databases", "a"},
                                             {"PG_BINDIR=/nonexistent/bin"});
  std::filesystem::remove_all(dir);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_TRUE(Contains(result.output, "apt-get install postgresql-15"));
}

TEST(PgSandboxScript, UsageErrorsExitWithTwo) {
  EXPECT_EQ(PgSandbox::RunScript({}).exit_code, 2);
  EXPECT_EQ(PgSandbox::RunScript({"frobnicate"}).exit_code, 2);
  ScriptResult result = PgSandbox::RunScript({"start", "/tmp/x", "--fsync", "maybe"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(Contains(result.output, "--fsync"));
  EXPECT_EQ(PgSandbox::RunScript({"--help"}).exit_code, 0);
}

TEST(PgSandboxBlackhole, ConnectSucceedsButNothingAnswers) {
  ScopedBlackholeServer hole;
  ASSERT_GT(hole.port(), 0);

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(hole.port());
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval timeout{0, 300 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  const char hello[] = "hello";
  EXPECT_EQ(send(fd, hello, sizeof(hello), 0), static_cast<ssize_t>(sizeof(hello)));
  char buf[16];
  EXPECT_EQ(recv(fd, buf, sizeof(buf), 0), -1);  // Timed out: no answer, no EOF.
  close(fd);

  // libpq hangs until its connect_timeout (minimum 2 s) expires.
  const auto start = std::chrono::steady_clock::now();
  PGconn* conn = PQconnectdb((hole.conninfo() + " connect_timeout=2").c_str());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_NE(PQstatus(conn), CONNECTION_OK);
  PQfinish(conn);
  EXPECT_GE(elapsed, std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace twopc::testing
