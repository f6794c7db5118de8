// The orchestrated saga engine (twopc/saga.h) against real PostgreSQL
// servers: forward runs, compensation in reverse order, idempotency keys,
// resume after a SIGKILLed orchestrator (forward and backward), the circuit
// breaker against a crashed server, parked sagas as operators see them
// (`twopc saga status`) and handed back (RetryParked, `twopc saga retry`), and
// many concurrent sagas keeping the bank's total; and the saga counters in
// the coordinator's Prometheus registry.
//
// Every database holds accounts(id, balance CHECK (balance >= 0)): a debit
// past zero is the business refusal (SQLSTATE 23514) that makes a saga
// compensate.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "saga/circuit_breaker.h"
#include "saga/saga_json.h"
#include "saga/saga_log.h"
#include "saga/step_runner.h"
#include "testing/child_process.h"
#include "testing/pg_sandbox.h"
#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/saga.h"

extern char** environ;

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using support::ChildExit;
using support::ChildProcess;

const std::vector<std::string> kDbs = {"a", "b", "c"};
constexpr int kAccounts = 10;
constexpr int64_t kInitial = 1000;

// One set of servers for the whole binary: starting three costs seconds.
PgSandbox* g_sandbox = nullptr;

class SandboxEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    g_sandbox = PgSandbox::Start(kDbs).release();
    ASSERT_NE(g_sandbox, nullptr);
  }
  void TearDown() override {
    delete g_sandbox;
    g_sandbox = nullptr;
  }
};
[[maybe_unused]] ::testing::Environment* const kSandboxEnvironment =
    ::testing::AddGlobalTestEnvironment(new SandboxEnvironment);

SagaStatement Add(int64_t amount, int account) {
  return {"UPDATE accounts SET balance = balance + $1 WHERE id = $2", {amount, account}};
}

// A step moving `amount` into (positive) or out of (negative) an account,
// undone by the opposite move.
SagaStep Move(const std::string& name, const std::string& db, int account, int64_t amount) {
  return {name, db, {Add(amount, account)}, {Add(-amount, account)}, /*require_rows=*/true};
}

Saga Transfer(const std::string& from_db, int from, const std::string& to_db, int to,
              int64_t amount) {
  return {"transfer", {Move("debit", from_db, from, -amount), Move("credit", to_db, to, amount)}};
}

std::string Quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One scrape of the coordinator's registry, as its /metrics endpoint would
// serve it: "name{labels}" -> value.
using Samples = std::map<std::string, double>;

