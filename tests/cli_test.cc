// The `twopc` operator CLI, run as a real process against real PostgreSQL
// servers. The fixture is in cli_fixture.h.
#include <pty.h>
#include <sqlite3.h>
#include <unistd.h>

#include "tests/cli_fixture.h"

namespace twopc::clitest {
namespace {

TEST_F(CliTest, StatusOnCleanSandboxReportsNothing) {
  CliResult r = Twopc({"status"});
  EXPECT_EQ(r.exit_code, 0) << Show(r);
  EXPECT_TRUE(Contains(r.out, "Prepared transactions: none")) << Show(r);
  EXPECT_FALSE(Contains(r.out, "PARTICIPANT")) << "a table header without rows\n" << Show(r);
  EXPECT_FALSE(Contains(r.out, "\033")) << "colour codes on a pipe\n" << Show(r);

  CliResult j = Twopc({"status", "--json"});
  EXPECT_EQ(j.exit_code, 0) << Show(j);
  nlohmann::json doc = ParseJson(j);
  ASSERT_TRUE(doc["prepared"].is_array()) << Show(j);
  EXPECT_TRUE(doc["prepared"].empty());
  EXPECT_TRUE(doc["pending"].empty());
  EXPECT_TRUE(doc["unreachable"].empty());
  EXPECT_EQ(doc["exit_code"], 0);
}

TEST_F(CliTest, ForeignGidsAreListedDecodedAndLeftAlone) {
  const std::string java = "131077_dGVzdA==_YnJhbmNo";  // formatId 131077, "test", "branch"
  PrepareBranch("a", java, 1);
  PrepareBranch("a", "citus_1_2_3_4", 2);
  PrepareBranch("b", "my-manual-txn", 3);

  CliResult r = Twopc({"status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << "foreign branches are not this node's in-doubt\n" << Show(r);
  nlohmann::json prepared = ParseJson(r)["prepared"];
  ASSERT_EQ(prepared.size(), 3u) << Show(r);
  nlohmann::json j = FindBy(prepared, "gid", java);
  ASSERT_TRUE(j.is_object()) << Show(r);
  EXPECT_EQ(j["kind"], "java-xa");
  EXPECT_EQ(j["manager"], "Narayana");  // from format id 131077
  EXPECT_EQ(j["participant"], "a");
  EXPECT_EQ(j["database"], "a");
  EXPECT_EQ(j["owner"], "postgres");
  EXPECT_EQ(j["xid"]["format_id"], 131077);
  EXPECT_EQ(j["xid"]["gtrid"], "test");
  EXPECT_EQ(j["xid"]["bqual"], "branch");
  EXPECT_TRUE(j["decision"].is_null());
  EXPECT_EQ(FindBy(prepared, "gid", "citus_1_2_3_4")["kind"], "citus");
  EXPECT_EQ(FindBy(prepared, "gid", "citus_1_2_3_4")["manager"], "Citus");
  EXPECT_EQ(FindBy(prepared, "gid", "my-manual-txn")["kind"], "unknown");
  EXPECT_TRUE(FindBy(prepared, "gid", "my-manual-txn")["manager"].is_null());

  CliResult human = Twopc({"status"});
  EXPECT_TRUE(Contains(human.out, "fmt=131077 gtrid=test bqual=branch")) << Show(human);
  EXPECT_TRUE(Contains(human.out, "java-xa")) << Show(human);

  CliResult recover = Twopc({"recover"});
  EXPECT_EQ(recover.exit_code, 0) << Show(recover);
  EXPECT_TRUE(Contains(recover.out, "skip-foreign")) << Show(recover);
  EXPECT_TRUE(IsPrepared("a", java));
  EXPECT_TRUE(IsPrepared("a", "citus_1_2_3_4"));
  EXPECT_TRUE(IsPrepared("b", "my-manual-txn"));

  CliResult refused = Twopc({"rollback", "my-manual-txn"});
  EXPECT_EQ(refused.exit_code, 3) << Show(refused);
  EXPECT_TRUE(Contains(refused.err, "--force")) << Show(refused);
  EXPECT_TRUE(Contains(refused.err, "docs/operations.md")) << Show(refused);
  EXPECT_TRUE(IsPrepared("b", "my-manual-txn"));

  CliResult forced = Twopc({"rollback", "my-manual-txn", "--force"});
  EXPECT_EQ(forced.exit_code, 0) << Show(forced);
  EXPECT_TRUE(Contains(forced.out, "heuristic")) << Show(forced);
  EXPECT_FALSE(IsPrepared("b", "my-manual-txn"));

  CliResult after = Twopc({"status", "--json"});
  // Listed, but not a mixed outcome of twopc's: a foreign gid has no twopc
  // decision for the forced action to contradict.
  EXPECT_EQ(after.exit_code, 0) << "a forced foreign action is not twopc's heuristic\n"
                                << Show(after);
  nlohmann::json heuristic = FindBy(ParseJson(after)["heuristics"], "gid", "my-manual-txn");
  ASSERT_TRUE(heuristic.is_object()) << Show(after);
  EXPECT_EQ(heuristic["action"], "abort");
  EXPECT_EQ(heuristic["participant"], "b");
  EXPECT_EQ(heuristic["foreign"], true);
  CliResult after_human = Twopc({"status"});
  EXPECT_TRUE(Contains(after_human.out, "Heuristic decisions")) << Show(after_human);
}

TEST_F(CliTest, StatusShowsLocksAndBlockedSessions) {
  sandbox_->Exec("a", "INSERT INTO t VALUES (10, 0)");
  sandbox_->Exec("a", "BEGIN; UPDATE t SET v = 1 WHERE id = 10; PREPARE TRANSACTION 'lock-holder'");
  // A session that wants the same row waits for the prepared transaction.
  PGconn* waiter = PQconnectdb(sandbox_->conninfo("a").c_str());
  ASSERT_EQ(PQstatus(waiter), CONNECTION_OK) << PQerrorMessage(waiter);
  ASSERT_EQ(PQsendQuery(waiter, "UPDATE t SET v = 2 WHERE id = 10"), 1);
  for (int i = 0;
       i < 100 && sandbox_->QueryInt("a", "SELECT count(*) FROM pg_locks WHERE NOT granted") == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  CliResult r = Twopc({"status", "--json"});
  nlohmann::json holder = FindBy(ParseJson(r)["prepared"], "gid", "lock-holder");
  ASSERT_TRUE(holder.is_object()) << Show(r);
  EXPECT_EQ(holder["waiting_sessions"], 1) << Show(r);
  EXPECT_GE(holder["xmin_age"].get<int64_t>(), 1) << Show(r);
  bool lists_t = false;
  for (const auto& relation : holder["locked_relations"]) lists_t = lists_t || relation == "t";
  EXPECT_TRUE(lists_t) << "the prepared UPDATE holds a lock on t\n" << Show(r);

  sandbox_->Exec("a", "ROLLBACK PREPARED 'lock-holder'");
  while (PGresult* res = PQgetResult(waiter)) PQclear(res);
  PQfinish(waiter);
}

TEST_F(CliTest, OrphanOfThisNodeIsFencedThenRolledBack) {
  OpenLog().reset();  // incarnation 1 exists; the CLI runs as a later one
  PrepareBranch("a", Gid(5, 1), 105);
  PrepareBranch("b", Gid(5, 2), 105);

  CliResult status = Twopc({"status", "--json"});
  EXPECT_EQ(status.exit_code, 1) << Show(status);
  nlohmann::json branch = FindBy(ParseJson(status)["prepared"], "gid", Gid(5, 1));
  EXPECT_EQ(branch["kind"], "this-node") << Show(status);
  EXPECT_EQ(branch["decision"], "none") << Show(status);

  CliResult dry = Twopc({"recover", "--dry-run", "--json"});
  nlohmann::json report = ParseJson(dry);
  EXPECT_EQ(report["dry_run"], true);
  for (const std::string& gid : {Gid(5, 1), Gid(5, 2)}) {
    nlohmann::json action = FindBy(report["actions"], "gid", gid);
    EXPECT_EQ(action.value("action", ""), "rollback-prepared") << gid << "\n" << Show(dry);
  }
  EXPECT_TRUE(IsPrepared("a", Gid(5, 1))) << "a dry run changed something";
  EXPECT_TRUE(IsPrepared("b", Gid(5, 2))) << "a dry run changed something";
  CliResult no_records = Twopc({"log", "show", "--all", "--json"});
  EXPECT_TRUE(ParseJson(no_records)["records"].empty()) << "a dry run fenced\n" << Show(no_records);

  CliResult recover = Twopc({"recover"});
  EXPECT_EQ(recover.exit_code, 0) << Show(recover);
  EXPECT_TRUE(Contains(recover.out, "fence")) << Show(recover);
  EXPECT_FALSE(IsPrepared("a", Gid(5, 1)));
  EXPECT_FALSE(IsPrepared("b", Gid(5, 2)));
  EXPECT_EQ(sandbox_->QueryInt("a", "SELECT count(*) FROM t WHERE id = 105"), 0);

  CliResult log = Twopc({"log", "show", "--all", "--json"});
  nlohmann::json record = FindBy(ParseJson(log)["records"], "gtrid", Gtrid(5));
  ASSERT_TRUE(record.is_object()) << "no fencing record\n" << Show(log);
  EXPECT_EQ(record["decision"], "abort");
  EXPECT_EQ(record["branches"].size(), 2u) << Show(log);
  CliResult human = Twopc({"log", "show", "--all"});
  EXPECT_TRUE(Contains(human.out, Gtrid(5))) << Show(human);
  EXPECT_TRUE(Contains(human.out, "abort")) << Show(human);
  EXPECT_EQ(Twopc({"status"}).exit_code, 0);
}

TEST_F(CliTest, CommitRecordWithoutEndIsCompletedByRecover) {
  PrepareBranch("a", Gid(7, 1), 107);
  PrepareBranch("b", Gid(7, 2), 107);
  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    DecisionRecord record;
    record.gtrid = Gtrid(7);
    record.decision = Decision::kCommit;
    record.branches = {{"a", Gid(7, 1)}, {"b", Gid(7, 2)}};
    ASSERT_TRUE(log->Decide(record).ok());
  }

  CliResult status = Twopc({"status"});
  EXPECT_EQ(status.exit_code, 1) << Show(status);
  EXPECT_TRUE(Contains(status.out, "Pending completion")) << Show(status);
  EXPECT_TRUE(Contains(status.out, Gtrid(7))) << Show(status);
  nlohmann::json doc = ParseJson(Twopc({"status", "--json"}));
  EXPECT_EQ(FindBy(doc["pending"], "gtrid", Gtrid(7)).value("decision", ""), "commit");
  EXPECT_EQ(FindBy(doc["prepared"], "gid", Gid(7, 2)).value("decision", ""), "commit");

  CliResult recover = Twopc({"recover"});
  EXPECT_EQ(recover.exit_code, 0) << Show(recover);
  EXPECT_TRUE(Contains(recover.out, "commit-prepared")) << Show(recover);
  EXPECT_EQ(sandbox_->QueryInt("a", "SELECT count(*) FROM t WHERE id = 107"), 1);
  EXPECT_EQ(sandbox_->QueryInt("b", "SELECT count(*) FROM u WHERE id = 107"), 1);
  nlohmann::json all = ParseJson(Twopc({"log", "show", "--all", "--json"}));
  EXPECT_FALSE(FindBy(all["records"], "gtrid", Gtrid(7))["ended_at"].is_null()) << all.dump();
  EXPECT_TRUE(ParseJson(Twopc({"log", "show", "--json"}))["records"].empty());

  CliResult again = Twopc({"commit", Gid(7, 1)});
  EXPECT_EQ(again.exit_code, 2) << Show(again);
  EXPECT_TRUE(Contains(again.err, "no prepared transaction")) << Show(again);
  EXPECT_TRUE(Contains(again.err, "records commit")) << Show(again);
}

TEST_F(CliTest, ManualResolutionFollowsPresumedAbort) {
  OpenLog().reset();
  PrepareBranch("a", Gid(9, 1), 109);

  CliResult commit = Twopc({"commit", Gid(9, 1)});
  EXPECT_EQ(commit.exit_code, 3) << "no COMMIT record: committing contradicts the log\n"
                                 << Show(commit);
  EXPECT_TRUE(IsPrepared("a", Gid(9, 1)));

  CliResult rollback = Twopc({"rollback", Gid(9, 1)});
  EXPECT_EQ(rollback.exit_code, 0) << Show(rollback);
  EXPECT_TRUE(Contains(rollback.out, "participant a")) << Show(rollback);
  EXPECT_FALSE(IsPrepared("a", Gid(9, 1)));
  nlohmann::json all = ParseJson(Twopc({"log", "show", "--all", "--json"}));
  EXPECT_EQ(FindBy(all["records"], "gtrid", Gtrid(9)).value("decision", ""), "abort")
      << "rolled back without fencing first\n"
      << all.dump();
}

TEST_F(CliTest, LogVerifyAndCompact) {
  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    for (uint64_t txn : {11, 12}) {
      DecisionRecord record;
      record.gtrid = Gtrid(txn);
      record.branches = {{"a", Gid(txn, 1)}, {"b", Gid(txn, 2)}};
      ASSERT_TRUE(log->Decide(record).ok());
    }
    log->End(Gtrid(11));
    ASSERT_TRUE(log->Flush().ok());
  }
  CliResult verify = Twopc({"log", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << Show(verify);

  {
    // A running coordinator holds the lock: compaction must wait for it,
    // while the read-only commands still work.
    auto live = OpenLog();
    CliResult refused = Twopc({"log", "compact"});
    EXPECT_EQ(refused.exit_code, 1) << Show(refused);
    EXPECT_TRUE(Contains(refused.err, "coordinator is running")) << Show(refused);
    CliResult show = Twopc({"log", "show", "--all", "--json"});
    EXPECT_EQ(show.exit_code, 0) << Show(show);
    EXPECT_EQ(ParseJson(show)["records"].size(), 2u);
  }

  CliResult compact = Twopc({"log", "compact"});
  EXPECT_EQ(compact.exit_code, 0) << Show(compact);
  EXPECT_TRUE(Contains(compact.out, "deleted 1 record")) << Show(compact);
  nlohmann::json left = ParseJson(Twopc({"log", "show", "--all", "--json"}))["records"];
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["gtrid"], Gtrid(12));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(log_path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "UPDATE decisions SET branches = 'not json'", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  CliResult bad = Twopc({"log", "verify"});
  EXPECT_EQ(bad.exit_code, 1) << Show(bad);
  EXPECT_TRUE(Contains(bad.out, Gtrid(12))) << Show(bad);
  nlohmann::json problems = ParseJson(Twopc({"log", "verify", "--json"}));
  EXPECT_EQ(problems["ok"], false);
  EXPECT_EQ(problems["problems"].size(), 1u);
}

TEST_F(CliTest, ConfigAndUsageErrorsExitTwo) {
  WriteConfig(config_path_, "\n[[participants]]\nname = \"c\"\nconninfo = \"x\"\ncolour = 1\n");
  // The unknown key is on the last line written.
  int line = 0;
  for (char c : ReadFile(config_path_)) line += c == '\n';
  CliResult bad = Twopc({"status"});
  EXPECT_EQ(bad.exit_code, 2) << Show(bad);
  EXPECT_TRUE(Contains(bad.err, config_path_ + ":" + std::to_string(line))) << Show(bad);
  EXPECT_TRUE(Contains(bad.err, "colour")) << Show(bad);
  EXPECT_TRUE(bad.out.empty()) << Show(bad);

  CliResult missing =
      RunCli({"--config", sandbox_->dir() + "/nope.toml", "status"}, sandbox_->dir());
  EXPECT_EQ(missing.exit_code, 2) << Show(missing);

  CliResult usage = RunCli({"status", "--no-such-flag"}, sandbox_->dir());
  EXPECT_EQ(usage.exit_code, 2) << Show(usage);
  CliResult no_gid = RunCli({"commit"}, sandbox_->dir());
  EXPECT_EQ(no_gid.exit_code, 2) << Show(no_gid);

  WriteConfig(config_path_, "");
  CliResult from_env =
      RunCli({"status", "--json"}, sandbox_->dir(), {"TWOPC_CONFIG=" + config_path_});
  EXPECT_EQ(from_env.exit_code, 0) << "TWOPC_CONFIG not used\n" << Show(from_env);
}

TEST_F(CliTest, UnreachableParticipantExitsFourWithoutItsPassword) {
  int port = DeadPort();
  WriteConfig(config_path_,
              "\n[[participants]]\nname = \"dead\"\nconninfo = \"host=127.0.0.1 port=" +
                  std::to_string(port) + " dbname=x user=postgres password=hunter2\"\n");
  CliResult r = Twopc({"status"});
  EXPECT_EQ(r.exit_code, 4) << Show(r);
  EXPECT_TRUE(Contains(r.out, "Unreachable participants: 1")) << Show(r);
  EXPECT_TRUE(Contains(r.out, "dead")) << Show(r);
  EXPECT_FALSE(Contains(r.out + r.err, "hunter2")) << "a password was printed\n" << Show(r);

  CliResult j = Twopc({"status", "--json"});
  EXPECT_EQ(j.exit_code, 4);
  nlohmann::json unreachable = ParseJson(j)["unreachable"];
  ASSERT_EQ(unreachable.size(), 1u) << Show(j);
  EXPECT_EQ(unreachable[0]["participant"], "dead");
  EXPECT_FALSE(Contains(j.out, "hunter2"));
  EXPECT_EQ(ParseJson(Twopc({"recover", "--dry-run", "--json"}))["unreachable"], 1);
}

// The config's [logging] reaches the CLI too: the library's lines on stderr
// become JSON objects with their fields, and stdout is unchanged. The line
// here: a forced decision on a foreign gid that the running coordinator's
// log cannot record.
TEST_F(CliTest, JsonLoggingTurnsTheLibrarysLinesIntoJsonAndLeavesStdoutAlone) {
  WriteConfig(config_path_, "\n[logging]\nformat = \"json\"\nlevel = \"info\"\n");
  PrepareBranch("a", "hand-made-json-txn", 61);
  CliResult forced;
  {
    auto live = OpenLog();
    forced = Twopc({"rollback", "hand-made-json-txn", "--force"});
  }
  ASSERT_EQ(forced.exit_code, 0) << Show(forced);
  EXPECT_FALSE(Contains(forced.out, "{\"ts\"")) << "a log line on stdout\n" << Show(forced);
  std::istringstream err(forced.err);
  std::string line;
  bool warned = false;
  while (std::getline(err, line)) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(parsed.is_object()) << "not a JSON line: " << line << "\n" << Show(forced);
    EXPECT_EQ(parsed.value("logger", ""), "twopc") << line;
    if (parsed.value("event", "") == "forced_decision_unrecorded") {
      warned = true;
      EXPECT_EQ(parsed.value("level", ""), "warn") << line;
      EXPECT_EQ(parsed.value("gid", ""), "hand-made-json-txn") << line;
      EXPECT_EQ(parsed.value("participant", ""), "a") << line;
    }
  }
  EXPECT_TRUE(warned) << Show(forced);
}

TEST_F(CliTest, ColoursOnlyOnATerminalWithoutNoColor) {
  PrepareBranch("a", "my-coloured-txn", 20);
  auto run_on_pty = [&](std::vector<std::string> env) {
    int master = -1;
    int slave = -1;
    EXPECT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
    CliResult r = RunCli({"--config", config_path_, "status"}, sandbox_->dir(), env, slave);
    close(slave);
    char buf[4096];
    for (ssize_t n; (n = read(master, buf, sizeof(buf))) > 0;) r.out.append(buf, n);
    close(master);
    return r;
  };
  CliResult tty = run_on_pty({});
  EXPECT_EQ(tty.exit_code, 0) << Show(tty);
  EXPECT_TRUE(Contains(tty.out, "\033[")) << Show(tty);
  CliResult no_color = run_on_pty({"NO_COLOR=1"});
  EXPECT_TRUE(Contains(no_color.out, "my-coloured-txn")) << Show(no_color);
  EXPECT_FALSE(Contains(no_color.out, "\033")) << Show(no_color);
}

TEST_F(CliTest, HostileGidCannotWriteEscapeCodes) {
  PrepareBranch("a", "evil\033[2Jgid", 30);
  CliResult r = Twopc({"status"});
  EXPECT_FALSE(Contains(r.out, "\033")) << Show(r);
  EXPECT_TRUE(Contains(r.out, "evil\\x1B[2Jgid")) << Show(r);
  nlohmann::json doc = ParseJson(Twopc({"status", "--json"}));
  EXPECT_TRUE(FindBy(doc["prepared"], "gid", "evil\033[2Jgid").is_object())
      << "JSON carries the exact gid\n"
      << doc.dump();
}

}  // namespace
}  // namespace twopc::clitest
