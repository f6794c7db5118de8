// The `twopc` CLI's guard rails around the decision log itself: it never
// creates one, it reads one on a full disk without writing, it escapes
// whatever it echoes, and `forget` acknowledges a heuristic outcome. Real
// processes against real PostgreSQL servers; the fixture is in cli_fixture.h.
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "tests/cli_fixture.h"

namespace twopc::clitest {
namespace {

namespace fs = std::filesystem;

// The incarnation stored in the log at `path`, read without twopc.
int64_t StoredIncarnation(const std::string& path) {
  sqlite3* db = nullptr;
  int64_t value = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'incarnation'", -1, &stmt,
                           nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return value;
}

// True when every line of `text` starts with `prefix`: no input forged a
// line of its own.
bool EveryLineStartsWith(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) != 0) return false;
  }
  return true;
}

bool AnyLineStartsWith(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// --- Item: operator commands never create a decision log ---------------------

TEST_F(CliTest, OperatorCommandsNeverCreateAMissingLog) {
  // The real log holds a durable COMMIT for a branch still prepared: an
  // empty log in its place would presume abort and roll it back.
  PrepareBranch("a", Gid(3, 1), 103);
  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    DecisionRecord record;
    record.gtrid = Gtrid(3);
    record.branches = {{"a", Gid(3, 1)}};
    ASSERT_TRUE(log->Decide(record).ok());
  }
  // The config copied to another directory, its [log] path relative.
  const std::string copy_dir = sandbox_->dir() + "/" + name_ + "-copy";
  fs::create_directories(copy_dir);
  const std::string copy = copy_dir + "/twopc.toml";
  WriteConfigWithLog(copy, "decisions.db");
  const std::string wrong_log = copy_dir + "/decisions.db";

  const std::vector<std::vector<std::string>> commands = {{"status"},
                                                          {"status", "--json"},
                                                          {"recover"},
                                                          {"recover", "--dry-run"},
                                                          {"log", "show"},
                                                          {"log", "verify"},
                                                          {"log", "compact"},
                                                          {"commit", Gid(3, 1)},
                                                          {"rollback", Gid(3, 1)},
                                                          {"forget", Gid(3, 1)}};
  for (std::vector<std::string> args : commands) {
    std::string shown = args[0] + (args.size() > 1 ? " " + args[1] : "");
    args.insert(args.begin(), {"--config", copy});
    CliResult r = RunCli(args, sandbox_->dir());
    EXPECT_EQ(r.exit_code, 2) << shown << "\n" << Show(r);
    EXPECT_TRUE(Contains(r.err, wrong_log + " does not exist")) << shown << "\n" << Show(r);
    EXPECT_TRUE(Contains(r.err, "is relative")) << shown << "\n" << Show(r);
    EXPECT_TRUE(Contains(r.err, "resolved against the config file's directory, " + copy_dir))
        << shown << "\n"
        << Show(r);
    EXPECT_FALSE(Contains(r.err, "cannot open " + copy)) << "blames the config\n" << Show(r);
    EXPECT_FALSE(fs::exists(wrong_log)) << shown << " created the log";
    EXPECT_FALSE(fs::exists(wrong_log + ".lock")) << shown << " created the lock file";
  }
  EXPECT_TRUE(IsPrepared("a", Gid(3, 1))) << "a branch of a committed transaction was touched";

  // A mistyped absolute path: the same refusal, without the relative hint.
  WriteConfigWithLog(copy, copy_dir + "/decisons.db");
  CliResult typo = RunCli({"--config", copy, "recover"}, sandbox_->dir());
  EXPECT_EQ(typo.exit_code, 2) << Show(typo);
  EXPECT_TRUE(Contains(typo.err, copy_dir + "/decisons.db does not exist")) << Show(typo);
  EXPECT_FALSE(Contains(typo.err, "is relative")) << Show(typo);
  EXPECT_FALSE(fs::exists(copy_dir + "/decisons.db"));

  // The real log still completes the transaction.
  CliResult recover = Twopc({"recover"});
  EXPECT_EQ(recover.exit_code, 0) << Show(recover);
  EXPECT_EQ(sandbox_->QueryInt("a", "SELECT count(*) FROM t WHERE id = 103"), 1);
}