Samples Scrape(const Coordinator& coordinator) {
  Samples samples;
  std::istringstream in(prometheus::TextSerializer().Serialize(coordinator.metrics()->Collect()));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    if (space != std::string::npos) samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

std::string SagasTotal(const std::string& outcome) {
  return "twopc_sagas_total{outcome=\"" + outcome + "\"}";
}

class SagaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(g_sandbox, nullptr);
    char tmpl[] = "/tmp/twopc-saga-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A failed earlier test may have left a server down.
    for (const std::string& db : kDbs) {
      if (!IsProcessAlive(g_sandbox->PostmasterPid(db)))
        ASSERT_TRUE(g_sandbox->RestartServerOf(db));
    }
    for (const std::string& db : kDbs) {
      g_sandbox->Exec(db,
                      "SET lock_timeout = '10s';"
                      "DROP TABLE IF EXISTS accounts;"
                      "CREATE TABLE accounts(id bigint PRIMARY KEY,"
                      " balance bigint NOT NULL CHECK (balance >= 0));"
                      "INSERT INTO accounts SELECT g, " +
                          std::to_string(kInitial) + " FROM generate_series(1, " +
                          std::to_string(kAccounts) + ") g");
    }
  }

  void TearDown() override {
    orchestrator_.reset();
    coordinator_.reset();
    if (HasFailure()) {
      std::cerr << "keeping " << dir_ << " (saga log, child stderr)\n";
    } else {
      std::filesystem::remove_all(dir_);
    }
  }

  std::string SagaLogPath() const { return dir_ + "/twopc-sagas.db"; }
  std::string DecisionLogPath() const { return dir_ + "/decisions.db"; }

  CoordinatorOptions CoordOptions() {
    auto o = LoadConfigFile(g_sandbox->config_path());
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    CoordinatorOptions opts = o.ok() ? o.value() : CoordinatorOptions{};
    opts.log.path = DecisionLogPath();
    opts.recovery.interval = 0ms;
    return opts;
  }

  SagaOptions Options() {
    SagaOptions o;
    o.log_path = SagaLogPath();
    o.initial_backoff = 1ms;
    o.max_backoff = 10ms;
    return o;
  }

  // Opens the coordinator (once) and a new orchestrator on it.
  SagaOrchestrator* Open(SagaOptions options) {
    orchestrator_.reset();
    if (coordinator_ == nullptr) {
      auto c = Coordinator::Open(CoordOptions());
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      if (!c.ok()) return nullptr;
      coordinator_ = std::move(c).value();
    }
    auto o = SagaOrchestrator::Open(*coordinator_, std::move(options));
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    if (!o.ok()) return nullptr;
    orchestrator_ = std::move(o).value();
    return orchestrator_.get();
  }

  static int64_t Balance(const std::string& db, int id) {
    return g_sandbox->QueryInt(db, "SELECT balance FROM accounts WHERE id = " + std::to_string(id));
  }

  static int64_t Total() {
    int64_t total = 0;
    for (const std::string& db : kDbs) {
      total += g_sandbox->QueryInt(db, "SELECT sum(balance) FROM accounts");
    }
    return total;
  }

  // Idempotency keys of one saga step on `db`.
  static int64_t Keys(const std::string& db, const std::string& saga_id, int step,
                      const std::string& direction) {
    return g_sandbox->QueryInt(
        db, "SELECT count(*) FROM twopc_saga_applied WHERE saga_id = " + Quote(saga_id) +
                " AND step = " + std::to_string(step) + " AND direction = " + Quote(direction));
  }

  // Waits until no session of a killed process is left on the servers: its
  // last statements may still be running there.
  static void WaitForDeadSessions() {
    const auto deadline = Clock::now() + 20s;
    for (const std::string& db : kDbs) {
      while (g_sandbox->QueryInt(db,
                                 "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND backend_type = 'client backend' "
                                 "AND pid <> pg_backend_pid()") > 0) {
        if (Clock::now() > deadline) {
          ADD_FAILURE() << "sessions of a dead orchestrator still running on " << db;
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
    }
  }

  // Runs saga_crash_child on `saga` with TWOPC_CRASH_AT=`crash_at`; expects
  // it to die by its own SIGKILL there.
  void RunChildUntilCrash(const Saga& saga, const std::string& crash_at) {
    auto json = internal::SagaToJson(saga);
    ASSERT_TRUE(json.ok()) << json.status().ToString();
    std::string error;
    auto child = ChildProcess::Spawn(
        {SAGA_CRASH_CHILD_PATH, g_sandbox->config_path(), DecisionLogPath(), SagaLogPath(), *json},
        {"TWOPC_CRASH_AT=" + crash_at}, dir_ + "/child.stderr", &error);
    ASSERT_NE(child, nullptr) << error;
    const auto deadline = Clock::now() + 60s;
    std::vector<std::string> lines = child->ReadRemainingLines(deadline);
    auto exit = child->Wait(deadline);
    ChildExit ended = exit.has_value() ? *exit : child->KillAndWait();
    std::string out;
    for (const std::string& l : lines) out += l + "\n";
    ASSERT_TRUE(ended.KilledBySigkill()) << "saga_crash_child " << ended.ToString() << "\nstdout:\n"
                                         << out << "stderr:\n"
                                         << ReadFile(dir_ + "/child.stderr");
    WaitForDeadSessions();
  }

  // Runs the twopc binary; stdout and stderr go through files.
  CliResult RunCli(std::vector<std::string> args) {
    args.insert(args.begin(), TWOPC_CLI_PATH);
    std::vector<std::string> env = {"NO_COLOR=1"};
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry(*e);
      if (entry.rfind("TWOPC_CONFIG=", 0) != 0) env.push_back(entry);
    }
    std::vector<char*> argv, envp;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string out_path = dir_ + "/cli.out", err_path = dir_ + "/cli.err";
    int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CliResult result;
    pid_t pid = fork();
    if (pid == 0) {
      dup2(out_fd, STDOUT_FILENO);
      dup2(err_fd, STDERR_FILENO);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(out_fd);
    close(err_fd);
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
      result.exit_code = WEXITSTATUS(status);
    }
    result.out = ReadFile(out_path);
    result.err = ReadFile(err_path);
    return result;
  }

  std::string dir_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<SagaOrchestrator> orchestrator_;
};

TEST_F(SagaTest, TransferSagaCompletes) {
  SagaOrchestrator* orch = Open(Options());
  ASSERT_NE(orch, nullptr);
  SagaResult r = orch->Run(Transfer("a", 1, "b", 1, 100));
  ASSERT_EQ(r.state, SagaState::kCompleted) << r.cause.ToString();
  EXPECT_TRUE(r.cause.ok());
  EXPECT_EQ(r.compensations, 0);
  EXPECT_LE(r.saga_id.size(), 64u);
  EXPECT_EQ(Balance("a", 1), kInitial - 100);
  EXPECT_EQ(Balance("b", 1), kInitial + 100);
  // Each step's key was written in its own local transaction.
  EXPECT_EQ(Keys("a", r.saga_id, 0, "forward"), 1);
  EXPECT_EQ(Keys("b", r.saga_id, 1, "forward"), 1);

  SagaResult second = orch->Run(Transfer("b", 2, "c", 2, 5));
  ASSERT_EQ(second.state, SagaState::kCompleted) << second.cause.ToString();
  EXPECT_NE(second.saga_id, r.saga_id);
  SagaStats stats = orch->stats();
  EXPECT_EQ(stats.completed, 2u);
  EXPECT_EQ(stats.compensated, 0u);
  EXPECT_EQ(stats.parked, 0u);
  EXPECT_EQ(stats.compensations, 0u);
  auto unfinished = orch->Unfinished();
  ASSERT_TRUE(unfinished.ok()) << unfinished.status().ToString();
  EXPECT_TRUE(unfinished->empty());
}

