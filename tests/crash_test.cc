// Crash tests (docs/protocol.md): a real coordinator process
// (tests/crash_coordinator.cc) SIGKILLed at every named point of the commit
// protocol, participants stopped with `pg_ctl stop -m immediate` in the middle
// of a commit, and a chaos run that kills a busy coordinator at random
// moments. After each crash a coordinator is opened again on the same
// decision log -- its Open runs recovery -- and the tests check what a user of
// a transaction manager relies on:
//   * atomicity: every branch of a transfer applied, or none;
//   * the outcome is the log's: committed iff the COMMIT record was durable;
//   * nothing acknowledged is lost, nothing stays prepared, no record stays
//     without END.
//
// Every transfer also inserts its gtrid into `transfers(id)` in each of its
// branches, so "applied on participant p" is a row lookup.
//
// Environment: TWOPC_CHAOS_ROUNDS=<k> runs k kill/restart rounds in the chaos
// test instead of 4 (a longer soak; about 2 s per round).
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/thread_annotations.h"
#include "testing/sync_point.h"
#include "testing/child_process.h"
#include "testing/pg_sandbox.h"
#include "tests/support/row_lock.h"
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

const std::vector<std::string> kAllDbs = {"a", "b", "c"};
constexpr int64_t kInitialBalance = 1000;
constexpr int kMatrixAccounts = 10;
constexpr int kChaosAccounts = 50;

// One set of servers for the whole binary: starting three costs seconds.
PgSandbox* g_sandbox = nullptr;

class SandboxEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    g_sandbox = PgSandbox::Start(kAllDbs).release();
    ASSERT_NE(g_sandbox, nullptr);
  }
  void TearDown() override {
    delete g_sandbox;
    g_sandbox = nullptr;
  }
};
[[maybe_unused]] ::testing::Environment* const kSandboxEnvironment =
    ::testing::AddGlobalTestEnvironment(new SandboxEnvironment);