TEST_F(CliTest, EmptyLogFileIsNoLogForOperatorCommands) {
  // What a coordinator's first start leaves when it dies before writing the
  // schema, or a log truncated by accident: never silently a fresh log here.
  const std::string empty = sandbox_->dir() + "/" + name_ + "-empty.db";
  std::ofstream(empty).close();
  WriteConfigWithLog(config_path_, empty);
  PrepareBranch("a", Gid(4, 1), 104);
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"status"},
                                             {"recover"},
                                             {"recover", "--dry-run"},
                                             {"log", "show"},
                                             {"rollback", Gid(4, 1)}}) {
    CliResult r = Twopc(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << "\n" << Show(r);
    EXPECT_TRUE(Contains(r.err, empty + " is empty")) << Show(r);
    EXPECT_EQ(fs::file_size(empty), 0u) << args[0] << " initialized the empty file";
    EXPECT_FALSE(fs::exists(empty + "-wal")) << args[0];
  }
  EXPECT_TRUE(IsPrepared("a", Gid(4, 1)));
}

TEST_F(CliTest, LogOpenErrorIsNotReportedAsAConfigError) {
  std::ofstream(log_path_, std::ios::trunc) << std::string(8192, 'x');
  CliResult r = Twopc({"status"});
  EXPECT_EQ(r.exit_code, 1) << Show(r);
  EXPECT_TRUE(Contains(r.err, "cannot open the decision log")) << Show(r);
  EXPECT_TRUE(Contains(r.err, log_path_)) << Show(r);
  EXPECT_FALSE(Contains(r.err, config_path_)) << "the config is fine\n" << Show(r);
}

// --- Item: read-only commands do not write -----------------------------------------

TEST_F(CliTest, RecoverDryRunKeepsTheIncarnation) {
  PrepareBranch("a", Gid(6, 1), 106);
  int64_t before = StoredIncarnation(log_path_);
  ASSERT_GE(before, 1);
  CliResult dry = Twopc({"recover", "--dry-run", "--json"});
  EXPECT_EQ(dry.exit_code, 0) << Show(dry);
  // Holding the lock, the dry run still reports what a real pass would do.
  EXPECT_EQ(FindBy(ParseJson(dry)["actions"], "gid", Gid(6, 1)).value("action", ""),
            "rollback-prepared")
      << Show(dry);
  EXPECT_EQ(StoredIncarnation(log_path_), before) << "a dry run bumped the incarnation";
  EXPECT_TRUE(IsPrepared("a", Gid(6, 1)));
  EXPECT_EQ(Twopc({"status"}).exit_code, 1);
  EXPECT_EQ(StoredIncarnation(log_path_), before) << "status bumped the incarnation";

  EXPECT_EQ(Twopc({"recover"}).exit_code, 0);
  EXPECT_EQ(StoredIncarnation(log_path_), before + 1);
  EXPECT_FALSE(IsPrepared("a", Gid(6, 1)));
}

// A tmpfs of 1 MiB mounted for one test, unmounted when it ends.
class SmallFileSystem {
 public:
  explicit SmallFileSystem(std::string dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    mounted_ = mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=1m,mode=0700") == 0;
  }
  ~SmallFileSystem() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