// What SagaStats counts, also in Prometheus: one saga of each ending, its
// retries and its compensated steps.
TEST_F(SagaTest, SagaMetricsCountOutcomesRetriesAndCompensations) {
  SagaOptions options = Options();
  options.max_compensation_attempts = 3;
  SagaOrchestrator* orch = Open(options);
  ASSERT_NE(orch, nullptr);
  // Every series exists from Open on, at 0, so that rate() and absent()
  // work before the first saga.
  Samples before = Scrape(*coordinator_);
  for (const char* outcome : {"started", "completed", "compensated", "parked"}) {
    ASSERT_EQ(before.count(SagasTotal(outcome)), 1u) << outcome;
    EXPECT_EQ(before[SagasTotal(outcome)], 0) << outcome;
  }
  ASSERT_EQ(before.count("twopc_saga_step_retries_total"), 1u);
  ASSERT_EQ(before.count("twopc_saga_compensations_total"), 1u);

  ASSERT_EQ(orch->Run(Transfer("a", 3, "b", 3, 10)).state, SagaState::kCompleted);
  // Step 3 refused (23514): steps 2 and 1 compensated.
  SagaResult compensated = orch->Run({"three-way",
                                      {Move("debit a", "a", 4, -10), Move("credit b", "b", 4, 10),
                                       Move("debit c", "c", 4, -5000)}});
  ASSERT_EQ(compensated.state, SagaState::kCompensated) << compensated.cause.ToString();
  // A compensation that can never succeed (42P01): tried 3 times, parked.
  SagaStep debit = Move("debit a", "a", 5, -100);
  debit.compensation.push_back({"INSERT INTO no_such_audit(note) VALUES ($1)", {"undo"}});
  SagaResult parked = orch->Run({"doomed", {debit, Move("debit b", "b", 5, -5000)}});
  ASSERT_EQ(parked.state, SagaState::kParked) << parked.cause.ToString();

  Samples after = Scrape(*coordinator_);
  EXPECT_EQ(after[SagasTotal("started")], 3);
  EXPECT_EQ(after[SagasTotal("completed")], 1);
  EXPECT_EQ(after[SagasTotal("compensated")], 1);
  EXPECT_EQ(after[SagasTotal("parked")], 1);
  EXPECT_EQ(after["twopc_saga_step_retries_total"], 2);
  EXPECT_EQ(after["twopc_saga_compensations_total"], 2);
  // The same events as SagaStats.
  SagaStats stats = orch->stats();
  EXPECT_EQ(after["twopc_saga_step_retries_total"], static_cast<double>(stats.retries));
  EXPECT_EQ(after["twopc_saga_compensations_total"], static_cast<double>(stats.compensations));
}

TEST_F(SagaTest, SagaLogIsPrivateAndHasOneOrchestrator) {
  SagaOrchestrator* orch = Open(Options());
  ASSERT_NE(orch, nullptr);
  struct stat st;
  ASSERT_EQ(stat(SagaLogPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto second = SagaOrchestrator::Open(*coordinator_, Options());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
  // A file that is not a saga log is refused, not converted.
  const std::string other = dir_ + "/other.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto foreign = SagaOrchestrator::Open(*coordinator_, [&] {
    SagaOptions o = Options();
    o.log_path = other;
    return o;
  }());
  ASSERT_FALSE(foreign.ok());
  EXPECT_TRUE(foreign.status().IsInvalidArgument()) << foreign.status().ToString();
  EXPECT_TRUE(ReadUnfinishedSagas(other).status().IsInvalidArgument());
  EXPECT_TRUE(ReadUnfinishedSagas(dir_ + "/missing.db").status().IsNotFound());
}

TEST_F(SagaTest, RefusedStepCompensatesEarlierStepsInReverseOrder) {
  SagaOrchestrator* orch = Open(Options());
  ASSERT_NE(orch, nullptr);
  Saga saga{"three-way",
            {Move("debit a", "a", 2, -100), Move("credit b", "b", 2, 100),
             // Violates CHECK (balance >= 0): SQLSTATE 23514.
             Move("debit c", "c", 2, -5000)}};
  SagaResult r = orch->Run(saga);
  ASSERT_EQ(r.state, SagaState::kCompensated) << r.cause.ToString();
  EXPECT_EQ(r.cause.sqlstate(), "23514") << r.cause.ToString();
  EXPECT_EQ(r.cause.participant(), "c");
  EXPECT_NE(r.cause.message().find("step 3"), std::string::npos) << r.cause.ToString();
  EXPECT_EQ(r.retries, 0);  // a refusal is not retried
  EXPECT_EQ(r.compensations, 2);
  for (const std::string& db : kDbs) EXPECT_EQ(Balance(db, 2), kInitial) << db;
  // The refused step left nothing; the others were applied, then undone --
  // step 2 before step 1 (each key row carries its transaction's start time).
  EXPECT_EQ(Keys("c", r.saga_id, 2, "forward"), 0);
  EXPECT_EQ(Keys("a", r.saga_id, 0, "compensate"), 1);
  EXPECT_EQ(Keys("b", r.saga_id, 1, "compensate"), 1);
  int64_t undone_b = g_sandbox->QueryInt(
      "b",
      "SELECT (extract(epoch FROM applied_at) * 1000000)::bigint FROM twopc_saga_applied "
      "WHERE direction = 'compensate' AND saga_id = " +
          Quote(r.saga_id));
  int64_t undone_a = g_sandbox->QueryInt(
      "a",
      "SELECT (extract(epoch FROM applied_at) * 1000000)::bigint FROM twopc_saga_applied "
      "WHERE direction = 'compensate' AND saga_id = " +
          Quote(r.saga_id));
  EXPECT_LT(undone_b, undone_a);
  SagaStats stats = orch->stats();
  EXPECT_EQ(stats.compensated, 1u);
  EXPECT_EQ(stats.compensations, 2u);
  EXPECT_TRUE(orch->Unfinished()->empty());
}

