// Crash tests of a mixed pair: one PostgreSQL participant ("a", PgSandbox)
// and one MariaDB XA participant ("m", MariaDbSandbox), SQLite decision log
// (docs/protocol.md, "MariaDB participants").
//
//   1. The crash-point matrix: a real coordinator process
//      (tests/crash_coordinator.cc) moving money between a's and m's
//      `accounts`, SIGKILLed at every named point of the commit protocol;
//      then a coordinator opened again on the same log (its Open runs
//      recovery), RecoveryManager, or the process run again.
//   2. The MariaDB server SIGKILLed and restarted while its branch is
//      prepared: after a dead coordinator, and under a live one (phase 2 and
//      prepare).
//   3. A prepared MariaDB branch outlives its killed client: seen in
//      XA RECOVER after the kill and before recovery (in the matrix).
//   4. 16 threads of transfers in both directions through one coordinator.
//
// After each: atomicity (a transfer's `transfers` row in both databases or in
// neither), the outcome is the log's, money is conserved, nothing is prepared
// on either kind (pg_prepared_xacts, XA RECOVER), no record without END.
#include <mysql.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing/child_process.h"
#include "testing/mariadb_sandbox.h"
#include "testing/pg_sandbox.h"
#include "testing/sync_point.h"
#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/recovery.h"

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using support::ChildExit;
using support::ChildProcess;
using AccountKey = std::pair<std::string, int64_t>;  // (participant, account id)
using Balances = std::map<AccountKey, int64_t>;

const std::string kPg = "a";     // the PostgreSQL database / participant
const std::string kMaria = "m";  // the MariaDB database / participant
const std::vector<std::string> kBoth = {kPg, kMaria};
constexpr int64_t kInitialBalance = 1000;
constexpr int kMatrixAccounts = 10;
constexpr int kStressAccounts = 8;

PgSandbox* g_pg = nullptr;
MariaDbSandbox* g_maria = nullptr;

class SandboxEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    g_pg = PgSandbox::Start({kPg}).release();
    ASSERT_NE(g_pg, nullptr);
    g_maria = MariaDbSandbox::Start({kMaria}).release();
    ASSERT_NE(g_maria, nullptr);
  }
  void TearDown() override {
    delete g_maria;
    g_maria = nullptr;
    delete g_pg;
    g_pg = nullptr;
  }
};
[[maybe_unused]] ::testing::Environment* const kSandboxEnvironment =
    ::testing::AddGlobalTestEnvironment(new SandboxEnvironment);

// One line of crash_coordinator's report: "<KIND> <gtrid> <json>".
struct Report {
  std::string kind;
  std::string gtrid;
  std::map<AccountKey, int64_t> deltas;
  std::string status;
};

