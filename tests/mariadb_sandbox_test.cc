// Integration tests of scripts/mariadb-sandbox and the MariaDbSandbox fixture
// against real MariaDB 10.11 servers: what the MariaDB XA participant's tests
// rely on (ports, the account, participants file, XA branches that survive a
// client disconnect and a server crash, cleanup).
#include "testing/mariadb_sandbox.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace twopc::testing {
namespace {

using Rows = std::vector<std::vector<std::string>>;

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

// The data column of plain XA RECOVER is gtrid followed by bqual.
Rows XaRecover(MariaDbSandbox& sb, const std::string& db) { return sb.Query(db, "XA RECOVER"); }

TEST(MariaDbSandbox, TwoDatabasesOnOneServerAnswer) {
  MariaDbSandboxOptions opts;
  opts.servers = 1;
  auto sb = MariaDbSandbox::Start({"billing", "ledger"}, opts);
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->server_count(), 1);
  EXPECT_EQ(sb->server_of("billing"), 1);
  EXPECT_EQ(sb->server_of("ledger"), 1);
  EXPECT_EQ(sb->server_of("nope"), 0);
  EXPECT_GT(sb->port(1), 0);
  EXPECT_GT(sb->ServerPid(1), 0);
  EXPECT_TRUE(IsProcessAlive(sb->ServerPid(1)));
  EXPECT_EQ(sb->conninfo("ledger"), "host=127.0.0.1 port=" + std::to_string(sb->port(1)) +
                                        " user=twopc password=twopc dbname=ledger");