TEST_F(SagaTest, RequireRowsRefusesAStepThatMatchesNothing) {
  SagaOrchestrator* orch = Open(Options());
  ASSERT_NE(orch, nullptr);
  // Account 99 does not exist: zero rows, a business refusal.
  SagaResult r = orch->Run(Transfer("a", 3, "b", 99, 10));
  ASSERT_EQ(r.state, SagaState::kCompensated) << r.cause.ToString();
  EXPECT_EQ(r.cause.participant(), "b");
  EXPECT_NE(r.cause.message().find("require_rows"), std::string::npos) << r.cause.ToString();
  EXPECT_EQ(r.compensations, 1);
  EXPECT_EQ(Balance("a", 3), kInitial);
}

TEST_F(SagaTest, StepAppliedButNotLoggedIsAppliedOnceOnResume) {
  Saga saga = Transfer("a", 4, "b", 4, 70);
  const std::string id = "idempotency-test-" + std::to_string(getpid()) + "-" +
                         std::to_string(Clock::now().time_since_epoch().count());
  {
    // What a crash right after step 1's local commit leaves: the log says
    // "running, next step 1" although step 1 was applied.
    auto log = internal::SagaLog::Open(SagaLogPath());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    SagaRecord record;
    record.saga_id = id;
    record.name = saga.name;
    record.steps = 2;
    record.started_at_ms = record.updated_at_ms = internal::SagaNowMs();
    auto json = internal::SagaToJson(saga);
    ASSERT_TRUE(json.ok());
    ASSERT_TRUE((*log)->Insert(record, *json).ok());

    auto c = Coordinator::Open(CoordOptions());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    coordinator_ = std::move(c).value();
    internal::AppliedTables tables(*coordinator_);
    internal::StepRunner runner(*coordinator_, tables, 10s);
    internal::StepAttempt first = runner.Apply(id, 0, saga.steps[0]);
    ASSERT_EQ(first.outcome, internal::StepAttempt::Outcome::kApplied) << first.status.ToString();
    // The same local transaction again: its key is there, nothing is applied.
    internal::StepAttempt again = runner.Apply(id, 0, saga.steps[0]);
    ASSERT_EQ(again.outcome, internal::StepAttempt::Outcome::kAlreadyApplied)
        << again.status.ToString();
    EXPECT_EQ(Balance("a", 4), kInitial - 70);
  }
  SagaOrchestrator* orch = Open(Options());  // resumes the saga
  ASSERT_NE(orch, nullptr);
  EXPECT_EQ(Balance("a", 4), kInitial - 70);  // not twice
  EXPECT_EQ(Balance("b", 4), kInitial + 70);
  EXPECT_EQ(Keys("a", id, 0, "forward"), 1);
  EXPECT_EQ(Keys("b", id, 1, "forward"), 1);
  EXPECT_EQ(orch->stats().completed, 1u);
  EXPECT_TRUE(orch->Unfinished()->empty());
}