std::optional<Report> ParseReport(const std::string& line) {
  std::istringstream in(line);
  Report r;
  std::string json_text;
  if (!(in >> r.kind >> r.gtrid) || !std::getline(in >> std::ws, json_text)) return std::nullopt;
  auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("deltas")) return std::nullopt;
  for (const auto& [key, amount] : j["deltas"].items()) {
    size_t colon = key.rfind(':');
    if (colon == std::string::npos || !amount.is_number_integer()) return std::nullopt;
    r.deltas[{key.substr(0, colon), std::stoll(key.substr(colon + 1))}] = amount.get<int64_t>();
  }
  if (j.contains("status")) r.status = j["status"].get<std::string>();
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Hex(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

struct ChildRun {
  std::vector<std::string> lines;
  ChildExit exit;
  bool timed_out = false;
  std::string stderr_text;

  std::string Describe() const {
    std::string out = "crash_coordinator " + exit.ToString() +
                      (timed_out ? " after hanging until the deadline" : "") + "; stdout:\n";
    for (const std::string& l : lines) out += "  " + l + "\n";
    return out + "stderr:\n" + stderr_text;
  }
};

// The gtrids of the branches prepared on the MariaDB server (XA RECOVER:
// formatID, gtrid_length, bqual_length, data).
std::vector<std::string> MariaPreparedGtrids() {
  std::vector<std::string> out;
  for (const auto& row : g_maria->Query(kMaria, "XA RECOVER")) {
    if (row.size() < 4) continue;
    out.push_back(row[3].substr(0, std::stoul(row[1])));
  }
  return out;
}

int64_t PreparedOn(const std::string& db) {
  if (db == kMaria) return static_cast<int64_t>(g_maria->Query(kMaria, "XA RECOVER").size());
  return g_pg->PreparedCount(db);
}

class MariaDbCrashTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(g_pg, nullptr);
    ASSERT_NE(g_maria, nullptr);
    char tmpl[] = "/tmp/twopc-mcrash-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A failed earlier test may have left a server down or branches
    // prepared; this one starts clean.
    if (!IsProcessAlive(g_pg->PostmasterPid(kPg))) ASSERT_TRUE(g_pg->RestartServerOf(kPg));
    if (g_maria->ServerPid(1) == 0 || !IsProcessAlive(g_maria->ServerPid(1)))
      ASSERT_TRUE(g_maria->StartServer(1));
    WaitForDeadSessions();
    for (const auto& row :
         g_pg->Query(kPg, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")) {
      g_pg->Exec(kPg, "ROLLBACK PREPARED '" + row[0] + "'");
    }
    for (const auto& row : g_maria->Query(kMaria, "XA RECOVER")) {
      const size_t gl = std::stoul(row[1]);
      g_maria->TryExec(kMaria, "XA ROLLBACK X'" + Hex(row[3].substr(0, gl)) + "',X'" +
                                   Hex(row[3].substr(gl)) + "'," + row[0]);
    }
  }

  void TearDown() override {
    internal::ClearSyncPointCallbacks();
    if (HasFailure()) {
      std::cerr << "keeping " << dir_ << " (decision log, config, child stderr)\n";
    } else {
      std::filesystem::remove_all(dir_);
    }
  }

  // Waits until no session other than the caller's is connected to either
  // database: a killed coordinator's requests run on to their end on the
  // server before it notices the client is gone (crash_test.cc, the same).
  static void WaitForDeadSessions() {
    const auto deadline = Clock::now() + 20s;
    while (g_pg->QueryInt(kPg,
                          "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND backend_type = 'client backend' AND pid <> pg_backend_pid()") > 0) {
      if (Clock::now() > deadline) {
        ADD_FAILURE() << "sessions of a dead coordinator still running on " << kPg;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    while (MariaSessions() > 0) {
      if (Clock::now() > deadline) {
        ADD_FAILURE() << "sessions of a dead coordinator still running on " << kMaria << ": "
                      << ::testing::PrintToString(g_maria->Query(
                             kMaria, "SELECT ID, COMMAND, STATE, INFO FROM information_schema.PROCESSLIST "
                                     "WHERE ID <> CONNECTION_ID()"));
        // Reported once: ended here, so that the next tests start clean
        // instead of each waiting for them again.
        KillMariaSessions();
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  // After an in-process coordinator was destroyed: no session of it is
  // left on m (they would hold server threads, and a prepared branch
  // attached to one could not be finished from elsewhere). Ends any left,
  // so that the next tests start clean.
  // `strict` false: only reported on stdout (ADestroyedCoordinatorLeavesNoMariaDbSession
  // is the test that fails for it).
  static void ExpectNoMariaSessionsLeft(const std::string& what, bool strict = true) {
    const auto deadline = Clock::now() + 5s;
    while (MariaSessions() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
    if (!strict) {
      if (const int64_t n = MariaSessions(); n > 0) {
        std::cout << what << ": " << n << " sessions left on m 5 s after the coordinator was destroyed\n";
      }
      return KillMariaSessions();
    }
    EXPECT_EQ(MariaSessions(), 0)
        << what << ": sessions left on m 5 s after the coordinator was destroyed: "
        << ::testing::PrintToString(g_maria->Query(kMaria,
                                                   "SELECT ID, COMMAND, TIME, INFO FROM information_schema.PROCESSLIST "
                                                   "WHERE ID <> CONNECTION_ID()"))
        << "; registration lock held by session "
        << ::testing::PrintToString(g_maria->Query(kMaria, "SELECT IS_USED_LOCK('twopc.registration.mcrash')"));
    KillMariaSessions();
  }

  static void KillMariaSessions() {
    for (const auto& row : g_maria->Query(kMaria,
                                          "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> "
                                          "CONNECTION_ID() AND USER = 'twopc'")) {
      g_maria->TryExec(kMaria, "KILL CONNECTION " + row[0]);
    }
    // KILL returns before the session is gone.
    const auto deadline = Clock::now() + 5s;
    while (MariaSessions() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  }

  static int64_t MariaSessions() {
    return g_maria->QueryInt(kMaria,
                             "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
                             "AND USER = 'twopc'");
  }

  // A config with `order` (the first participant pays in single mode) and
  // this test's own SQLite decision log.
  std::string WriteConfig(const std::vector<std::string>& order, int recovery_interval_ms) {
    std::ofstream out(dir_ + "/twopc.toml");
    out << "node_id = \"mcrash\"\n[log]\npath = \"" << dir_ << "/decisions.db\"\n";
    out << "[recovery]\ninterval_ms = " << recovery_interval_ms << "\n";
    for (const std::string& db : order) {
      out << "\n[[participants]]\nname = \"" << db << "\"\n";
      if (db == kMaria) {
        out << "kind = \"mariadb\"\nconninfo = \"" << g_maria->conninfo(db) << "\"\n";
      } else {
        out << "conninfo = \"" << g_pg->conninfo(db) << "\"\n";
      }
    }
    return dir_ + "/twopc.toml";
  }

  CoordinatorOptions LoadOptions(const std::string& config) {
    auto o = LoadConfigFile(config);
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    return o.ok() ? o.value() : CoordinatorOptions{};
  }

  // Fresh `accounts` 1..n at kInitialBalance and empty `transfers` on both.
  void ResetBank(int accounts) {
    g_pg->Exec(kPg,
               "SET lock_timeout = '10s'; SET client_min_messages = warning;"
               "DROP TABLE IF EXISTS accounts, transfers;"
               "CREATE TABLE accounts(id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));"
               "CREATE TABLE transfers(id text PRIMARY KEY);"
               "INSERT INTO accounts SELECT g, " +
                   std::to_string(kInitialBalance) + " FROM generate_series(1, " + std::to_string(accounts) +
                   ") g");
    g_maria->Exec(kMaria, "DROP TABLE IF EXISTS accounts, transfers");
    g_maria->Exec(kMaria,
                  "CREATE TABLE accounts(id BIGINT PRIMARY KEY, balance BIGINT NOT NULL "
                  "CHECK (balance >= 0)) ENGINE=InnoDB");
    g_maria->Exec(kMaria, "CREATE TABLE transfers(id VARCHAR(100) PRIMARY KEY) ENGINE=InnoDB");
    std::string values;
    for (int i = 1; i <= accounts; ++i) {
      values += (i > 1 ? "," : "") + std::string("(") + std::to_string(i) + "," +
                std::to_string(kInitialBalance) + ")";
    }
    g_maria->Exec(kMaria, "INSERT INTO accounts(id, balance) VALUES " + values);
  }

  static Balances ReadBalances() {
    Balances out;
    for (const auto& row : g_pg->Query(kPg, "SELECT id, balance FROM accounts"))
      out[{kPg, std::stoll(row[0])}] = std::stoll(row[1]);
    for (const auto& row : g_maria->Query(kMaria, "SELECT id, balance FROM accounts"))
      out[{kMaria, std::stoll(row[0])}] = std::stoll(row[1]);
    return out;
  }

  static int64_t Total(const Balances& b) {
    int64_t sum = 0;
    for (const auto& [key, v] : b) sum += v;
    return sum;
  }

  static std::set<std::string> TransferIds(const std::string& db) {
    std::set<std::string> ids;
    auto rows = db == kMaria ? g_maria->Query(db, "SELECT id FROM transfers")
                             : g_pg->Query(db, "SELECT id FROM transfers");
    for (const auto& row : rows) ids.insert(row[0]);
    return ids;
  }

  static void ExpectNothingPrepared() {
    EXPECT_EQ(g_pg->PreparedCount(kPg), 0) << "pg_prepared_xacts on " << kPg;
    EXPECT_EQ(MariaPreparedGtrids(), std::vector<std::string>{}) << "XA RECOVER on " << kMaria;
  }

  static void ExpectNoUnendedRecords(DecisionLog& log) {
    ASSERT_TRUE(log.Flush().ok());
    auto unended = log.Unended();
    ASSERT_TRUE(unended.ok()) << unended.status().ToString();
    for (const DecisionRecord& r : *unended) {
      ADD_FAILURE() << "record without END after recovery: " << r.gtrid << " (" << DecisionName(r.decision)
                    << ")";
    }
  }

  void ExpectNoUnendedRecordsInLogFile() {
    auto log = OpenSqliteDecisionLogReadOnly(LogPath());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ExpectNoUnendedRecords(**log);
  }

  std::unique_ptr<ChildProcess> SpawnChild(const std::vector<std::string>& args, const std::string& crash_at,
                                           const std::vector<std::string>& more_env = {}) {
    std::vector<std::string> argv = {CRASH_COORDINATOR_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string error;
    std::vector<std::string> env = {"TWOPC_CRASH_AT=" + crash_at};
    env.insert(env.end(), more_env.begin(), more_env.end());
    auto child = ChildProcess::Spawn(argv, env, StderrPath(), &error);
    EXPECT_NE(child, nullptr) << error;
    return child;
  }

  ChildRun RunChild(const std::vector<std::string>& args, const std::string& crash_at) {
    ChildRun run;
    auto child = SpawnChild(args, crash_at);
    if (child == nullptr) return run;
    const auto deadline = Clock::now() + 60s;
    run.lines = child->ReadRemainingLines(deadline);
    auto exit = child->Wait(deadline);
    run.timed_out = !exit.has_value();
    run.exit = exit.has_value() ? *exit : child->KillAndWait();
    run.stderr_text = ReadFile(StderrPath());
    return run;
  }

  // Runs single mode with a crash at `point`; returns the BEGIN report of the
  // crashed transfer (nullopt after a failure).
  std::optional<Report> CrashSingle(const std::string& config, const std::string& point) {
    ChildRun crashed = RunChild({"--config", config, "--mode", "single"}, point);
    EXPECT_FALSE(crashed.timed_out) << crashed.Describe();
    // A normal exit means the point was never reached.
    EXPECT_TRUE(crashed.exit.KilledBySigkill()) << crashed.Describe();
    if (!crashed.exit.KilledBySigkill()) return std::nullopt;
    WaitForDeadSessions();
    EXPECT_FALSE(crashed.lines.empty()) << "no BEGIN line\n" << crashed.Describe();
    if (crashed.lines.empty()) return std::nullopt;
    auto begin = ParseReport(crashed.lines[0]);
    EXPECT_TRUE(begin.has_value() && begin->kind == "BEGIN") << crashed.Describe();
    if (!begin.has_value() || begin->kind != "BEGIN") return std::nullopt;
    EXPECT_EQ(begin->deltas.size(), 2u) << crashed.Describe();
    EXPECT_EQ(crashed.lines.size(), 1u) << "the crashed process reported an outcome\n" << crashed.Describe();
    return begin;
  }

  // Atomicity and the balances after recovery of `begin` (and `second`, a
  // restarted process's own committed transfer). Returns whether `begin` was
  // applied.
  bool ExpectAtomicOutcome(const Report& begin, const Balances& before, const std::optional<Report>& second = {}) {
    const bool on_pg = TransferIds(kPg).count(begin.gtrid) > 0;
    const bool on_maria = TransferIds(kMaria).count(begin.gtrid) > 0;
    EXPECT_EQ(on_pg, on_maria) << begin.gtrid << " applied on " << (on_pg ? kPg : kMaria) << " only";
    Balances expected = before;
    if (on_pg && on_maria) {
      for (const auto& [key, amount] : begin.deltas) expected[key] += amount;
    }
    if (second.has_value()) {
      for (const auto& [key, amount] : second->deltas) expected[key] += amount;
      for (const std::string& db : kBoth) EXPECT_EQ(TransferIds(db).count(second->gtrid), 1u) << db;
    }
    const Balances after = ReadBalances();
    EXPECT_EQ(after, expected);
    EXPECT_EQ(Total(after), Total(before));
    ExpectNothingPrepared();
    return on_pg && on_maria;
  }

  std::string StderrPath() const { return dir_ + "/child.stderr"; }
  std::string LogPath() const { return dir_ + "/decisions.db"; }

  std::string dir_;
};

// ---------------------------------------------------------------------------
// 1. The crash-point matrix (and 3: the prepared MariaDB branch of a killed
// client is listed by XA RECOVER before recovery).

enum class Restart {
  kInProcess,        // Coordinator::Open in the test process on the same log
  kRecoveryManager,  // RecoveryManager::Open + RunPass
  kChild,            // crash_coordinator run again, moving money on the same rows
};

struct CrashCase {
  bool maria_pays;    // participant order: m first (m pays) or a first
  std::string point;  // TWOPC_CRASH_AT value
  bool decided;       // at or after the durable COMMIT record
  Restart restart;
  // The MariaDB branch is surely prepared when the process dies (both
  // prepared, commit not begun).
  bool maria_prepared;
};

std::vector<CrashCase> CrashCases() {
  struct Point {
    std::string name;
    bool decided;
    bool maria_prepared;
  };
  const std::vector<Point> points = {{"before_prepare", false, false},
                                     {"after_prepare:1", false, false},
                                     {"after_prepare:2", false, true},
                                     {"before_decision", false, true},
                                     {"after_decision_forced", true, true},
                                     {"after_commit_prepared:1", true, false},
                                     {"before_end", true, false}};
  std::vector<CrashCase> cases;
  for (bool maria_pays : {false, true}) {
    for (const Point& p : points) cases.push_back({maria_pays, p.name, p.decided, Restart::kInProcess, p.maria_prepared});
    cases.push_back({maria_pays, "before_decision", false, Restart::kChild, true});
    cases.push_back({maria_pays, "after_decision_forced", true, Restart::kChild, true});
    cases.push_back({maria_pays, "after_prepare:2", false, Restart::kRecoveryManager, true});
    cases.push_back({maria_pays, "after_decision_forced", true, Restart::kRecoveryManager, true});
  }
  return cases;
}

const char* RestartName(Restart r) {
  switch (r) {
    case Restart::kInProcess: return "InProcess";
    case Restart::kRecoveryManager: return "RecoveryManager";
    case Restart::kChild: return "ChildRestart";
  }
  return "?";
}

void PrintTo(const CrashCase& c, std::ostream* os) {
  *os << (c.maria_pays ? "m pays a" : "a pays m") << ", crash at " << c.point << ", " << RestartName(c.restart);
}

std::string CrashCaseName(const ::testing::TestParamInfo<CrashCase>& info) {
  std::string name = std::string(info.param.maria_pays ? "MPaysA_" : "APaysM_") + info.param.point + "_" +
                     RestartName(info.param.restart);
  for (char& c : name) {
    if (c == ':') c = '_';
  }
  return name;
}

class MariaDbCrashPointTest : public MariaDbCrashTestBase, public ::testing::WithParamInterface<CrashCase> {};

TEST_P(MariaDbCrashPointTest, OutcomeIsAtomicAndFollowsTheDurableDecision) {
  const CrashCase& c = GetParam();
  const std::vector<std::string> order = c.maria_pays ? std::vector<std::string>{kMaria, kPg} : kBoth;
  const std::string config = WriteConfig(order, /*recovery_interval_ms=*/0);
  ResetBank(kMatrixAccounts);
  const Balances before = ReadBalances();

  auto begin = CrashSingle(config, c.point);
  ASSERT_TRUE(begin.has_value());

  // 3. The killed process's prepared MariaDB branch survives its client.
  if (c.maria_prepared) {
    EXPECT_EQ(MariaPreparedGtrids(), std::vector<std::string>{begin->gtrid})
        << "the prepared MariaDB branch did not outlive its killed client";
    EXPECT_EQ(g_pg->PreparedCount(kPg), 1);
  }

  std::optional<Report> second;
  switch (c.restart) {
    case Restart::kInProcess: {
      auto coord = Coordinator::Open(LoadOptions(config));
      ASSERT_TRUE(coord.ok()) << coord.status().ToString();
      ExpectNoUnendedRecords((*coord)->log());
      break;
    }
    case Restart::kRecoveryManager: {
      auto manager = RecoveryManager::Open(LoadOptions(config));
      ASSERT_TRUE(manager.ok()) << manager.status().ToString();
      RecoveryReport r = (*manager)->RunPass({});
      EXPECT_EQ(r.in_doubt_remaining, 0);
      EXPECT_EQ(r.ExitCode(), 0);
      EXPECT_GE(r.resolved, 1);
      manager.value().reset();
      ExpectNoUnendedRecordsInLogFile();
      break;
    }
    case Restart::kChild: {
      ChildRun restarted = RunChild({"--config", config, "--mode", "single"}, "");
      ASSERT_FALSE(restarted.timed_out) << restarted.Describe();
      ASSERT_TRUE(restarted.exit.exited && restarted.exit.exit_code == 0) << restarted.Describe();
      ASSERT_EQ(restarted.lines.size(), 2u) << restarted.Describe();
      second = ParseReport(restarted.lines[1]);
      // It moves money on the very rows the crash left prepared: it commits
      // only if recovery at Open released them first.
      ASSERT_TRUE(second.has_value() && second->kind == "ACK") << restarted.Describe();
      ExpectNoUnendedRecordsInLogFile();
      break;
    }
  }
  const bool applied = ExpectAtomicOutcome(*begin, before, second);
  EXPECT_EQ(applied, c.decided) << begin->gtrid << " crashed at " << c.point;
}

INSTANTIATE_TEST_SUITE_P(Points, MariaDbCrashPointTest, ::testing::ValuesIn(CrashCases()), CrashCaseName);

// ---------------------------------------------------------------------------
// 2. The MariaDB server SIGKILLed and restarted while its branch is prepared.

class MariaDbServerCrashTest : public MariaDbCrashTestBase {
 protected:
  bool KillAndRestartMaria() {
    const pid_t old_pid = g_maria->ServerPid(1);
    if (!g_maria->StopServer(1, /*kill=*/true)) return false;
    EXPECT_FALSE(IsProcessAlive(old_pid));
    return g_maria->StartServer(1);
  }

  // A dead coordinator's branches prepared on both; the MariaDB server
  // crashes and restarts before recovery runs.
  void DeadCoordinatorThenServerCrash(const std::string& point, bool decided) {
    const std::string config = WriteConfig(kBoth, 0);
    ResetBank(kMatrixAccounts);
    const Balances before = ReadBalances();
    auto begin = CrashSingle(config, point);
    ASSERT_TRUE(begin.has_value());
    ASSERT_EQ(MariaPreparedGtrids(), std::vector<std::string>{begin->gtrid});
    ASSERT_TRUE(KillAndRestartMaria());
    // InnoDB crash recovery brings the prepared branch back.
    EXPECT_EQ(MariaPreparedGtrids(), std::vector<std::string>{begin->gtrid})
        << "the prepared MariaDB branch did not survive kill -9 of its server";
    {
      auto coord = Coordinator::Open(LoadOptions(config));
      ASSERT_TRUE(coord.ok()) << coord.status().ToString();
      ExpectNoUnendedRecords((*coord)->log());
    }
    EXPECT_EQ(ExpectAtomicOutcome(*begin, before), decided);
  }

  CoordinatorOptions FastRetryOptions(const std::string& config) {
    CoordinatorOptions o = LoadOptions(config);
    o.complete_retry_initial = 20ms;
    o.complete_retry_max = 200ms;
    o.complete_retry_for = 60s;
    return o;
  }
};

TEST_F(MariaDbServerCrashTest, UndecidedBranchOfADeadCoordinatorSurvivesServerCrashAndIsRolledBack) {
  DeadCoordinatorThenServerCrash("after_prepare:2", /*decided=*/false);
}

TEST_F(MariaDbServerCrashTest, CommittedBranchOfADeadCoordinatorSurvivesServerCrashAndIsCommitted) {
  DeadCoordinatorThenServerCrash("after_decision_forced", /*decided=*/true);
}

// The coordinator paused (SIGSTOP) with both branches prepared and its
// sessions open; the MariaDB server is killed and restarted under it, then
// the coordinator is killed too.
TEST_F(MariaDbServerCrashTest, ServerCrashUnderAPausedCoordinatorThenCoordinatorKilled) {
  const std::string config = WriteConfig(kBoth, 0);
  ResetBank(kMatrixAccounts);
  const Balances before = ReadBalances();
  auto child = SpawnChild({"--config", config, "--mode", "single"}, "", {"TWOPC_STOP_AT=after_prepare:2"});
  ASSERT_NE(child, nullptr);
  auto begin_line = child->ReadLine(Clock::now() + 30s);
  ASSERT_TRUE(begin_line.has_value()) << ReadFile(StderrPath());
  auto begin = ParseReport(*begin_line);
  ASSERT_TRUE(begin.has_value() && begin->kind == "BEGIN") << *begin_line;
  // Stopped once both have prepared.
  const auto deadline = Clock::now() + 30s;
  while (ReadFile(StderrPath()).find("TWOPC_STOP_AT reached") == std::string::npos && Clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  ASSERT_NE(ReadFile(StderrPath()).find("TWOPC_STOP_AT reached"), std::string::npos) << ReadFile(StderrPath());
  EXPECT_EQ(MariaPreparedGtrids(), std::vector<std::string>{begin->gtrid});

  ASSERT_TRUE(KillAndRestartMaria());
  EXPECT_EQ(MariaPreparedGtrids(), std::vector<std::string>{begin->gtrid});
  child->Kill();
  auto exit = child->Wait(Clock::now() + 10s);
  ASSERT_TRUE(exit.has_value() && exit->KilledBySigkill());
  WaitForDeadSessions();
  {
    auto coord = Coordinator::Open(LoadOptions(config));
    ASSERT_TRUE(coord.ok()) << coord.status().ToString();
    ExpectNoUnendedRecords((*coord)->log());
  }
  EXPECT_FALSE(ExpectAtomicOutcome(*begin, before));
}

// Kills the MariaDB server from a sync point callback (so that it is down
// before the protocol's next step) and starts it again `delay` later.
class MariaCrasher {
 public:
  explicit MariaCrasher(std::chrono::milliseconds delay) : delay_(delay) {}
  ~MariaCrasher() { Finish(); }

  void Crash() {
    if (requested_.exchange(true)) return;
    crashed_ = g_maria->StopServer(1, /*kill=*/true);
    restarter_ = std::thread([this] {
      std::this_thread::sleep_for(delay_);
      restarted_ = g_maria->StartServer(1);
    });
  }
  void Finish() {
    if (restarter_.joinable()) restarter_.join();
  }
  bool crashed() const { return crashed_; }
  bool restarted() const { return restarted_; }

 private:
  const std::chrono::milliseconds delay_;
  std::atomic<bool> requested_{false}, crashed_{false}, restarted_{false};
  std::thread restarter_;
};

// The decision is durable and the MariaDB server dies before XA COMMIT
// reaches it: the branch's own session is gone, phase 2 must go on through
// a new connection once the server is back, and commit.
TEST_F(MariaDbServerCrashTest, CommitCompletesWhenMariaDbCrashesInPhaseTwo) {
  const std::string config = WriteConfig(kBoth, 0);
  ResetBank(kMatrixAccounts);
  auto coord = Coordinator::Open(FastRetryOptions(config));
  ASSERT_TRUE(coord.ok()) << coord.status().ToString();
  MariaCrasher crasher(1000ms);
  internal::SetSyncPointCallback("after_decision_forced", [&](int) { crasher.Crash(); });
  Transaction tx = (*coord)->Begin();
  ASSERT_TRUE(tx.Queue(kPg, "UPDATE accounts SET balance = balance - $1 WHERE id = 2", {int64_t{40}}).ok());
  ASSERT_TRUE(tx.Queue(kMaria, "UPDATE accounts SET balance = balance + $1 WHERE id = 2", {int64_t{40}}).ok());
  Status s = tx.Commit();
  internal::ClearSyncPointCallbacks();
  crasher.Finish();
  ASSERT_TRUE(crasher.crashed()) << "the sync point was never reached";
  ASSERT_TRUE(crasher.restarted());
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectNoUnendedRecords((*coord)->log());
  EXPECT_EQ(g_pg->QueryInt(kPg, "SELECT balance FROM accounts WHERE id = 2"), kInitialBalance - 40);
  EXPECT_EQ(g_maria->QueryInt(kMaria, "SELECT balance FROM accounts WHERE id = 2"), kInitialBalance + 40);
  ExpectNothingPrepared();
}

// The MariaDB server dies right after the first PREPARE answer: either PG
// answered first (m's PREPARE lost, or prepared with nobody to hear it:
// abort), or m answered first (commit, completed once m is back).
TEST_F(MariaDbServerCrashTest, MariaDbCrashDuringPrepareLeavesAtomicOutcome) {
  const std::string config = WriteConfig(kBoth, 0);
  ResetBank(kMatrixAccounts);
  const Balances before = ReadBalances();
  auto coord = Coordinator::Open(FastRetryOptions(config));
  ASSERT_TRUE(coord.ok()) << coord.status().ToString();
  MariaCrasher crasher(1000ms);
  internal::SetSyncPointCallback("after_prepare", [&](int k) {
    if (k == 1) crasher.Crash();
  });
  Transaction tx = (*coord)->Begin();
  ASSERT_TRUE(tx.Queue(kPg, "UPDATE accounts SET balance = balance - $1 WHERE id = 3", {int64_t{60}}).ok());
  ASSERT_TRUE(tx.Queue(kMaria, "UPDATE accounts SET balance = balance + $1 WHERE id = 3", {int64_t{60}}).ok());
  Status s = tx.Commit();
  internal::ClearSyncPointCallbacks();
  crasher.Finish();
  ASSERT_TRUE(crasher.crashed()) << "the sync point was never reached";
  ASSERT_TRUE(crasher.restarted());
  ASSERT_TRUE(s.ok() || s.IsAborted()) << s.ToString();
  coord.value().reset();
  {
    auto again = Coordinator::Open(LoadOptions(config));
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    ExpectNoUnendedRecords((*again)->log());
  }
  const int64_t moved = s.ok() ? 60 : 0;
  EXPECT_EQ(g_pg->QueryInt(kPg, "SELECT balance FROM accounts WHERE id = 3"), kInitialBalance - moved) << s.ToString();
  EXPECT_EQ(g_maria->QueryInt(kMaria, "SELECT balance FROM accounts WHERE id = 3"), kInitialBalance + moved)
      << s.ToString();
  EXPECT_EQ(Total(ReadBalances()), Total(before));
  ExpectNothingPrepared();
}

// A MariaDB session of its own holding a row lock on `accounts` until
// destroyed: makes a branch's request wait behind it.
class MariaRowLock {
 public:
  explicit MariaRowLock(int id) : m_(mysql_init(nullptr)) {
    EXPECT_NE(mysql_real_connect(m_, "127.0.0.1", MariaDbSandbox::kUser, MariaDbSandbox::kPassword,
                                 kMaria.c_str(), g_maria->port(1), nullptr, 0),
              nullptr)
        << mysql_error(m_);
    Run("BEGIN");
    Run("SELECT 1 FROM accounts WHERE id = " + std::to_string(id) + " FOR UPDATE");
  }
  ~MariaRowLock() {
    Run("ROLLBACK");
    mysql_close(m_);
  }
  MariaRowLock(const MariaRowLock&) = delete;
  MariaRowLock& operator=(const MariaRowLock&) = delete;

 private:
  void Run(const std::string& sql) {
    EXPECT_EQ(mysql_query(m_, sql.c_str()), 0) << sql << ": " << mysql_error(m_);
    if (MYSQL_RES* r = mysql_store_result(m_)) mysql_free_result(r);
  }
  MYSQL* m_;
};

// crash_test's RecoverEndsTheSessionsOfADeadCoordinator for MariaDB: the
// coordinator is SIGKILLed while its request on m (XA START, the UPDATE, ...,
// XA PREPARE in one multi-statement query) waits behind a row lock. The
// server runs that request on after the client died; recovery must end the
// session before it concludes, or the branch prepares after the pass rolled
// back a's and declared the transaction settled.
TEST_F(MariaDbCrashTestBase, RecoverEndsTheSessionsOfADeadCoordinatorOnMariaDb) {
  const std::string config = WriteConfig(kBoth, 0);  // a:1 pays m:1
  std::string waiting_info;
  std::unique_ptr<MariaRowLock> lock;
  for (int attempt = 0;; ++attempt) {
    ResetBank(kMatrixAccounts);
    lock = std::make_unique<MariaRowLock>(1);
    ChildRun run = RunChild({"--config", config, "--mode", "single"}, "after_prepare:1");
    ASSERT_TRUE(run.exit.KilledBySigkill()) << run.Describe();
    EXPECT_EQ(g_pg->PreparedCount(kPg), 1);
    auto rows = g_maria->Query(kMaria,
                               "SELECT ID, STATE, INFO FROM information_schema.PROCESSLIST WHERE ID <> "
                               "CONNECTION_ID() AND USER = 'twopc' AND COMMAND = 'Query'");
    for (const auto& row : rows) {
      if (row[2].find("accounts") != std::string::npos && row[2].find("FOR UPDATE") == std::string::npos)
        waiting_info = row[2];
    }
    if (!waiting_info.empty()) break;
    ASSERT_LT(attempt, 5) << "the child never got its request on m queued behind the lock before it died: "
                          << ::testing::PrintToString(rows);
    lock.reset();
    auto cleanup = RecoveryManager::Open(LoadOptions(config));
    ASSERT_TRUE(cleanup.ok()) << cleanup.status().ToString();
    ASSERT_EQ((*cleanup)->RunPass({}).ExitCode(), 0);
    WaitForDeadSessions();
  }
  std::cout << "the dead coordinator's waiting request on m shows as: " << waiting_info << "\n";

  auto manager = RecoveryManager::Open(LoadOptions(config));
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  RecoveryReport r = (*manager)->RunPass({});
  bool ended = false;
  for (const auto& a : r.actions) ended = ended || (a.kind == RecoveryActionKind::kEndSessions && a.participant == kMaria);
  EXPECT_TRUE(ended) << "no session of the dead coordinator was ended on m; its waiting request shows as: "
                     << waiting_info;
  EXPECT_EQ(r.ExitCode(), 0);
  manager.value().reset();

  lock.reset();  // whatever the dead process queued behind the lock could run now
  std::this_thread::sleep_for(1s);
  WaitForDeadSessions();
  EXPECT_EQ(MariaPreparedGtrids(), std::vector<std::string>{})
      << "a branch of the dead coordinator prepared on m after recovery had settled its transaction";
  ExpectNothingPrepared();
  EXPECT_EQ(g_pg->QueryInt(kPg, "SELECT balance FROM accounts WHERE id = 1"), kInitialBalance);
  EXPECT_EQ(g_maria->QueryInt(kMaria, "SELECT balance FROM accounts WHERE id = 1"), kInitialBalance);
}

// The per-transaction limits reach the MariaDB branch as session variables
// (SET SESSION innodb_lock_wait_timeout / max_statement_time before
// XA START): MariaDB must accept them, or every transaction with a limit
// fails to prepare (the 16-thread run below sets lock_timeout).
TEST_F(MariaDbCrashTestBase, TransactionLimitsAreAcceptedOnTheMariaDbBranch) {
  const std::string config = WriteConfig(kBoth, 0);
  ResetBank(kMatrixAccounts);
  auto coord = Coordinator::Open(LoadOptions(config));
  ASSERT_TRUE(coord.ok()) << coord.status().ToString();
  for (int limit = 0; limit < 2; ++limit) {
    TransactionOptions options;
    if (limit == 0) options.lock_timeout = 300ms;
    if (limit == 1) options.statement_timeout = 5s;
    Transaction tx = (*coord)->Begin(options);
    ASSERT_TRUE(tx.Queue(kPg, "UPDATE accounts SET balance = balance - $1 WHERE id = 4", {int64_t{5}}).ok());
    ASSERT_TRUE(tx.Queue(kMaria, "UPDATE accounts SET balance = balance + $1 WHERE id = 4", {int64_t{5}}).ok());
    Status s = tx.Commit();
    EXPECT_TRUE(s.ok()) << (limit == 0 ? "lock_timeout" : "statement_timeout") << ": " << s.ToString();
  }
  coord.value().reset();
  ExpectNoMariaSessionsLeft("after two transactions with limits", /*strict=*/false);
  EXPECT_EQ(Total(ReadBalances()), 2 * kMatrixAccounts * kInitialBalance);
  ExpectNothingPrepared();
}

// A coordinator that ran transactions on m and was destroyed leaves no
// session behind on the MariaDB server (PostgreSQL's are gone at once). The
// destruction follows the last commit at once, while the branches'
// connections are still being reset for the pool.
TEST_F(MariaDbCrashTestBase, ADestroyedCoordinatorLeavesNoMariaDbSession) {
  const std::string config = WriteConfig(kBoth, 0);
  ResetBank(kMatrixAccounts);
  for (int round = 0; round < 3; ++round) {
    {
      auto coord = Coordinator::Open(LoadOptions(config));
      ASSERT_TRUE(coord.ok()) << coord.status().ToString();
      std::vector<std::thread> threads;
      std::atomic<int> failed{0};
      for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
          for (int i = 0; i < 3; ++i) {
            Transaction tx = (*coord)->Begin();
            const int64_t id = 1 + t;  // one row per thread: no waits
            if (!tx.Queue(kPg, "UPDATE accounts SET balance = balance - 1 WHERE id = $1", {id}).ok() ||
                !tx.Queue(kMaria, "UPDATE accounts SET balance = balance + 1 WHERE id = $1", {id}).ok() ||
                !tx.Commit().ok()) {
              ++failed;
            }
          }
        });
      }
      for (auto& th : threads) th.join();
      EXPECT_EQ(failed.load(), 0);
    }
    EXPECT_EQ(g_pg->QueryInt(kPg,
                             "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                             "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"),
              0)
        << "round " << round;
    ExpectNoMariaSessionsLeft("round " + std::to_string(round));
  }
  EXPECT_EQ(Total(ReadBalances()), 2 * kMatrixAccounts * kInitialBalance);
  ExpectNothingPrepared();
}

// ---------------------------------------------------------------------------
// 4. 16 threads of transfers between PostgreSQL and MariaDB accounts, both
// directions, through one coordinator.

TEST_F(MariaDbCrashTestBase, SixteenThreadsOfMixedTransfersConserveMoney) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 30;
  const std::string config = WriteConfig(kBoth, 0);
  ResetBank(kStressAccounts);
  const Balances initial = ReadBalances();
  auto coord = Coordinator::Open(LoadOptions(config));
  ASSERT_TRUE(coord.ok()) << coord.status().ToString();

  struct Outcome {
    std::string gtrid;
    Balances deltas;
    Status status;
  };
  std::mutex mutex;
  std::vector<Outcome> outcomes;
  const auto started = Clock::now();
  const auto stop_at = started + 90s;  // bounded in time as well as in count
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(7919 * static_cast<uint64_t>(t + 1));
      for (int i = 0; i < kPerThread && Clock::now() < stop_at; ++i) {
        const bool pg_pays = rng() % 2 == 0;
        const std::string& from = pg_pays ? kPg : kMaria;
        const std::string& to = pg_pays ? kMaria : kPg;
        const int64_t from_id = 1 + static_cast<int64_t>(rng() % kStressAccounts);
        const int64_t to_id = 1 + static_cast<int64_t>(rng() % kStressAccounts);
        const int64_t amount = 1 + static_cast<int64_t>(rng() % 20);
        TransactionOptions options;
        // A cross-database wait cycle is no single server's deadlock: the
        // lock timeouts break it (MariaDB's in whole seconds, so half the
        // threads wait as long on PostgreSQL and either side may give up).
        options.lock_timeout = t % 2 == 0 ? 300ms : 1000ms;
        options.deadline = 20s;
        Transaction tx = (*coord)->Begin(options);
        Outcome o;
        o.gtrid = tx.gtrid();
        o.deltas[{from, from_id}] = -amount;
        o.deltas[{to, to_id}] = amount;
        Status s;
        // Both orders of statements: MariaDB's branch first or PostgreSQL's.
        for (const std::string& db : pg_pays ? kBoth : std::vector<std::string>{kMaria, kPg}) {
          if (!s.ok()) break;
          const int64_t id = db == from ? from_id : to_id;
          const int64_t delta = db == from ? -amount : amount;
          s = tx.Queue(db, "UPDATE accounts SET balance = balance + $1 WHERE id = $2", {delta, id});
          if (s.ok()) s = tx.Queue(db, "INSERT INTO transfers(id) VALUES ($1)", {tx.gtrid()});
        }
        if (s.ok()) s = tx.Commit();
        o.status = s;
        std::lock_guard<std::mutex> lock(mutex);
        outcomes.push_back(std::move(o));
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto elapsed = Clock::now() - started;
  const CoordinatorStats stats = (*coord)->stats();
  coord.value().reset();  // waits for background completions
  ExpectNoMariaSessionsLeft("after the 16-thread run", /*strict=*/false);

  size_t ok = 0, aborted = 0, in_doubt = 0, other = 0;
  Balances expected = initial;
  const std::set<std::string> pg_ids = TransferIds(kPg), maria_ids = TransferIds(kMaria);
  std::map<std::string, int> reasons;
  for (const Outcome& o : outcomes) {
    const bool on_pg = pg_ids.count(o.gtrid) > 0, on_maria = maria_ids.count(o.gtrid) > 0;
    EXPECT_EQ(on_pg, on_maria) << o.gtrid << " half applied (" << o.status.ToString() << ")";
    if (o.status.ok()) {
      ++ok;
      EXPECT_TRUE(on_pg && on_maria) << "committed " << o.gtrid << " not applied";
    } else if (o.status.IsInDoubt()) {
      ++in_doubt;
    } else {
      if (o.status.IsAborted()) ++aborted; else ++other;
      EXPECT_FALSE(on_pg || on_maria) << "failed " << o.gtrid << " applied: " << o.status.ToString();
      std::string reason = o.status.ToString().substr(0, 300);
      ++reasons[reason];
    }
    if (on_pg && on_maria) {
      for (const auto& [key, amount] : o.deltas) expected[key] += amount;
    }
  }
  EXPECT_EQ(in_doubt, 0u);
  EXPECT_EQ(outcomes.size(), static_cast<size_t>(kThreads * kPerThread)) << "stopped by the time bound";
  EXPECT_EQ(ok + aborted + other + in_doubt, outcomes.size());
  EXPECT_EQ(stats.committed, ok);
  EXPECT_EQ(stats.in_doubt, 0u);
  // Every failed transfer counts as aborted by the coordinator.
  EXPECT_EQ(stats.committed + stats.aborted, outcomes.size())
      << "committed " << stats.committed << ", aborted " << stats.aborted;
  EXPECT_GT(ok, outcomes.size() / 4) << "almost nothing committed";
  const Balances final_balances = ReadBalances();
  EXPECT_EQ(Total(final_balances), Total(initial));
  EXPECT_EQ(final_balances, expected);
  ExpectNothingPrepared();
  std::cout << "mixed: " << outcomes.size() << " transfers, " << ok << " committed, " << aborted << " aborted, "
            << other << " other failures, " << in_doubt << " in doubt, "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms; coordinator: "
            << stats.committed << " committed, " << stats.aborted << " aborted\n";
  for (const auto& [reason, n] : reasons) std::cout << "  " << n << " x " << reason << "\n";
}

// ---------------------------------------------------------------------------
// Chaos: crash_coordinator's loop (4 threads, random transfers a <-> m, with
// lock_timeout) killed at random moments, three times; then recovery at Open.
// The reports must agree: nothing half applied, every ACK applied, no ABORT
// applied, money conserved, nothing prepared.

TEST_F(MariaDbCrashTestBase, KilledBusyCoordinatorLosesNoAcknowledgedTransfer) {
  const std::string config = WriteConfig(kBoth, /*recovery_interval_ms=*/500);
  ResetBank(kMatrixAccounts);
  const Balances initial = ReadBalances();
  std::mt19937 rng(20261201);
  std::vector<std::string> lines;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::string> args = {"--config", config, "--mode", "loop", "--threads", "4",
                                     "--accounts", std::to_string(kMatrixAccounts), "--seed",
                                     std::to_string(500 + round)};
    if (round == 1) args.push_back("--early-ack");
    auto child = SpawnChild(args, "");
    ASSERT_NE(child, nullptr);
    const auto kill_at = Clock::now() + std::chrono::milliseconds(600 + static_cast<int>(rng() % 900));
    while (auto line = child->ReadLine(kill_at)) lines.push_back(std::move(*line));
    ASSERT_FALSE(child->eof()) << "round " << round << ": crash_coordinator ended before the kill\n"
                               << ReadFile(StderrPath());
    child->Kill();
    auto exit = child->Wait(Clock::now() + 10s);
    for (auto& l : child->ReadRemainingLines(Clock::now() + 10s)) lines.push_back(std::move(l));
    ASSERT_TRUE(exit.has_value() && exit->KilledBySigkill()) << "round " << round;
  }
  WaitForDeadSessions();
  {
    auto coord = Coordinator::Open(LoadOptions(config));
    ASSERT_TRUE(coord.ok()) << coord.status().ToString();
    ExpectNoUnendedRecords((*coord)->log());
  }

  std::map<std::string, Report> begun;
  std::set<std::string> acked, aborted;
  for (const std::string& line : lines) {
    auto r = ParseReport(line);
    ASSERT_TRUE(r.has_value()) << "unparsable report line: " << line;
    if (r->kind == "BEGIN") {
      begun[r->gtrid] = *r;
    } else if (r->kind == "ACK") {
      acked.insert(r->gtrid);
    } else if (r->kind == "ABORT") {
      aborted.insert(r->gtrid);
    }
  }
  EXPECT_GT(acked.size(), 0u) << lines.size() << " report lines";
  const std::set<std::string> pg_ids = TransferIds(kPg), maria_ids = TransferIds(kMaria);
  for (const auto& id : pg_ids) EXPECT_EQ(begun.count(id), 1u) << "applied transfer " << id << " never begun";
  for (const auto& id : maria_ids) EXPECT_EQ(begun.count(id), 1u) << "applied transfer " << id << " never begun";
  Balances expected = initial;
  int applied = 0;
  for (const auto& [gtrid, r] : begun) {
    const bool on_pg = pg_ids.count(gtrid) > 0, on_maria = maria_ids.count(gtrid) > 0;
    EXPECT_EQ(on_pg, on_maria) << gtrid << " half applied";
    if (acked.count(gtrid) > 0) EXPECT_TRUE(on_pg && on_maria) << "ACKed " << gtrid << " lost";
    if (aborted.count(gtrid) > 0) EXPECT_FALSE(on_pg || on_maria) << "ABORTed " << gtrid << " applied";
    if (!(on_pg && on_maria)) continue;
    ++applied;
    for (const auto& [key, amount] : r.deltas) expected[key] += amount;
  }
  const Balances final_balances = ReadBalances();
  EXPECT_EQ(Total(final_balances), Total(initial));
  EXPECT_EQ(final_balances, expected);
  ExpectNothingPrepared();
  std::cout << "chaos: " << begun.size() << " attempts, " << applied << " applied, " << acked.size() << " acked, "
            << aborted.size() << " aborted\n";
}

}  // namespace
}  // namespace twopc::testing