  for (const std::string db : {"billing", "ledger"}) {
    sb->Exec(db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB");
    sb->Exec(db, "INSERT INTO t VALUES (1, '" + db + "'), (2, NULL)");
    EXPECT_EQ(sb->Query(db, "SELECT id, v, DATABASE() FROM t ORDER BY id"),
              (Rows{{"1", db, db}, {"2", MariaDbSandbox::kNull, db}}));
    EXPECT_EQ(sb->QueryInt(db, "SELECT COUNT(*) FROM t"), 2);
  }
  EXPECT_EQ(sb->Query("billing", "SELECT CURRENT_USER(), @@bind_address, @@max_connections"),
            (Rows{{"twopc@127.0.0.1", "127.0.0.1", "200"}}));
  EXPECT_EQ(sb->QueryInt("billing", "SELECT @@innodb_flush_log_at_trx_commit"), 2);
  // The account sees its own databases only.
  EXPECT_EQ(sb->QueryInt("billing",
                         "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME "
                         "NOT IN ('information_schema')"),
            2);

  std::string error;
  unsigned number = 0;
  EXPECT_FALSE(sb->TryExec("billing", "XA COMMIT 'no-such-xid'", &error, &number));
  EXPECT_EQ(number, 1397u);
  EXPECT_EQ(error, "ERROR 1397 (XAE04): XAER_NOTA: Unknown XID");
}

TEST(MariaDbSandbox, PreparedBranchSurvivesDisconnectAndCommitsFromAnotherConnection) {
  MariaDbSandboxOptions opts;
  opts.servers = 1;
  auto sb = MariaDbSandbox::Start({"billing", "ledger"}, opts);
  ASSERT_NE(sb, nullptr);
  sb->Exec("billing", "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB");

  // Connection A: one session, closed when Exec returns.
  sb->Exec("billing", "XA START 'g1'; INSERT INTO t VALUES (1); XA END 'g1'; XA PREPARE 'g1'");
  // Connection B: the prepared branch outlived A; its row is not visible yet.
  EXPECT_EQ(XaRecover(*sb, "billing"), (Rows{{"1", "2", "0", "g1"}}));
  EXPECT_EQ(sb->QueryInt("billing", "SELECT COUNT(*) FROM t"), 0);
  // XA RECOVER is server-wide: the other database sees it too.
  EXPECT_EQ(XaRecover(*sb, "ledger").size(), 1u);

  sb->Exec("billing", "XA COMMIT 'g1'");
  EXPECT_TRUE(XaRecover(*sb, "billing").empty());
  EXPECT_EQ(sb->QueryInt("billing", "SELECT COUNT(*) FROM t WHERE id = 1"), 1);

  // A branch that was never prepared does not outlive its connection.
  sb->Exec("billing", "XA START 'g2'; INSERT INTO t VALUES (2); XA END 'g2'");
  EXPECT_TRUE(XaRecover(*sb, "billing").empty());
  EXPECT_EQ(sb->QueryInt("billing", "SELECT COUNT(*) FROM t WHERE id = 2"), 0);
}

TEST(MariaDbSandbox, PreparedBranchSurvivesServerCrash) {
  MariaDbSandboxOptions opts;
  opts.servers = 1;
  auto sb = MariaDbSandbox::Start({"billing", "ledger"}, opts);
  ASSERT_NE(sb, nullptr);
  const int port = sb->port(1);
  const pid_t pid = sb->ServerPid(1);
  ASSERT_GT(pid, 0);
  sb->Exec("billing", "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB");
  sb->Exec("billing", "INSERT INTO t VALUES (1)");
  sb->Exec("billing",
           "XA START 'g3','b1',7; INSERT INTO t VALUES (3); XA END 'g3','b1',7; "
           "XA PREPARE 'g3','b1',7");

  ASSERT_TRUE(sb->StopServer(1, /*kill=*/true));
  EXPECT_FALSE(IsProcessAlive(pid));
  EXPECT_EQ(sb->ServerPid(1), 0);
  std::string error;
  EXPECT_FALSE(sb->TryExec("billing", "SELECT 1", &error));
  EXPECT_FALSE(error.empty());
  ScriptResult status = MariaDbSandbox::RunScript({"status", sb->dir()});
  EXPECT_EQ(status.exit_code, 1) << status.output;
  EXPECT_TRUE(Contains(status.output, "stopped"));

  ASSERT_TRUE(sb->StartServer(1));
  EXPECT_EQ(sb->port(1), port);
  EXPECT_GT(sb->ServerPid(1), 0);
  EXPECT_NE(sb->ServerPid(1), pid);
  EXPECT_EQ(sb->QueryInt("billing", "SELECT COUNT(*) FROM t"), 1);
  EXPECT_EQ(sb->Query("billing", "XA RECOVER FORMAT='SQL'"),
            (Rows{{"7", "2", "2", "'g3','b1',7"}}));

  sb->Exec("billing", "XA ROLLBACK 'g3','b1',7");
  EXPECT_TRUE(XaRecover(*sb, "billing").empty());
  EXPECT_EQ(sb->QueryInt("billing", "SELECT COUNT(*) FROM t WHERE id = 3"), 0);

  // A clean stop, a second stop and a start of a running server are no errors.
  ASSERT_TRUE(sb->StopServer(1, /*kill=*/false));
  ASSERT_TRUE(sb->StopServer(1, /*kill=*/false));
  ASSERT_TRUE(sb->StartServer(1));
  ASSERT_TRUE(sb->StartServer(1));
  EXPECT_EQ(sb->QueryInt("ledger", "SELECT 1"), 1);
}

TEST(MariaDbSandbox, RerunningStartReusesRunningServers) {
  auto sb = MariaDbSandbox::Start({"a", "b"});
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(sb->server_count(), 2);
  EXPECT_NE(sb->port(1), sb->port(2));
  const int port_b = sb->port(2);
  const pid_t pid_a = sb->ServerPid(1);
  sb->Exec("b", "CREATE TABLE kept (id INT); INSERT INTO kept VALUES (42)");

  ScriptResult again =
      MariaDbSandbox::RunScript({"start", sb->dir(), "--databases", "a b", "--quiet"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  ScriptResult status = MariaDbSandbox::RunScript({"status", sb->dir()});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_TRUE(Contains(status.output, "running (pid " + std::to_string(pid_a) + ")"));

  // A killed server is started again on its recorded port by `start` too.
  ASSERT_TRUE(sb->StopServer(2, /*kill=*/true));
  again = MariaDbSandbox::RunScript({"start", sb->dir(), "--databases", "a b", "--quiet"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(sb->StartServer(2));  // Reloads the env; already running.
  EXPECT_EQ(sb->port(2), port_b);
  EXPECT_EQ(sb->QueryInt("b", "SELECT id FROM kept"), 42);
}

TEST(MariaDbSandbox, DestructorStopsEveryServerAndRemovesTheDirectory) {
  auto sb = MariaDbSandbox::Start({"a", "b"});
  ASSERT_NE(sb, nullptr);
  const pid_t pid_a = sb->ServerPid(1), pid_b = sb->ServerPid(2);
  const std::string dir = sb->dir();
  ASSERT_TRUE(IsProcessAlive(pid_a));
  ASSERT_TRUE(IsProcessAlive(pid_b));
  // A crashed server must not trouble the destructor either.
  ASSERT_TRUE(sb->StopServer(2, /*kill=*/true));

  sb.reset();
  EXPECT_FALSE(IsProcessAlive(pid_a));
  EXPECT_FALSE(IsProcessAlive(pid_b));
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(MariaDbSandboxScript, ParticipantsFileEnvAndConninfo) {
  auto sb = MariaDbSandbox::Start({"billing", "ledger"});
  ASSERT_NE(sb, nullptr);
  const std::string toml = ReadFile(sb->participants_path());
  const std::string billing =
      "[[participants]]\nname = \"billing\"\nkind = \"mariadb\"\n"
      "conninfo = \"" +
      sb->conninfo("billing") + "\"\n";
  const std::string ledger =
      "[[participants]]\nname = \"ledger\"\nkind = \"mariadb\"\n"
      "conninfo = \"" +
      sb->conninfo("ledger") + "\"\n";
  ASSERT_TRUE(Contains(toml, billing));
  ASSERT_TRUE(Contains(toml, ledger));
  EXPECT_LT(toml.find(billing), toml.find(ledger));

  ScriptResult conninfo = MariaDbSandbox::RunScript({"conninfo", sb->dir(), "ledger"});
  EXPECT_EQ(conninfo.exit_code, 0);
  EXPECT_EQ(conninfo.output, sb->conninfo("ledger") + "\n");
  ScriptResult unknown = MariaDbSandbox::RunScript({"conninfo", sb->dir(), "nope"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(Contains(unknown.output, "nope"));

  // mariadb.env is shell-sourceable.
  const std::string command = "bash -c '. " + sb->dir() +
                              "/mariadb.env && echo \"$MARIADB_DB_ledger_PORT "
                              "$MARIADB_SERVER1_PID\"'";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[128] = {};
  ASSERT_NE(fgets(line, sizeof(line), pipe), nullptr);
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_EQ(std::string(line),
            std::to_string(sb->port(2)) + " " + std::to_string(sb->ServerPid(1)) + "\n");
}

TEST(MariaDbSandboxScript, UsageErrorsAndMissingBinaries) {
  EXPECT_EQ(MariaDbSandbox::RunScript({}).exit_code, 2);
  EXPECT_EQ(MariaDbSandbox::RunScript({"frobnicate"}).exit_code, 2);
  ScriptResult mode = MariaDbSandbox::RunScript({"stop", "/tmp/x", "--mode", "immediate"});
  EXPECT_EQ(mode.exit_code, 2);
  EXPECT_TRUE(Contains(mode.output, "--mode"));
  EXPECT_EQ(MariaDbSandbox::RunScript({"--help"}).exit_code, 0);

  char dir[] = "/tmp/twopc-msb-nobin-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  ScriptResult result = MariaDbSandbox::RunScript({"start", dir, "--databases", "a"},
                                                  {"MARIADB_BINDIR=/nonexistent/bin"});
  std::filesystem::remove_all(dir);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_TRUE(Contains(result.output, "apt-get install mariadb-server"));
}

}  // namespace
}  // namespace twopc::testing