// A step whose one-phase COMMIT outlives the step deadline: a deferred
// trigger sleeps 1 s at commit time (on every other attempt: the sequence is
// not transactional), the client gives up after 300 ms and cancels the
// statement, so that commit rolls back. The coordinator does not leave that
// in doubt: it ends the session and asks txid_status(), and the step fails
// with TimedOut -- nothing committed, a transient failure the saga retries.
TEST_F(SagaTest, TimedOutStepCommitIsSettledAndRetried) {
  g_sandbox->Exec("a",
                  "DROP TABLE IF EXISTS slow_commit;"
                  "CREATE TABLE slow_commit(saga text);"
                  "DROP SEQUENCE IF EXISTS slow_commit_seq; CREATE SEQUENCE slow_commit_seq;"
                  "CREATE OR REPLACE FUNCTION slow_commit_sleep() RETURNS trigger"
                  " LANGUAGE plpgsql AS $$ BEGIN IF nextval('slow_commit_seq') % 2 = 1 THEN"
                  " PERFORM pg_sleep(1); END IF; RETURN NULL; END $$;"
                  "CREATE CONSTRAINT TRIGGER slow_commit_trigger AFTER INSERT ON slow_commit"
                  " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                  " EXECUTE FUNCTION slow_commit_sleep()");
  auto slow_credit = [](int account) {
    SagaStep step = Move("slow credit", "a", account, 50);
    step.action.push_back({"INSERT INTO slow_commit VALUES ($1)", {"x"}});
    return Saga{"slow", {step}};
  };
  SagaOptions options = Options();
  options.step_deadline = 300ms;
  options.max_attempts = 20;
  options.breaker_failure_threshold = 100;
  options.max_backoff = 50ms;
  SagaOrchestrator* orch = Open(options);
  ASSERT_NE(orch, nullptr);
  // Retried until an attempt finds the key of the commit that was in doubt.
  SagaResult done = orch->Run(slow_credit(10));
  ASSERT_EQ(done.state, SagaState::kCompleted) << done.cause.ToString();
  EXPECT_GE(done.retries, 1);
  EXPECT_EQ(Balance("a", 10), kInitial + 50);
  EXPECT_EQ(g_sandbox->QueryInt("a", "SELECT count(*) FROM slow_commit"), 1);

  // With a single attempt the saga gives up. The step's outcome is known
  // (rolled back), so there is nothing to compensate and no key to claim.
  options.max_attempts = 1;
  orch = Open(options);
  ASSERT_NE(orch, nullptr);
  SagaResult undone = orch->Run(slow_credit(9));
  ASSERT_EQ(undone.state, SagaState::kCompensated) << undone.cause.ToString();
  EXPECT_TRUE(undone.cause.IsTimedOut()) << undone.cause.ToString();
  EXPECT_EQ(undone.compensations, 0);
  EXPECT_EQ(Balance("a", 9), kInitial);
  EXPECT_EQ(g_sandbox->QueryInt("a", "SELECT count(*) FROM slow_commit"), 1);
  EXPECT_EQ(Keys("a", undone.saga_id, 0, "forward"), 0);
}

TEST_F(SagaTest, ResumesForwardAfterOrchestratorIsKilled) {
  Saga saga{
      "fan-out",
      {Move("debit a", "a", 5, -100), Move("credit b", "b", 5, 60), Move("credit c", "c", 5, 40)}};
  // Killed after step 2 committed on b, before the log recorded it.
  RunChildUntilCrash(saga, "saga_after_step:2");
  auto left = ReadUnfinishedSagas(SagaLogPath());
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  ASSERT_EQ(left->size(), 1u);
  const SagaRecord& rec = left->front();
  EXPECT_EQ(rec.state, SagaState::kRunning);
  EXPECT_EQ(rec.next_step, 1);
  EXPECT_EQ(rec.steps, 3);
  EXPECT_EQ(Balance("b", 5), kInitial + 60);  // applied, not logged
  EXPECT_EQ(Balance("c", 5), kInitial);
  CliResult cli = RunCli({"saga", "status", "--saga-log", SagaLogPath()});
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
  EXPECT_NE(cli.out.find(rec.saga_id), std::string::npos) << cli.out;

  SagaOrchestrator* orch = Open(Options());
  ASSERT_NE(orch, nullptr);
  EXPECT_EQ(orch->stats().completed, 1u);
  // The killed process started it; this one only finished it.
  Samples samples = Scrape(*coordinator_);
  EXPECT_EQ(samples[SagasTotal("started")], 0);
  EXPECT_EQ(samples[SagasTotal("completed")], 1);
  EXPECT_TRUE(orch->Unfinished()->empty());
  EXPECT_EQ(Balance("a", 5), kInitial - 100);
  EXPECT_EQ(Balance("b", 5), kInitial + 60);
  EXPECT_EQ(Balance("c", 5), kInitial + 40);
  EXPECT_EQ(Keys("a", rec.saga_id, 0, "forward"), 1);
  EXPECT_EQ(Keys("b", rec.saga_id, 1, "forward"), 1);
  EXPECT_EQ(Keys("c", rec.saga_id, 2, "forward"), 1);
  EXPECT_EQ(Total(), 3 * kAccounts * kInitial);
}

TEST_F(SagaTest, ResumesCompensationAfterOrchestratorIsKilled) {
  Saga saga{"three-way",
            {Move("debit a", "a", 6, -100), Move("credit b", "b", 6, 100),
             Move("debit c", "c", 6, -5000)}};
  // Step 3 is refused; killed after step 2's compensation committed on b,
  // before the log recorded it.
  RunChildUntilCrash(saga, "saga_after_compensation:2");
  auto left = ReadUnfinishedSagas(SagaLogPath());
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  ASSERT_EQ(left->size(), 1u);
  const SagaRecord rec = left->front();
  EXPECT_EQ(rec.state, SagaState::kCompensating);
  EXPECT_EQ(rec.next_step, 1);
  EXPECT_NE(rec.last_error.find("23514"), std::string::npos) << rec.last_error;
  EXPECT_EQ(Balance("b", 6), kInitial);        // undone, not logged
  EXPECT_EQ(Balance("a", 6), kInitial - 100);  // still to undo

  SagaOrchestrator* orch = Open(Options());
  ASSERT_NE(orch, nullptr);
  EXPECT_EQ(orch->stats().compensated, 1u);
  EXPECT_TRUE(orch->Unfinished()->empty());
  for (const std::string& db : kDbs) EXPECT_EQ(Balance(db, 6), kInitial) << db;
  EXPECT_EQ(Keys("b", rec.saga_id, 1, "compensate"), 1);
  EXPECT_EQ(Keys("a", rec.saga_id, 0, "compensate"), 1);
}

TEST_F(SagaTest, CircuitBreakerOpensFailsFastProbesAndCloses) {
  ASSERT_TRUE(g_sandbox->CrashServerOf("c"));
  SagaOptions options = Options();
  options.max_attempts = 3;
  options.breaker_failure_threshold = 3;
  options.breaker_open_for = 800ms;
  options.initial_backoff = 1ms;
  options.max_backoff = 5ms;
  SagaOrchestrator* orch = Open(options);
  ASSERT_NE(orch, nullptr);
  auto credit_c = [] { return Saga{"credit", {Move("credit c", "c", 7, 10)}}; };

  // Three lost connections open the breaker; the saga gives up.
  SagaResult first = orch->Run(credit_c());
  ASSERT_EQ(first.state, SagaState::kCompensated) << first.cause.ToString();
  EXPECT_TRUE(first.cause.IsUnavailable()) << first.cause.ToString();
  EXPECT_EQ(first.cause.participant(), "c");
  EXPECT_EQ(first.retries, 2);
  EXPECT_EQ(orch->breaker("c"), BreakerState::kOpen);
  EXPECT_EQ(orch->breaker("a"), BreakerState::kClosed);
  EXPECT_EQ(orch->stats().fast_failures, 0u);

  // While open, nothing is sent: every attempt fails at once (a lost
  // server would otherwise cost a connect attempt each).
  auto start = Clock::now();
  SagaResult fast = orch->Run(credit_c());
  EXPECT_LT(Clock::now() - start, 400ms);
  ASSERT_EQ(fast.state, SagaState::kCompensated);
  EXPECT_NE(fast.cause.message().find("circuit breaker"), std::string::npos)
      << fast.cause.ToString();
  EXPECT_EQ(orch->stats().fast_failures, 3u);
  // Other participants are not affected.
  EXPECT_EQ(orch->Run(Transfer("a", 7, "b", 7, 1)).state, SagaState::kCompleted);

  // After breaker_open_for one probe goes through; it fails, the breaker
  // opens again and the other attempts fail fast.
  std::this_thread::sleep_for(850ms);
  EXPECT_EQ(orch->breaker("c"), BreakerState::kHalfOpen);
  SagaResult probe_failed = orch->Run(credit_c());
  EXPECT_EQ(probe_failed.state, SagaState::kCompensated);
  EXPECT_EQ(orch->breaker("c"), BreakerState::kOpen);
  EXPECT_EQ(orch->stats().fast_failures, 5u);

  // The server is back: the next probe succeeds and closes the breaker.
  ASSERT_TRUE(g_sandbox->RestartServerOf("c"));
  std::this_thread::sleep_for(850ms);
  SagaResult healed = orch->Run(credit_c());
  ASSERT_EQ(healed.state, SagaState::kCompleted) << healed.cause.ToString();
  EXPECT_EQ(orch->breaker("c"), BreakerState::kClosed);
  EXPECT_EQ(Balance("c", 7), kInitial + 10);
}

TEST_F(SagaTest, CompensationThatKeepsFailingParksTheSaga) {
  SagaOptions options = Options();
  options.max_compensation_attempts = 3;
  SagaOrchestrator* orch = Open(options);
  ASSERT_NE(orch, nullptr);
  // The compensation also writes to a table that does not exist (42P01):
  // it can never succeed.
  SagaStep debit = Move("debit a", "a", 8, -100);
  debit.compensation.push_back({"INSERT INTO no_such_audit(note) VALUES ($1)", {"undo"}});
  Saga saga{"doomed", {debit, Move("debit b", "b", 8, -5000)}};
  SagaResult r = orch->Run(saga);
  ASSERT_EQ(r.state, SagaState::kParked) << r.cause.ToString();
  EXPECT_EQ(r.cause.sqlstate(), "42P01") << r.cause.ToString();
  EXPECT_EQ(r.cause.participant(), "a");
  EXPECT_EQ(r.retries, 2);
  EXPECT_EQ(Balance("a", 8), kInitial - 100);  // not undone: an operator must act
  EXPECT_EQ(orch->stats().parked, 1u);

  auto listed = orch->Unfinished();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().saga_id, r.saga_id);
  EXPECT_EQ(listed->front().state, SagaState::kParked);
  EXPECT_EQ(listed->front().next_step, 0);
  EXPECT_NE(listed->front().last_error.find("42P01"), std::string::npos);
  EXPECT_NE(listed->front().last_error.find("23514"), std::string::npos);  // the first cause
  // Read-only, while the orchestrator still holds the log.
  auto read = ReadUnfinishedSagas(SagaLogPath());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(read->front().state, SagaState::kParked);

  // The default log is twopc-sagas.db beside the config file.
  CliResult json = RunCli({"--config", dir_ + "/twopc.toml", "saga", "status", "--json"});
  EXPECT_EQ(json.exit_code, 3) << json.out << json.err;
  auto doc = nlohmann::json::parse(json.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  ASSERT_EQ(doc["sagas"].size(), 1u);
  EXPECT_EQ(doc["sagas"][0]["saga_id"], r.saga_id);
  EXPECT_EQ(doc["sagas"][0]["state"], "parked");
  EXPECT_EQ(doc["sagas"][0]["parked"], true);
  EXPECT_EQ(doc["counts"]["parked"], 1);
  EXPECT_EQ(doc["exit_code"], 3);
  CliResult human = RunCli({"saga", "status", "--saga-log", SagaLogPath()});
  EXPECT_EQ(human.exit_code, 3) << human.out << human.err;
  EXPECT_NE(human.out.find("parked"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find(r.saga_id), std::string::npos) << human.out;

  // A new orchestrator leaves it parked, and still lists it.
  orch = Open(options);
  ASSERT_NE(orch, nullptr);
  EXPECT_TRUE(orch->ResumeUnfinished().empty());
  EXPECT_EQ(orch->stats().parked, 0u);
  ASSERT_EQ(orch->Unfinished()->size(), 1u);
  EXPECT_EQ(Balance("a", 8), kInitial - 100);
}

// The operator fixes what made the compensation fail and hands the saga back
// in the running process: the undo goes on from the failed step, once.
TEST_F(SagaTest, RetryParkedFinishesTheUndoOnceTheCauseIsFixed) {
  g_sandbox->Exec("a", "DROP TABLE IF EXISTS undo_audit");
  SagaOptions options = Options();
  options.max_compensation_attempts = 2;
  SagaOrchestrator* orch = Open(options);
  ASSERT_NE(orch, nullptr);
  SagaStep debit = Move("debit a", "a", 9, -100);
  debit.compensation.push_back({"INSERT INTO undo_audit(note) VALUES ($1)", {"undo"}});
  Saga saga{"doomed", {debit, Move("debit b", "b", 9, -5000)}};
  SagaResult parked = orch->Run(saga);
  ASSERT_EQ(parked.state, SagaState::kParked) << parked.cause.ToString();

  // Still broken: parked again, nothing undone, still listed.
  auto again = orch->RetryParked(parked.saga_id);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->state, SagaState::kParked);
  EXPECT_EQ(again->cause.sqlstate(), "42P01") << again->cause.ToString();
  EXPECT_EQ(Balance("a", 9), kInitial - 100);
  auto listed = orch->Unfinished();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().state, SagaState::kParked);
  // The new park message wraps the original cause, not the old message.
  const std::string& error = listed->front().last_error;
  EXPECT_EQ(error.find("compensating because"), error.rfind("compensating because")) << error;
  EXPECT_NE(error.find("23514"), std::string::npos) << error;

  auto unknown = orch->RetryParked("no-such-saga");
  EXPECT_TRUE(unknown.status().IsNotFound()) << unknown.status().ToString();

  // Fixed: the compensation runs once and the saga ends compensated.
  g_sandbox->Exec("a", "CREATE TABLE undo_audit(note text)");
  auto fixed = orch->RetryParked(parked.saga_id);
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  EXPECT_EQ(fixed->state, SagaState::kCompensated) << fixed->cause.ToString();
  EXPECT_EQ(fixed->cause.message().find("parked"), std::string::npos) << fixed->cause.ToString();
  EXPECT_NE(fixed->cause.message().find("23514"), std::string::npos) << fixed->cause.ToString();
  EXPECT_EQ(fixed->compensations, 1);
  EXPECT_EQ(Balance("a", 9), kInitial);
  EXPECT_EQ(Keys("a", parked.saga_id, 0, "compensate"), 1);
  EXPECT_EQ(g_sandbox->QueryInt("a", "SELECT count(*) FROM undo_audit"), 1);
  EXPECT_TRUE(orch->Unfinished()->empty());

  // Only parked sagas are handed back.
  auto done = orch->RetryParked(parked.saga_id);
  EXPECT_TRUE(done.status().IsInvalidArgument()) << done.status().ToString();
  EXPECT_NE(done.status().message().find("compensated"), std::string::npos)
      << done.status().ToString();
  EXPECT_EQ(Balance("a", 9), kInitial);
  g_sandbox->Exec("a", "DROP TABLE undo_audit");
}