// One line of crash_coordinator's report: "<KIND> <gtrid> <json>".
struct Report {
  std::string kind;  // BEGIN, ACK, ABORT, INDOUBT
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

std::set<std::string> ParticipantsOf(const Report& r) {
  std::set<std::string> out;
  for (const auto& [key, amount] : r.deltas) out.insert(key.first);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A crash_coordinator run: its report lines and how it ended.
struct ChildRun {
  std::vector<std::string> lines;
  ChildExit exit;
  bool timed_out = false;  // still running at the deadline (then killed by us)
  std::string stderr_text;

  std::string Describe() const {
    std::string out = "crash_coordinator " + exit.ToString() +
                      (timed_out ? " after hanging until the deadline" : "") + "; stdout:\n";
    for (const std::string& l : lines) out += "  " + l + "\n";
    return out + "stderr:\n" + stderr_text;
  }
};

class CrashTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(g_sandbox, nullptr);
    char tmpl[] = "/tmp/twopc-crash-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A failed earlier test may have left a server down or branches prepared
    // (it reported that already); this test must start clean, not hang on
    // their row locks.
    for (const std::string& db : kAllDbs) {
      if (!IsProcessAlive(g_sandbox->PostmasterPid(db)))
        ASSERT_TRUE(g_sandbox->RestartServerOf(db));
    }
    WaitForDeadSessions(kAllDbs);
    for (const std::string& db : kAllDbs) {
      for (const auto& row : g_sandbox->Query(
               db, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")) {
        g_sandbox->Exec(db, "ROLLBACK PREPARED " + Literal(row[0]));
      }
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

  // Waits until no other session is connected to `dbs`. A killed coordinator
  // leaves its sessions running: with pipelining, its UPDATEs and PREPARE
  // TRANSACTION are all on the server, which runs them to the end (a lock
  // wait included) before it notices the client is gone, so a branch can
  // become prepared after the process died. A restart that races with that
  // is covered by the background recovery pass (the chaos rounds); the
  // checks after a restart want a settled state.
  static void WaitForDeadSessions(const std::vector<std::string>& dbs) {
    const auto deadline = Clock::now() + 20s;
    for (const std::string& db : dbs) {
      while (g_sandbox->QueryInt(db,
                                 "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND backend_type = 'client backend' "
                                 "AND pid <> pg_backend_pid()") > 0) {
        if (Clock::now() > deadline) {
          ADD_FAILURE() << "sessions of a dead coordinator still running on " << db << ": "
                        << ::testing::PrintToString(g_sandbox->Query(
                               db,
                               "SELECT pid, state, wait_event, query FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()"));
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
    }
  }

  static std::string Literal(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += (c == '\'') ? std::string("''") : std::string(1, c);
    return out + "'";
  }

  // A config for `dbs` with this test's own decision log.
  // With `pg_store`, the decisions are kept inside the participants.
  std::string WriteConfig(const std::vector<std::string>& dbs, int recovery_interval_ms,
                          bool pg_store = false) {
    std::ofstream out(dir_ + "/twopc.toml");
    out << "node_id = \"crash\"\n[log]\n";
    if (pg_store) {
      out << "store = \"postgres\"\n";
    } else {
      out << "path = \"" << dir_ << "/decisions.db\"\n";
    }
    out << "[recovery]\ninterval_ms = " << recovery_interval_ms << "\n";
    for (const std::string& db : dbs) {
      out << "\n[[participants]]\nname = \"" << db << "\"\nconninfo = \"" << g_sandbox->conninfo(db)
          << "\"\n";
    }
    return dir_ + "/twopc.toml";
  }

  CoordinatorOptions LoadOptions(const std::string& config) {
    auto o = LoadConfigFile(config);
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    return o.ok() ? o.value() : CoordinatorOptions{};
  }

  // Fresh tables on every server: `accounts` 1..n at kInitialBalance and an
  // empty `transfers`.
  void ResetBank(int accounts) {
    for (const std::string& db : kAllDbs) {
      g_sandbox->Exec(db,
                      "SET lock_timeout = '10s'; SET client_min_messages = warning;"
                      "DROP SCHEMA IF EXISTS twopc CASCADE;"
                      "DROP TABLE IF EXISTS accounts, transfers;"
                      "CREATE TABLE accounts(id bigint PRIMARY KEY,"
                      " balance bigint NOT NULL CHECK (balance >= 0));"
                      "CREATE TABLE transfers(id text PRIMARY KEY);"
                      "INSERT INTO accounts SELECT g, " +
                          std::to_string(kInitialBalance) + " FROM generate_series(1, " +
                          std::to_string(accounts) + ") g");
    }
  }

  static Balances ReadBalances(const std::vector<std::string>& dbs) {
    Balances out;
    for (const std::string& db : dbs) {
      for (const auto& row : g_sandbox->Query(db, "SELECT id, balance FROM accounts")) {
        out[{db, std::stoll(row[0])}] = std::stoll(row[1]);
      }
    }
    return out;
  }

  static std::set<std::string> TransferIds(const std::string& db) {
    std::set<std::string> ids;
    for (const auto& row : g_sandbox->Query(db, "SELECT id FROM transfers")) ids.insert(row[0]);
    return ids;
  }

  std::unique_ptr<ChildProcess> SpawnChild(const std::vector<std::string>& args,
                                           const std::string& crash_at,
                                           const std::vector<std::string>& more_env = {}) {
    std::vector<std::string> argv = {CRASH_COORDINATOR_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string error;
    // An empty TWOPC_CRASH_AT disarms the crash points.
    std::vector<std::string> env = {"TWOPC_CRASH_AT=" + crash_at};
    env.insert(env.end(), more_env.begin(), more_env.end());
    auto child = ChildProcess::Spawn(argv, env, StderrPath(), &error);
    EXPECT_NE(child, nullptr) << error;
    return child;
  }

  // Runs crash_coordinator until it ends by itself (a normal exit or its own
  // SIGKILL at `crash_at`).
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

  std::string StderrPath() const { return dir_ + "/child.stderr"; }
  std::string LogPath() const { return dir_ + "/decisions.db"; }

  std::string dir_;
};

// Every record has its END once recovery is done: nothing left for a later
// pass, and compaction can drop it.
void ExpectNoUnendedRecords(DecisionLog& log) {
  ASSERT_TRUE(log.Flush().ok());
  auto unended = log.Unended();
  ASSERT_TRUE(unended.ok()) << unended.status().ToString();
  for (const DecisionRecord& r : *unended) {
    ADD_FAILURE() << "record without END after recovery: " << r.gtrid << " ("
                  << DecisionName(r.decision) << ")";
  }
}

// ---------------------------------------------------------------------------
// 1. The crash-point matrix.

enum class Restart {
  kInProcess,  // Coordinator::Open in the test process on the same log
  kChild,      // the operator's way: run the coordinator process again
};

struct CrashCase {
  int participants;
  std::string point;  // TWOPC_CRASH_AT value
  bool decided;       // at or after the durable COMMIT record (the decider's COMMIT)
  Restart restart;
  bool pg_store = false;  // store = "postgres"
};

std::vector<CrashCase> CrashCases() {
  std::vector<CrashCase> cases;
  for (int n : {2, 3}) {
    const std::string all = std::to_string(n);
    for (auto [point, decided] :
         std::vector<std::pair<std::string, bool>>{{"before_prepare", false},
                                                   {"after_prepare:1", false},
                                                   {"after_prepare:" + all, false},
                                                   {"before_decision", false},
                                                   {"after_decision_forced", true},
                                                   {"after_commit_prepared:1", true},
                                                   {"before_end", true}}) {
      cases.push_back({n, point, decided, Restart::kInProcess});
    }
    // One undecided and one decided point through a restarted process, which
    // must also be able to work on the very rows the crash left locked.
    cases.push_back({n, "before_decision", false, Restart::kChild});
    cases.push_back({n, "after_decision_forced", true, Restart::kChild});
  }
  // The decisions inside PostgreSQL: the decider is never prepared, so n-1
  // branches prepare; after_decision_forced is right after the decider's
  // COMMIT (carrying the COMMIT row), before_end before the row is queued for
  // deletion.
  for (int n : {2, 3}) {
    std::vector<std::pair<std::string, bool>> points = {{"before_prepare", false},
                                                        {"after_prepare:1", false}};
    if (n == 3) points.push_back({"after_prepare:2", false});
    for (auto p : std::vector<std::pair<std::string, bool>>{{"before_decision", false},
                                                            {"after_decision_forced", true},
                                                            {"after_commit_prepared:1", true},
                                                            {"before_end", true}}) {
      points.push_back(p);
    }
    for (auto [point, decided] : points) cases.push_back({n, point, decided, Restart::kInProcess, true});
    cases.push_back({n, "before_decision", false, Restart::kChild, true});
    cases.push_back({n, "after_decision_forced", true, Restart::kChild, true});
  }
  return cases;
}

void PrintTo(const CrashCase& c, std::ostream* os) {
  *os << c.participants << " participants, crash at " << c.point
      << (c.restart == Restart::kInProcess ? ", restart in-process" : ", restart as a process")
      << (c.pg_store ? ", decisions in PostgreSQL" : "");
}

std::string CrashCaseName(const ::testing::TestParamInfo<CrashCase>& info) {
  std::string name = "P" + std::to_string(info.param.participants) + "_" + info.param.point +
                     (info.param.restart == Restart::kInProcess ? "_InProcess" : "_ChildRestart") +
                     (info.param.pg_store ? "_PgStore" : "");
  for (char& c : name) {
    if (c == ':') c = '_';
  }
  return name;
}

class CrashPointTest : public CrashTestBase, public ::testing::WithParamInterface<CrashCase> {};

TEST_P(CrashPointTest, OutcomeIsAtomicAndFollowsTheDurableDecision) {
  const CrashCase& c = GetParam();
  const std::vector<std::string> dbs(kAllDbs.begin(), kAllDbs.begin() + c.participants);
  const std::string config = WriteConfig(dbs, /*recovery_interval_ms=*/0, c.pg_store);
  ResetBank(kMatrixAccounts);
  const Balances before = ReadBalances(dbs);

  ChildRun crashed = RunChild({"--config", config, "--mode", "single"}, c.point);
  ASSERT_FALSE(crashed.timed_out) << crashed.Describe();
  // A normal exit means the point was never reached: the case would prove
  // nothing about a crash there.
  ASSERT_TRUE(crashed.exit.KilledBySigkill()) << crashed.Describe();
  WaitForDeadSessions(dbs);
  ASSERT_FALSE(crashed.lines.empty()) << "no BEGIN line\n" << crashed.Describe();
  auto begin = ParseReport(crashed.lines[0]);
  ASSERT_TRUE(begin.has_value() && begin->kind == "BEGIN") << crashed.Describe();
  ASSERT_EQ(ParticipantsOf(*begin).size(), dbs.size());
  // Without early ack the caller hears OK only after phase 2 is over, which
  // none of these points reaches: an ACK here would be a commit acknowledged
  // before it was complete everywhere.
  EXPECT_EQ(crashed.lines.size(), 1u) << "the crashed process reported an outcome\n"
                                      << crashed.Describe();

  std::optional<Report> second;  // the restarted process's own transfer
  if (c.restart == Restart::kInProcess) {
    auto coord = Coordinator::Open(LoadOptions(config));
    ASSERT_TRUE(coord.ok()) << coord.status().ToString();
    ExpectNoUnendedRecords((*coord)->log());
  } else {
    ChildRun restarted = RunChild({"--config", config, "--mode", "single"}, "");
    ASSERT_FALSE(restarted.timed_out) << restarted.Describe();
    ASSERT_TRUE(restarted.exit.exited && restarted.exit.exit_code == 0) << restarted.Describe();
    ASSERT_EQ(restarted.lines.size(), 2u) << restarted.Describe();
    second = ParseReport(restarted.lines[1]);
    // Its transfer touches the rows the crash left prepared: it commits only
    // if recovery at Open released them first.
    ASSERT_TRUE(second.has_value() && second->kind == "ACK") << restarted.Describe();
    auto log = c.pg_store ? OpenPgDecisionLogForOperator(LoadOptions(config))
                          : OpenSqliteDecisionLogReadOnly(LogPath());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ExpectNoUnendedRecords(**log);
  }

  // (a) atomic: the crashed transfer's row is on every participant or none.
  std::vector<std::string> applied_on;
  for (const std::string& db : dbs) {
    if (TransferIds(db).count(begin->gtrid) > 0) applied_on.push_back(db);
  }
  ASSERT_TRUE(applied_on.empty() || applied_on.size() == dbs.size())
      << begin->gtrid << " applied on " << applied_on.size() << " of " << dbs.size()
      << " participants";
  const bool applied = !applied_on.empty();
  // (b) committed iff the COMMIT record was durable when the process died.
  EXPECT_EQ(applied, c.decided) << begin->gtrid << " crashed at " << c.point;

  Balances expected = before;
  if (applied) {
    for (const auto& [key, amount] : begin->deltas) expected[key] += amount;
  }
  if (second.has_value()) {
    for (const auto& [key, amount] : second->deltas) expected[key] += amount;
    for (const std::string& db : dbs) EXPECT_EQ(TransferIds(db).count(second->gtrid), 1u) << db;
  }
  EXPECT_EQ(ReadBalances(dbs), expected);
  // (d) recovery left nothing prepared: no locks held, nothing in doubt.
  for (const std::string& db : dbs) EXPECT_EQ(g_sandbox->PreparedCount(db), 0) << db;
}

INSTANTIATE_TEST_SUITE_P(Points, CrashPointTest, ::testing::ValuesIn(CrashCases()), CrashCaseName);

// ---------------------------------------------------------------------------
// The fencing race, with the decisions inside PostgreSQL: a coordinator
// frozen (SIGSTOP) right before its decider's COMMIT loses its registry
// connection, another process takes it for gone and fences it; continued,
// its COMMIT must fail, and nothing may be half-committed (docs/protocol.md,
// "First decision wins").

class FencingRaceTest : public CrashTestBase {
 protected:
  static bool Stopped(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'T';
  }
};

TEST_F(FencingRaceTest, AStoppedCoordinatorFencedByAnotherProcessCannotCommitLater) {
  const std::vector<std::string> dbs = {"a", "b", "c"};
  const std::string config = WriteConfig(dbs, /*recovery_interval_ms=*/0, /*pg_store=*/true);
  ResetBank(kMatrixAccounts);
  const Balances before = ReadBalances(dbs);
  auto child = SpawnChild({"--config", config, "--mode", "single"}, "", {"TWOPC_STOP_AT=before_decision"});
  ASSERT_NE(child, nullptr);
  const auto deadline = Clock::now() + 30s;
  while (!Stopped(child->pid()) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(Stopped(child->pid())) << ReadFile(StderrPath());
  auto begin_line = child->ReadLine(Clock::now() + 5s);
  ASSERT_TRUE(begin_line.has_value());
  auto begin = ParseReport(*begin_line);
  ASSERT_TRUE(begin.has_value() && begin->kind == "BEGIN") << *begin_line;

  // While it is frozen, its registration ends (as a network partition from
  // the registry would end it): the lock is free, so it counts as gone.
  EXPECT_EQ(g_sandbox->QueryInt("a",
                                "SELECT count(pg_terminate_backend(l.pid, 5000)) FROM pg_locks l "
                                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                                "AND l.classid::bigint = 1953984617"),
            1);
  auto manager = RecoveryManager::Open(LoadOptions(config), RecoveryManager::LogAccess::kExclusiveIfFree);
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  RecoveryReport r = (*manager)->RunPass({});
  std::string actions;
  for (const auto& a : r.actions) {
    actions += std::string(RecoveryActionName(a.kind)) + " " + a.participant + " " + a.gid + " " + a.detail +
               (a.status.ok() ? "" : " (" + a.status.ToString() + ")") + "\n";
  }
  EXPECT_EQ(r.in_doubt_remaining, 0) << actions;
  for (const std::string& db : dbs) EXPECT_EQ(g_sandbox->PreparedCount(db), 0) << db;
  // It fenced (the fence may be gone again already: the frozen process's
  // decider transaction ended with its session, so the xmin rule lets it go).
  bool fenced = false;
  for (const auto& a : r.actions) fenced = fenced || (a.kind == RecoveryActionKind::kFence && a.gtrid == begin->gtrid);
  EXPECT_TRUE(fenced) << actions;

  // Continued, the frozen process tries its COMMIT: it must not succeed.
  ASSERT_EQ(kill(child->pid(), SIGCONT), 0);
  auto rest = child->ReadRemainingLines(Clock::now() + 60s);
  auto exit = child->Wait(Clock::now() + 60s);
  ASSERT_TRUE(exit.has_value() && exit->exited) << ReadFile(StderrPath());
  ASSERT_FALSE(rest.empty()) << ReadFile(StderrPath());
  // The fenced transaction ends ABORT; RunTransaction may run the transfer
  // again under a new gtrid, which then counts like any other.
  Balances expected = before;
  bool fenced_reported = false;
  for (const std::string& line : rest) {
    auto report = ParseReport(line);
    ASSERT_TRUE(report.has_value()) << line;
    if (report->gtrid == begin->gtrid) {
      EXPECT_EQ(report->kind, "ABORT") << line;
      fenced_reported = true;
    } else if (report->kind == "ACK") {
      for (const auto& [key, amount] : report->deltas) expected[key] += amount;
    }
  }
  EXPECT_TRUE(fenced_reported) << ::testing::PrintToString(rest);
  for (const std::string& db : dbs) {
    EXPECT_EQ(TransferIds(db).count(begin->gtrid), 0u) << db;
    EXPECT_EQ(g_sandbox->PreparedCount(db), 0) << db;
  }
  EXPECT_EQ(ReadBalances(dbs), expected);
}

// ---------------------------------------------------------------------------
// 2. Participant crashes during a commit, in-process.

// Crashes one participant's server from a sync point callback (so that it is
// down before the protocol takes its next step) and restarts it `delay` later
// on a thread of its own.
class ParticipantCrasher {
 public:
  ParticipantCrasher(std::string db, std::chrono::milliseconds delay)
      : db_(std::move(db)), delay_(delay), restarter_([this] { RestartWhenCrashed(); }) {}
  ~ParticipantCrasher() { Finish(); }

  // Only the first call crashes the server; later ones do nothing.
  void Crash() {
    if (requested_.exchange(true)) return;
    crashed_ = g_sandbox->CrashServerOf(db_);
    internal::MutexLock lock(mutex_);
    crash_done_ = true;
    cv_.SignalAll();
  }

  // Waits for the restart (if there was a crash) and ends the thread.
  void Finish() {
    {
      internal::MutexLock lock(mutex_);
      finishing_ = true;
      cv_.SignalAll();
    }
    if (restarter_.joinable()) restarter_.join();
  }

  bool crashed() const { return crashed_; }
  bool restarted() const { return restarted_; }

 private:
  void RestartWhenCrashed() {
    {
      internal::MutexLock lock(mutex_);
      while (!crash_done_ && !finishing_) cv_.Wait(mutex_);
      if (!crash_done_) return;
    }
    std::this_thread::sleep_for(delay_);
    restarted_ = g_sandbox->RestartServerOf(db_);
  }

  const std::string db_;
  const std::chrono::milliseconds delay_;
  std::atomic<bool> requested_{false}, crashed_{false}, restarted_{false};
  internal::Mutex mutex_;
  internal::CondVar cv_;
  bool crash_done_ TWOPC_GUARDED_BY(mutex_) = false;
  bool finishing_ TWOPC_GUARDED_BY(mutex_) = false;
  std::thread restarter_;
};

class ParticipantCrashTest : public CrashTestBase {
 protected:
  // COMMIT PREPARED retried quickly, so the commit finishes soon after the
  // participant is back.
  CoordinatorOptions FastRetryOptions(const std::string& config) {
    CoordinatorOptions o = LoadOptions(config);
    o.complete_retry_initial = 20ms;
    o.complete_retry_max = 200ms;
    o.complete_retry_for = 60s;
    return o;
  }

  static void QueueTransfer(Transaction& tx, int64_t amount) {
    ASSERT_TRUE(
        tx.Queue("a", "UPDATE accounts SET balance = balance - $1 WHERE id = 2", {amount}).ok());
    ASSERT_TRUE(
        tx.Queue("b", "UPDATE accounts SET balance = balance + $1 WHERE id = 2", {amount}).ok());
  }
};

TEST_F(ParticipantCrashTest, CommitCompletesWhenParticipantCrashesInPhaseTwo) {
  const std::string config = WriteConfig({"a", "b"}, 0);
  ResetBank(kMatrixAccounts);
  auto coord = Coordinator::Open(FastRetryOptions(config));
  ASSERT_TRUE(coord.ok()) << coord.status().ToString();

  ParticipantCrasher crasher("b", 1000ms);
  // The decision is durable and b is gone before COMMIT PREPARED reaches it:
  // the commit point has passed, so the only correct outcome is commit.
  internal::SetSyncPointCallback("after_decision_forced", [&](int) { crasher.Crash(); });
  Transaction tx = (*coord)->Begin();
  QueueTransfer(tx, 40);
  Status s = tx.Commit();
  crasher.Finish();
  internal::ClearSyncPointCallbacks();
  ASSERT_TRUE(crasher.crashed()) << "the sync point was never reached";
  ASSERT_TRUE(crasher.restarted());
  ASSERT_TRUE(s.ok()) << s.ToString();

  // COMMIT PREPARED was retried until b was back: END written, both applied.
  ExpectNoUnendedRecords((*coord)->log());
  EXPECT_EQ(g_sandbox->QueryInt("a", "SELECT balance FROM accounts WHERE id = 2"),
            kInitialBalance - 40);
  EXPECT_EQ(g_sandbox->QueryInt("b", "SELECT balance FROM accounts WHERE id = 2"),
            kInitialBalance + 40);
  for (const char* db : {"a", "b"}) EXPECT_EQ(g_sandbox->PreparedCount(db), 0) << db;
}

TEST_F(ParticipantCrashTest, ParticipantCrashDuringPrepareLeavesAtomicOutcome) {
  const std::string config = WriteConfig({"a", "b"}, 0);
  ResetBank(kMatrixAccounts);
  auto coord = Coordinator::Open(FastRetryOptions(config));
  ASSERT_TRUE(coord.ok()) << coord.status().ToString();

  ParticipantCrasher crasher("b", 1000ms);
  // After the first PREPARE answer b goes down. If a answered first, b's
  // PREPARE was lost or is prepared with nobody to hear it: abort, and a
  // branch prepared on b is left for recovery. If b answered first, the
  // decision is commit and COMMIT PREPARED waits for b to come back.
  internal::SetSyncPointCallback("after_prepare", [&](int k) {
    if (k == 1) crasher.Crash();
  });
  Transaction tx = (*coord)->Begin();
  QueueTransfer(tx, 60);
  Status s = tx.Commit();
  crasher.Finish();
  internal::ClearSyncPointCallbacks();
  ASSERT_TRUE(crasher.crashed()) << "the sync point was never reached";
  ASSERT_TRUE(crasher.restarted());
  // The coordinator decides alone here: never InDoubt.
  ASSERT_TRUE(s.ok() || s.IsAborted()) << s.ToString();

  // A new coordinator on the same log, after this one is gone: its recovery
  // resolves whatever the crash left prepared on b.
  coord.value().reset();
  auto again = Coordinator::Open(LoadOptions(config));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ExpectNoUnendedRecords((*again)->log());
  again.value().reset();

  const int64_t a = g_sandbox->QueryInt("a", "SELECT balance FROM accounts WHERE id = 2");
  const int64_t b = g_sandbox->QueryInt("b", "SELECT balance FROM accounts WHERE id = 2");
  const int64_t moved = s.ok() ? 60 : 0;
  EXPECT_EQ(a, kInitialBalance - moved) << s.ToString();
  EXPECT_EQ(b, kInitialBalance + moved) << s.ToString();
  for (const char* db : {"a", "b"}) EXPECT_EQ(g_sandbox->PreparedCount(db), 0) << db;
}

// ---------------------------------------------------------------------------
// 3. Chaos: a busy coordinator killed at random moments, again and again.

int ChaosRounds() {
  const char* env = std::getenv("TWOPC_CHAOS_ROUNDS");
  int rounds = env != nullptr ? std::atoi(env) : 0;
  return rounds > 0 ? rounds : 4;
}

// Issue 9 item 5: a coordinator SIGKILLed while its pipelined PREPARE on b
// waits behind a row lock. `twopc recover` found only a's branch, rolled it
// back and exited 0 -- and when the lock went away, b's PREPARE landed: an
// orphan nothing resolved until another pass. Recovery now ends the dead
// incarnation's sessions before it concludes anything.
TEST_F(ParticipantCrashTest, RecoverEndsTheSessionsOfADeadCoordinator) {
  const std::string config = WriteConfig({"a", "b"}, 0);
  std::unique_ptr<RowLock> lock;
  // The dead process's session waiting on b's lock is what this test is
  // about; on a busy machine the child can die (once a has prepared) before
  // b's pipeline even left it. Such a run proves nothing: clean up and run
  // again.
  for (int attempt = 0;; ++attempt) {
    ResetBank(kMatrixAccounts);
    lock = std::make_unique<RowLock>(g_sandbox->conninfo("b"), 1);
    // single mode: a:1 pays b:1; the child dies once a has prepared.
    ChildRun run = RunChild({"--config", config, "--mode", "single"}, "after_prepare:1");
    ASSERT_TRUE(run.exit.signaled) << run.Describe();
    EXPECT_EQ(g_sandbox->PreparedCount("a"), 1);
    if (g_sandbox->QueryInt("b", "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND application_name LIKE 'twopc.%' AND wait_event_type = 'Lock'") > 0) {
      break;
    }
    ASSERT_LT(attempt, 5) << "the child never got its PREPARE on b queued behind the lock before it died";
    lock.reset();
    auto cleanup = RecoveryManager::Open(LoadOptions(config));
    ASSERT_TRUE(cleanup.ok()) << cleanup.status().ToString();
    ASSERT_EQ((*cleanup)->RunPass({}).ExitCode(), 0);
  }

  auto manager = RecoveryManager::Open(LoadOptions(config));
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  RecoveryReport r = (*manager)->RunPass({});
  bool ended = false;
  for (const auto& a : r.actions) ended = ended || (a.kind == RecoveryActionKind::kEndSessions && a.participant == "b");
  EXPECT_TRUE(ended) << "no session of the dead coordinator was ended on b";
  EXPECT_EQ(r.ExitCode(), 0);

  lock.reset();  // whatever the dead process queued behind the lock could run now
  std::this_thread::sleep_for(1s);
  for (const char* db : {"a", "b"}) EXPECT_EQ(g_sandbox->PreparedCount(db), 0) << db;
  EXPECT_EQ(g_sandbox->QueryInt("a", "SELECT balance FROM accounts WHERE id = 1"), kInitialBalance);
  EXPECT_EQ(g_sandbox->QueryInt("b", "SELECT balance FROM accounts WHERE id = 1"), kInitialBalance);
}

// What the reports of killed coordinators must agree with, once recovery
// is done: no transfer half applied, nothing acknowledged lost, nothing
// aborted applied, money conserved, nothing left prepared.
struct ReportSummary {
  size_t begun = 0, acked = 0, aborted = 0;
  int in_doubt = 0, applied = 0;
};

ReportSummary ExpectReportsHold(const std::vector<std::string>& lines, const Balances& initial,
                                const std::vector<std::string>& dbs,
                                const std::function<std::set<std::string>(const std::string&)>& transfer_ids,
                                const std::function<Balances()>& read_balances) {
  ReportSummary summary;
  std::map<std::string, Report> begun;  // every attempt, by gtrid
  std::set<std::string> acked, aborted;
  int in_doubt = 0;
  for (const std::string& line : lines) {
    auto r = ParseReport(line);
    EXPECT_TRUE(r.has_value()) << "unparsable report line: " << line;
    if (!r.has_value()) continue;
    if (r->kind == "BEGIN") {
      begun[r->gtrid] = *r;
      continue;
    }
    EXPECT_EQ(begun.count(r->gtrid), 1u) << "outcome without BEGIN: " << line;
    if (r->kind == "ACK") acked.insert(r->gtrid);
    if (r->kind == "ABORT") aborted.insert(r->gtrid);
    if (r->kind == "INDOUBT") ++in_doubt;
  }
  // With no acknowledged transfer the kills came too early to prove anything.
  EXPECT_GT(acked.size(), 0u) << lines.size() << " report lines";

  std::map<std::string, std::set<std::string>> present;  // gtrid -> participants with its row
  for (const std::string& db : dbs) {
    for (const std::string& id : transfer_ids(db)) {
      EXPECT_EQ(begun.count(id), 1u) << "applied transfer " << id << " was never begun";
      present[id].insert(db);
    }
  }
  Balances expected = initial;
  int applied = 0;
  for (const auto& [gtrid, r] : begun) {
    const std::set<std::string> where =
        present.count(gtrid) ? present[gtrid] : std::set<std::string>{};
    // No transfer half applied, whatever moment the kill hit.
    EXPECT_TRUE(where.empty() || where == ParticipantsOf(r))
        << gtrid << " applied on " << where.size() << " of its participants";
    // Nothing acknowledged is lost.
    if (acked.count(gtrid) > 0) EXPECT_EQ(where, ParticipantsOf(r)) << "ACKed " << gtrid << " lost";
    // Aborted means committed nowhere.
    if (aborted.count(gtrid) > 0) EXPECT_TRUE(where.empty()) << "ABORTed " << gtrid << " applied";
    if (where.empty()) continue;
    ++applied;
    for (const auto& [key, amount] : r.deltas) expected[key] += amount;
  }
  // Money is conserved, and every account holds exactly the applied deltas.
  auto total = [](const Balances& b) {
    int64_t sum = 0;
    for (const auto& [key, v] : b) sum += v;
    return sum;
  };
  const Balances final_balances = read_balances();
  EXPECT_EQ(total(final_balances), total(initial));
  EXPECT_EQ(final_balances, expected);
  for (const std::string& db : dbs) EXPECT_EQ(g_sandbox->PreparedCount(db), 0) << db;

  summary.begun = begun.size();
  summary.acked = acked.size();
  summary.aborted = aborted.size();
  summary.in_doubt = in_doubt;
  summary.applied = applied;
  return summary;
}

class ChaosTest : public CrashTestBase {
 protected:
  // One round: start the loop, kill it after `life`, collect its report.
  void RunRound(const std::string& config, int round, std::chrono::milliseconds life,
                std::vector<std::string>* lines) {
    std::vector<std::string> args = {"--config",   config,
                                     "--mode",     "loop",
                                     "--threads",  "4",
                                     "--accounts", std::to_string(kChaosAccounts),
                                     "--seed",     std::to_string(1000 + round)};
    // Odd rounds acknowledge at the decision: their ACKs come before phase 2,
    // which recovery must then finish.
    if (round % 2 == 1) args.push_back("--early-ack");
    auto child = SpawnChild(args, "");
    ASSERT_NE(child, nullptr);
    const auto kill_at = Clock::now() + life;
    while (auto line = child->ReadLine(kill_at)) lines->push_back(std::move(*line));
    ASSERT_FALSE(child->eof()) << "round " << round << ": crash_coordinator ended before the kill: "
                               << child->KillAndWait().ToString() << "\n"
                               << ReadFile(StderrPath());
    child->Kill();
    auto exit = child->Wait(Clock::now() + 10s);
    // Lines written before the kill are still in the pipe.
    for (auto& l : child->ReadRemainingLines(Clock::now() + 10s)) lines->push_back(std::move(l));
    ASSERT_TRUE(exit.has_value() && exit->KilledBySigkill())
        << "round " << round << ": " << (exit ? exit->ToString() : "not reaped");
  }
};

TEST_F(ChaosTest, KilledCoordinatorLosesNoAcknowledgedTransfer) {
  const auto started = Clock::now();
  const std::string config = WriteConfig(kAllDbs, /*recovery_interval_ms=*/500);
  ResetBank(kChaosAccounts);
  const Balances initial = ReadBalances(kAllDbs);

  std::mt19937 rng(20240611);
  std::vector<std::string> lines;
  const int rounds = ChaosRounds();
  for (int round = 0; round < rounds; ++round) {
    std::chrono::milliseconds life(300 + static_cast<int>(rng() % 1201));
    ASSERT_NO_FATAL_FAILURE(RunRound(config, round, life, &lines));
  }

  // The restart: recovery at Open settles every crash of the last round and
  // anything the earlier rounds' recovery left, including branches that
  // became prepared only after the round that would have resolved them.
  WaitForDeadSessions(kAllDbs);
  {
    auto coord = Coordinator::Open(LoadOptions(config));
    ASSERT_TRUE(coord.ok()) << coord.status().ToString();
    ExpectNoUnendedRecords((*coord)->log());
  }

  ReportSummary r = ExpectReportsHold(lines, initial, kAllDbs, TransferIds,
                                      [] { return ReadBalances(kAllDbs); });
  std::cout << "chaos: " << rounds << " rounds, " << r.begun << " attempts, " << r.applied
            << " applied, " << r.acked << " acked, " << r.aborted << " aborted, "
            << r.in_doubt << " in doubt, "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()
            << " ms\n";
}

// ---------------------------------------------------------------------------
// Two replicas on one config (store = "postgres"), both moving money; one is
// SIGKILLed. The other's background recovery takes the dead one's
// registration and resolves its transactions; then it is killed too, and a
// restart settles the rest. Every acknowledged transfer is applied, none
// half, money is conserved, nothing stays prepared.

class ReplicasTest : public CrashTestBase {
 protected:
  // Branches still prepared, and COMMIT rows still present, of incarnation
  // `incarnation` (from its gids and the decision rows' incarnation column).
  static int64_t LeftOf(const std::string& incarnation) {
    int64_t n = 0;
    for (const std::string& db : kAllDbs) {
      n += g_sandbox->QueryInt(db, "SELECT count(*) FROM pg_prepared_xacts WHERE split_part(gid, '.', 3) = '" +
                                       incarnation + "'");
      n += g_sandbox->QueryInt(db, "SELECT count(*) FROM twopc.decisions WHERE decision = 'commit' "
                                   "AND incarnation = " + incarnation);
    }
    return n;
  }
};

TEST_F(ReplicasTest, TheSurvivorResolvesAKilledReplicasTransactions) {
  const std::string config = WriteConfig(kAllDbs, /*recovery_interval_ms=*/300, /*pg_store=*/true);
  ResetBank(kChaosAccounts);
  const Balances initial = ReadBalances(kAllDbs);
  auto args = [&](int seed) {
    return std::vector<std::string>{"--config", config, "--mode", "loop", "--threads", "4",
                                    "--accounts", std::to_string(kChaosAccounts),
                                    "--seed", std::to_string(seed)};
  };
  auto victim = SpawnChild(args(7), "");
  auto survivor = SpawnChild(args(8), "");
  ASSERT_NE(victim, nullptr);
  ASSERT_NE(survivor, nullptr);
  std::vector<std::string> lines;
  std::string victim_incarnation;
  auto drain = [&](ChildProcess& c, std::chrono::milliseconds wait) {
    while (auto line = c.ReadLine(Clock::now() + wait)) {
      if (&c == victim.get() && victim_incarnation.empty()) {
        auto r = ParseReport(*line);
        if (r.has_value()) {
          std::stringstream fields(r->gtrid);  // tpc2.<node>.<incarnation>.<txn>
          std::string f;
          for (int i = 0; i < 3 && std::getline(fields, f, '.'); ++i) victim_incarnation = f;
        }
      }
      lines.push_back(std::move(*line));
    }
  };
  const auto kill_at = Clock::now() + 2s;
  while (Clock::now() < kill_at) {
    drain(*victim, 5ms);
    drain(*survivor, 5ms);
  }
  victim->Kill();
  auto exit = victim->Wait(Clock::now() + 10s);
  for (auto& l : victim->ReadRemainingLines(Clock::now() + 10s)) lines.push_back(std::move(l));
  ASSERT_TRUE(exit.has_value() && exit->KilledBySigkill());
  ASSERT_FALSE(victim_incarnation.empty()) << "the victim reported nothing";

  // The survivor, still working, cleans up after the victim.
  const auto deadline = Clock::now() + 30s;
  int64_t left = -1;
  while (Clock::now() < deadline) {
    drain(*survivor, 20ms);
    left = LeftOf(victim_incarnation);
    if (left == 0) break;
  }
  EXPECT_EQ(left, 0) << "incarnation " << victim_incarnation
                     << " still has prepared branches or COMMIT rows";
  ASSERT_FALSE(survivor->eof()) << ReadFile(StderrPath());
  survivor->Kill();
  exit = survivor->Wait(Clock::now() + 10s);
  for (auto& l : survivor->ReadRemainingLines(Clock::now() + 10s)) lines.push_back(std::move(l));
  ASSERT_TRUE(exit.has_value() && exit->KilledBySigkill());

  WaitForDeadSessions(kAllDbs);
  {
    auto coord = Coordinator::Open(LoadOptions(config));
    ASSERT_TRUE(coord.ok()) << coord.status().ToString();
    ExpectNoUnendedRecords((*coord)->log());
  }
  ReportSummary r = ExpectReportsHold(lines, initial, kAllDbs, TransferIds,
                                      [] { return ReadBalances(kAllDbs); });
  std::cout << "replicas: " << r.begun << " attempts, " << r.applied << " applied, " << r.acked
            << " acked, " << r.aborted << " aborted, " << r.in_doubt << " in doubt\n";
}

}  // namespace
}  // namespace twopc::testing