  // Writes a file until the file system has no space left.
  void Fill() {
    int fd = open((dir_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::string block(4096, 'f');
    while (write(fd, block.data(), block.size()) > 0) {
    }
    close(fd);
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

TEST_F(CliTest, ReadOnlyCommandsWorkOnAFullDisk) {
  SmallFileSystem small(sandbox_->dir() + "/" + name_ + "-full");
  // CI runs as root, where mounting works: there a failed mount is a broken
  // test machine, never a reason to skip. Only a developer's unprivileged run
  // goes without this test (and says so).
  if (!small.mounted()) {
    if (geteuid() == 0 || std::getenv("CI") != nullptr) FAIL() << "cannot mount a tmpfs as root";
    GTEST_SKIP() << "cannot mount a tmpfs without root: run the tests as root to check a full disk";
  }
  log_path_ = sandbox_->dir() + "/" + name_ + "-full/decisions.db";
  WriteConfig(config_path_, "");
  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    DecisionRecord record;
    record.gtrid = Gtrid(8);
    record.branches = {{"a", Gid(8, 1)}};
    ASSERT_TRUE(log->Decide(record).ok());
  }
  int64_t incarnation = StoredIncarnation(log_path_);
  small.Fill();

  CliResult status = Twopc({"status"});
  EXPECT_EQ(status.exit_code, 1) << "the pending COMMIT is in doubt\n" << Show(status);
  EXPECT_TRUE(Contains(status.out, Gtrid(8))) << Show(status);
  CliResult show = Twopc({"log", "show", "--json"});
  EXPECT_EQ(show.exit_code, 0) << Show(show);
  EXPECT_EQ(ParseJson(show)["records"].size(), 1u) << Show(show);
  CliResult verify = Twopc({"log", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << Show(verify);
  CliResult dry = Twopc({"recover", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << Show(dry);

  // A real pass must write (the incarnation first): it fails, saying why.
  CliResult recover = Twopc({"recover"});
  EXPECT_EQ(recover.exit_code, 1) << Show(recover);
  EXPECT_TRUE(Contains(recover.err, "disk full")) << Show(recover);
  EXPECT_EQ(StoredIncarnation(log_path_), incarnation);
}

// --- Item: control characters are escaped ------------------------------------------

TEST_F(CliTest, NewlineInInputIsEscapedInEveryMessage) {
  const std::string gid = "evil\nforged";
  PrepareBranch("a", gid, 50);

  CliResult status = Twopc({"status"});
  EXPECT_TRUE(Contains(status.out, "evil\\x0Aforged")) << Show(status);
  EXPECT_FALSE(AnyLineStartsWith(status.out, "forged")) << Show(status);

  CliResult refused = Twopc({"rollback", gid});
  EXPECT_EQ(refused.exit_code, 3) << Show(refused);
  EXPECT_TRUE(Contains(refused.err, "evil\\x0Aforged")) << Show(refused);
  EXPECT_TRUE(EveryLineStartsWith(refused.err, "twopc: ")) << Show(refused);
  EXPECT_FALSE(AnyLineStartsWith(refused.err, "twopc: forged")) << Show(refused);

  CliResult unknown = Twopc({"commit", "nope\nforged"});
  EXPECT_EQ(unknown.exit_code, 2) << Show(unknown);
  EXPECT_FALSE(AnyLineStartsWith(unknown.err, "twopc: forged")) << Show(unknown);
  EXPECT_TRUE(Contains(unknown.err, "nope\\x0Aforged")) << Show(unknown);

  CliResult forced = Twopc({"rollback", gid, "--force"});
  EXPECT_EQ(forced.exit_code, 0) << Show(forced);
  EXPECT_FALSE(AnyLineStartsWith(forced.out, "forged")) << Show(forced);
  CliResult forget = Twopc({"forget", gid});
  EXPECT_EQ(forget.exit_code, 0) << Show(forget);
  EXPECT_TRUE(Contains(forget.out, "evil\\x0Aforged")) << Show(forget);
  EXPECT_FALSE(AnyLineStartsWith(forget.out, "forged")) << Show(forget);
  CliResult heuristics = Twopc({"log", "show", "--all"});
  EXPECT_TRUE(Contains(heuristics.out, "evil\\x0Aforged")) << Show(heuristics);
  EXPECT_FALSE(AnyLineStartsWith(heuristics.out, "forged")) << Show(heuristics);
}

TEST_F(CliTest, LogVerifyEscapesRecordsAndEndsLinesWithNewlines) {
  CliResult clean = Twopc({"log", "verify"});
  EXPECT_EQ(clean.exit_code, 0) << Show(clean);
  EXPECT_EQ(clean.out, log_path_ + ": no problem found\n") << Show(clean);

  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    DecisionRecord record;  // a damaged record: its gtrid holds a newline
    record.gtrid = "g\nforged";
    record.branches = {{"a", Gid(12, 1)}};
    ASSERT_TRUE(log->Decide(record).ok());
    DecisionRecord ended;
    ended.gtrid = Gtrid(13);
    ended.branches = {{"a", Gid(13, 1)}};
    ASSERT_TRUE(log->Decide(ended).ok());
    log->End(Gtrid(13));
    ASSERT_TRUE(log->Flush().ok());
  }
  CliResult bad = Twopc({"log", "verify"});
  EXPECT_EQ(bad.exit_code, 1) << Show(bad);
  EXPECT_TRUE(Contains(bad.out, "record for gtrid 'g\\x0Aforged'")) << Show(bad);
  EXPECT_FALSE(AnyLineStartsWith(bad.out, "forged")) << Show(bad);
  nlohmann::json problems = ParseJson(Twopc({"log", "verify", "--json"}))["problems"];
  ASSERT_FALSE(problems.empty());
  EXPECT_TRUE(Contains(problems[0].get<std::string>(), "g\nforged"))
      << "JSON carries the exact text\n"
      << problems.dump();
  CliResult show = Twopc({"log", "show", "--all"});
  EXPECT_TRUE(Contains(show.out, "g\\x0Aforged")) << Show(show);

  CliResult compact = Twopc({"log", "compact"});
  EXPECT_EQ(compact.exit_code, 0) << Show(compact);
  EXPECT_EQ(compact.out, log_path_ + ": deleted 1 record (ended)\n") << Show(compact);
}

// --- Item: forget ----------------------------------------------------------------

// Issue 9 item 4 from the operator's side: a COMMIT record whose branch b
// was rolled back by hand. `recover` said "commit completed on every branch,
// 0 heuristic or mixed", `log verify` "no problem found", exit 0. Now the
// branch is checked with txid_status(): recover, status and log verify
// report the mixed outcome (exit 3) until it is forgotten.
TEST_F(CliTest, BranchRolledBackByHandIsAMixedOutcomeEverywhere) {
  auto txid_of = [&](const std::string& db, const std::string& gid) {
    return static_cast<uint64_t>(sandbox_->QueryInt(
        db, "SELECT (txid_snapshot_xmax(txid_current_snapshot()) & ~4294967295::bigint) | "
            "transaction::text::bigint FROM pg_prepared_xacts WHERE gid = '" + Quote(gid) + "'"));
  };
  PrepareBranch("a", Gid(50, 1), 150);
  PrepareBranch("b", Gid(50, 2), 151);
  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    DecisionRecord commit;
    commit.gtrid = Gtrid(50);
    commit.branches = {{"a", Gid(50, 1), txid_of("a", Gid(50, 1))},
                       {"b", Gid(50, 2), txid_of("b", Gid(50, 2))}};
    ASSERT_TRUE(log->Decide(commit).ok());
  }
  sandbox_->Exec("b", "ROLLBACK PREPARED '" + Quote(Gid(50, 2)) + "'");

  CliResult recover = Twopc({"recover"});
  EXPECT_EQ(recover.exit_code, 3) << Show(recover);
  EXPECT_TRUE(Contains(recover.out, "rolled back")) << Show(recover);
  EXPECT_FALSE(IsPrepared("a", Gid(50, 1)));
  EXPECT_EQ(Twopc({"status"}).exit_code, 3);
  CliResult verify = Twopc({"log", "verify"});
  EXPECT_EQ(verify.exit_code, 3) << Show(verify);
  EXPECT_TRUE(Contains(verify.out, "mixed outcome")) << Show(verify);

  ASSERT_EQ(Twopc({"forget", Gid(50, 2)}).exit_code, 0);
  EXPECT_EQ(Twopc({"log", "verify"}).exit_code, 0);
  EXPECT_EQ(Twopc({"status"}).exit_code, 0);
}

TEST_F(CliTest, ForgetAcknowledgesAHeuristicOutcome) {
  PrepareBranch("a", Gid(40, 1), 140);  // undecided: presumed abort
  PrepareBranch("b", Gid(41, 1), 141);  // another orphan, still in doubt
  CliResult forced = Twopc({"commit", Gid(40, 1), "--force"});
  ASSERT_EQ(forced.exit_code, 0) << Show(forced);
  EXPECT_TRUE(Contains(forced.out, "twopc forget " + Gid(40, 1))) << Show(forced);

  CliResult mixed = Twopc({"status"});
  EXPECT_EQ(mixed.exit_code, 3) << Show(mixed);
  EXPECT_EQ(ParseJson(Twopc({"recover", "--dry-run", "--json"}))["mixed"], 1);

  CliResult forget = Twopc({"forget", Gid(40, 1)});
  EXPECT_EQ(forget.exit_code, 0) << Show(forget);
  EXPECT_TRUE(Contains(forget.out, "Forgot 1 heuristic decision")) << Show(forget);

  // What remains shows again: the other orphan is in doubt.
  CliResult after = Twopc({"status", "--json"});
  EXPECT_EQ(after.exit_code, 1) << Show(after);
  EXPECT_TRUE(ParseJson(after)["heuristics"].empty()) << Show(after);
  nlohmann::json report = ParseJson(Twopc({"recover", "--dry-run", "--json"}));
  EXPECT_EQ(report["mixed"], 0) << report.dump();
  EXPECT_TRUE(FindBy(report["actions"], "action", "mixed").is_null()) << report.dump();

  // The log keeps the record, forgotten.
  nlohmann::json log = ParseJson(Twopc({"log", "show", "--all", "--json"}));
  nlohmann::json h = FindBy(log["heuristics"], "gid", Gid(40, 1));
  ASSERT_TRUE(h.is_object()) << log.dump();
  EXPECT_TRUE(h["forgotten_at"].is_string()) << log.dump();
  CliResult human = Twopc({"log", "show", "--all"});
  EXPECT_TRUE(Contains(human.out, "FORGOTTEN AT")) << Show(human);
  EXPECT_TRUE(Contains(human.out, Gid(40, 1))) << Show(human);
  EXPECT_TRUE(ParseJson(Twopc({"log", "show", "--json"}))["heuristics"].empty())
      << "without --all, forgotten heuristics are not listed";

  CliResult again = Twopc({"forget", Gid(40, 1)});
  EXPECT_EQ(again.exit_code, 2) << Show(again);
  EXPECT_TRUE(Contains(again.err, "already forgotten")) << Show(again);
  CliResult unknown = Twopc({"forget", "no-such-gid"});
  EXPECT_EQ(unknown.exit_code, 2) << Show(unknown);
  EXPECT_TRUE(Contains(unknown.err, "no heuristic decision on 'no-such-gid'")) << Show(unknown);

  {
    // forget writes the log: not while a coordinator holds it.
    auto live = OpenLog();
    CliResult busy = Twopc({"forget", Gid(40, 1)});
    EXPECT_EQ(busy.exit_code, 1) << Show(busy);
    EXPECT_TRUE(Contains(busy.err, "running coordinator")) << Show(busy);
  }

  // The other orphan resolved (its ABORT record gets its END from recover),
  // nothing is left: 0.
  EXPECT_EQ(Twopc({"rollback", Gid(41, 1)}).exit_code, 0);
  EXPECT_EQ(Twopc({"recover"}).exit_code, 0);
  CliResult clean = Twopc({"status"});
  EXPECT_EQ(clean.exit_code, 0) << Show(clean);
}

TEST_F(CliTest, ForcedActionOnAForeignGidIsNotAMixedOutcome) {
  PrepareBranch("a", "hand-made-txn", 60);
  CliResult forced = Twopc({"rollback", "hand-made-txn", "--force"});
  ASSERT_EQ(forced.exit_code, 0) << Show(forced);

  CliResult status = Twopc({"status"});
  EXPECT_EQ(status.exit_code, 0) << Show(status);
  EXPECT_TRUE(Contains(status.out, "foreign gid: no twopc decision")) << Show(status);
  nlohmann::json report = ParseJson(Twopc({"recover", "--json"}));
  EXPECT_EQ(report["mixed"], 0) << report.dump();
  EXPECT_EQ(report["exit_code"], 0) << report.dump();
  EXPECT_TRUE(FindBy(report["actions"], "action", "mixed").is_null()) << report.dump();
}

}  // namespace
}  // namespace twopc::clitest