// `twopc saga retry` hands a parked saga back while no orchestrator runs;
// the next Open finishes the undo.
TEST_F(SagaTest, SagaRetryCommandHandsBackToTheNextOrchestrator) {
  g_sandbox->Exec("a", "DROP TABLE IF EXISTS undo_audit");
  SagaOptions options = Options();
  options.max_compensation_attempts = 2;
  SagaOrchestrator* orch = Open(options);
  ASSERT_NE(orch, nullptr);
  SagaStep debit = Move("debit a", "a", 10, -100);
  debit.compensation.push_back({"INSERT INTO undo_audit(note) VALUES ($1)", {"undo"}});
  SagaResult parked = orch->Run({"doomed", {debit, Move("debit b", "b", 10, -5000)}});
  ASSERT_EQ(parked.state, SagaState::kParked) << parked.cause.ToString();

  // Refused while the orchestrator holds the log, with what to do instead.
  CliResult busy = RunCli({"saga", "retry", parked.saga_id, "--saga-log", SagaLogPath()});
  EXPECT_EQ(busy.exit_code, 1) << busy.out << busy.err;
  EXPECT_NE(busy.err.find("RetryParked"), std::string::npos) << busy.err;

  orchestrator_.reset();
  g_sandbox->Exec("a", "CREATE TABLE undo_audit(note text)");
  CliResult unknown = RunCli({"saga", "retry", "no-such-saga", "--saga-log", SagaLogPath()});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.out << unknown.err;
  CliResult retry =
      RunCli({"saga", "retry", parked.saga_id, "--saga-log", SagaLogPath(), "--json"});
  ASSERT_EQ(retry.exit_code, 0) << retry.out << retry.err;
  auto doc = nlohmann::json::parse(retry.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << retry.out;
  EXPECT_EQ(doc["saga"]["saga_id"], parked.saga_id);
  EXPECT_EQ(doc["saga"]["state"], "compensating");
  EXPECT_EQ(doc["saga"]["next_step"], 0);
  // What it is compensating for: the refused step, not the park message.
  std::string cause = doc["saga"]["last_error"].get<std::string>();
  EXPECT_NE(cause.find("23514"), std::string::npos) << cause;
  EXPECT_EQ(cause.find("parked"), std::string::npos) << cause;
  // Nothing ran yet: the CLI only records the hand-back.
  EXPECT_EQ(Balance("a", 10), kInitial - 100);
  CliResult status = RunCli({"saga", "status", "--saga-log", SagaLogPath()});
  EXPECT_EQ(status.exit_code, 1) << status.out << status.err;
  CliResult twice = RunCli({"saga", "retry", parked.saga_id, "--saga-log", SagaLogPath()});
  EXPECT_EQ(twice.exit_code, 2) << twice.out << twice.err;
  EXPECT_NE(twice.err.find("not parked"), std::string::npos) << twice.err;

  orch = Open(options);
  ASSERT_NE(orch, nullptr);
  EXPECT_TRUE(orch->Unfinished()->empty());
  EXPECT_EQ(Balance("a", 10), kInitial);
  EXPECT_EQ(g_sandbox->QueryInt("a", "SELECT count(*) FROM undo_audit"), 1);
  g_sandbox->Exec("a", "DROP TABLE undo_audit");
}

TEST_F(SagaTest, SagaStatusExitCodes) {
  CliResult missing = RunCli({"saga", "status", "--saga-log", SagaLogPath()});
  EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
  SagaOrchestrator* orch = Open(Options());
  ASSERT_NE(orch, nullptr);
  ASSERT_EQ(orch->Run(Transfer("a", 9, "c", 9, 1)).state, SagaState::kCompleted);
  CliResult none = RunCli({"saga", "status", "--saga-log", SagaLogPath(), "--json"});
  EXPECT_EQ(none.exit_code, 0) << none.out << none.err;
  auto doc = nlohmann::json::parse(none.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << none.out;
  EXPECT_TRUE(doc["sagas"].empty());
  // Also once the orchestrator has closed the log (its WAL files are gone).
  orchestrator_.reset();
  CliResult closed = RunCli({"saga", "status", "--saga-log", SagaLogPath()});
  EXPECT_EQ(closed.exit_code, 0) << closed.out << closed.err;
  EXPECT_NE(closed.out.find("Unfinished sagas: none"), std::string::npos) << closed.out;
}

TEST_F(SagaTest, ConcurrentTransferSagasKeepTheTotal) {
  SagaOrchestrator* orch = Open(Options());
  ASSERT_NE(orch, nullptr);
  constexpr int kThreads = 8;
  constexpr int kSagasPerThread = 50;
  std::atomic<int> completed{0}, compensated{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::minstd_rand rng(t + 1);
      for (int i = 0; i < kSagasPerThread; ++i) {
        // Large amounts on few accounts: some debits hit CHECK. Every tenth
        // saga credits an account that does not exist (require_rows), so its
        // debit is compensated while other sagas move the same money.
        int to = i % 10 == 9 ? 99 : 1 + static_cast<int>(rng() % kAccounts);
        SagaResult r = orch->Run(
            Transfer(kDbs[rng() % 3], 1 + rng() % kAccounts, kDbs[rng() % 3], to, 1 + rng() % 600));
        if (r.state == SagaState::kCompleted) {
          ++completed;
        } else if (r.state == SagaState::kCompensated) {
          ++compensated;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(completed + compensated, kThreads * kSagasPerThread);
  EXPECT_EQ(other, 0);
  EXPECT_GT(completed, 0);
  EXPECT_GE(compensated, kThreads * kSagasPerThread / 10);
  EXPECT_EQ(Total(), 3 * kAccounts * kInitial);
  for (const std::string& db : kDbs) {
    EXPECT_EQ(g_sandbox->QueryInt(db, "SELECT count(*) FROM accounts WHERE balance < 0"), 0);
  }
  SagaStats stats = orch->stats();
  EXPECT_EQ(stats.completed, static_cast<uint64_t>(completed.load()));
  EXPECT_EQ(stats.compensated, static_cast<uint64_t>(compensated.load()));
  EXPECT_EQ(stats.parked, 0u);
  EXPECT_GT(stats.compensations, 0u);
  EXPECT_TRUE(orch->Unfinished()->empty());
}

}  // namespace
}  // namespace twopc::testing
