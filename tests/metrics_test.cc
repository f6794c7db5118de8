// The coordinator's metrics and tracing hooks (docs/operations.md,
// "Metrics"), against real PostgreSQL servers: the /metrics endpoint is
// scraped over HTTP while transactions commit, abort, end in doubt and
// retry phase 2, and the counters must move exactly as those did.
#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <fmt/format.h>

#include "coordinator/coordinator_impl.h"
#include "coordinator/phase_trace.h"
#include "testing/http_get.h"
#include "testing/prometheus_sandbox.h"
#include "tests/support/bank_fixture.h"
#include "tests/support/fault_wrappers.h"
#include "twopc/tracing.h"

namespace twopc::testing {
namespace {

// One scrape: "name{labels}" -> value, exactly as exposed.
using Samples = std::map<std::string, double>;

Samples Parse(const std::string& text) {
  Samples samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

// 0 for a series that is not there, so that "moved by 1" reads plainly.
double Get(const Samples& s, const std::string& series) {
  auto it = s.find(series);
  return it == s.end() ? 0 : it->second;
}

const std::string kCommitted2pc = R"(twopc_transactions_total{outcome="committed",path="two_phase"})";
const std::string kAborted2pc = R"(twopc_transactions_total{outcome="aborted",path="two_phase"})";
const std::string kInDoubt2pc = R"(twopc_transactions_total{outcome="in_doubt",path="two_phase"})";

class MetricsTest : public BankTest {
 protected:
  // A coordinator serving /metrics on a free loopback port, its log and its
  // participant "b" wrapped to inject failures.
  std::unique_ptr<Coordinator> OpenServing(Faults* faults, FaultyLog** log_out,
                                           std::shared_ptr<Tracer> tracer = nullptr) {
    CoordinatorOptions opts = Options();
    opts.metrics.listen = "127.0.0.1:0";
    opts.complete_retry_initial = std::chrono::milliseconds(5);
    opts.tracer = std::move(tracer);
    faults->target = "b";
    auto real = OpenSqliteDecisionLog(opts.log);
    EXPECT_TRUE(real.ok()) << real.status().ToString();
    auto log = std::make_unique<FaultyLog>(std::move(real.value()));
    *log_out = log.get();
    auto factory = [faults](boost::asio::io_context& io, const ParticipantOptions& p,
                            std::chrono::milliseconds connect_timeout) {
      auto participant = internal::MakePgParticipant(io, p, connect_timeout);
      if (p.name != faults->target) return participant;
      return std::unique_ptr<Participant>(new FlakyParticipant(std::move(participant), faults));
    };
    auto c = internal::OpenCoordinator(std::move(opts), std::move(log), factory);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c.value()) : nullptr;
  }

  static Samples Scrape(Coordinator& c) {
    auto body = HttpGet("http://" + c.metrics_endpoint() + "/metrics");
    EXPECT_TRUE(body.ok()) << body.status().ToString();
    return body.ok() ? Parse(*body) : Samples{};
  }

  static Status Transfer(Coordinator& c, const std::string& extra_sql = "") {
    Transaction tx = c.Begin();
    EXPECT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 1 WHERE id = 1").ok());
    EXPECT_TRUE(tx.Queue("b", extra_sql.empty() ? "UPDATE accounts SET balance = balance + 1 WHERE id = 1"
                                                : extra_sql)
                    .ok());
    return tx.Commit();
  }
};

TEST_F(MetricsTest, CountersMoveWithCommitsAbortsInDoubtAndPhase2Retries) {
  Faults faults;
  FaultyLog* log = nullptr;
  auto c = OpenServing(&faults, &log);
  ASSERT_NE(c, nullptr);
  ASSERT_FALSE(c->metrics_endpoint().empty());
  Samples before = Scrape(*c);
  // Every series of a configured participant is there from the start, at 0.
  EXPECT_EQ(before.count(R"(twopc_phase2_retries_total{participant="b"})"), 1u);
  EXPECT_EQ(before.count(kInDoubt2pc), 1u);
  EXPECT_EQ(Get(before, "twopc_recovery_passes_total{result=\"ok\"}"), 1);  // the pass at Open

  // A commit across two databases.
  ASSERT_TRUE(Transfer(*c).ok());
  Samples after_commit = Scrape(*c);
  EXPECT_EQ(Get(after_commit, kCommitted2pc) - Get(before, kCommitted2pc), 1);
  EXPECT_EQ(Get(after_commit, "twopc_commit_duration_seconds_count"), 1);
  EXPECT_EQ(Get(after_commit, R"(twopc_phase_duration_seconds_count{phase="prepare"})"), 1);
  EXPECT_EQ(Get(after_commit, R"(twopc_phase_duration_seconds_count{phase="decide"})"), 1);
  EXPECT_EQ(Get(after_commit, R"(twopc_phase_duration_seconds_count{phase="complete"})"), 1);
  EXPECT_GE(Get(after_commit, "twopc_decision_log_flush_seconds_count"), 1);
  EXPECT_GE(Get(after_commit, "twopc_decision_log_batch_records_sum"), 1);
  EXPECT_GE(Get(after_commit, R"(twopc_pool_connections{participant="a",state="idle"})"), 1);

  // An SQL error in one branch: aborted, and the error's class counted
  // against that participant (22: data exception).
  Status aborted = Transfer(*c, "UPDATE accounts SET balance = balance + 1/0 WHERE id = 1");
  ASSERT_TRUE(aborted.IsAborted()) << aborted.ToString();
  Samples after_abort = Scrape(*c);
  EXPECT_EQ(Get(after_abort, kAborted2pc) - Get(after_commit, kAborted2pc), 1);
  EXPECT_EQ(Get(after_abort, R"(twopc_participant_errors_total{participant="b",sqlstate_class="22"})"), 1);

  // b cannot be reached when Commit opens its queued branch: counted too.
  faults.fail_open = true;
  ASSERT_TRUE(Transfer(*c).IsAborted());
  faults.fail_open = false;
  Samples after_refused = Scrape(*c);
  EXPECT_EQ(Get(after_refused, R"(twopc_participant_errors_total{participant="b",sqlstate_class="connection"})"), 1);
  EXPECT_EQ(Get(after_refused, kAborted2pc), 2);

  // Phase 2 fails twice on b, then succeeds: two retries, still committed.
  faults.commit_prepared_failures = 2;
  ASSERT_TRUE(Transfer(*c).ok());
  c->WaitForCompletions();
  Samples after_retry = Scrape(*c);
  EXPECT_EQ(Get(after_retry, R"(twopc_phase2_retries_total{participant="b"})"), 2);
  EXPECT_EQ(Get(after_retry, R"(twopc_phase2_retries_total{participant="a"})"), 0);
  EXPECT_EQ(Get(after_retry, R"(twopc_participant_errors_total{participant="b",sqlstate_class="connection"})"),
            3);
  EXPECT_EQ(Get(after_retry, kCommitted2pc), 2);

  // The COMMIT record's fsync fails after the write: in doubt. Its branches
  // stay prepared until recovery reads the log.
  log->decide_in_doubt = true;
  Status in_doubt = Transfer(*c);
  log->decide_in_doubt = false;
  ASSERT_TRUE(in_doubt.IsInDoubt()) << in_doubt.ToString();
  Samples after_doubt = Scrape(*c);
  EXPECT_EQ(Get(after_doubt, kInDoubt2pc), 1);
  EXPECT_EQ(Get(after_doubt, "twopc_commit_duration_seconds_count"), 5);

  // A recovery pass sees the two prepared branches and rolls them back
  // (no COMMIT record: presumed abort).
  RecoveryReport r = c->Recover();
  EXPECT_EQ(r.resolved, 2) << r.actions.size();
  Samples after_recovery = Scrape(*c);
  EXPECT_EQ(Get(after_recovery, R"(twopc_recovery_actions_total{action="fence"})"), 1);
  EXPECT_EQ(Get(after_recovery, R"(twopc_recovery_actions_total{action="rollback"})"), 2);
  EXPECT_EQ(Get(after_recovery, R"(twopc_prepared_branches{participant="a"})"), 0);
  EXPECT_EQ(Get(after_recovery, R"(twopc_participant_up{participant="a"})"), 1);
  EXPECT_EQ(Get(after_recovery, "twopc_recovery_unresolved"), 0);
  EXPECT_GT(Get(after_recovery, "twopc_recovery_last_pass_timestamp_seconds"),
            Get(before, "twopc_recovery_last_pass_timestamp_seconds"));
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(Total(), 3 * kAccountsPerDb * kInitialBalance);
}

// A prepared transaction that is not twopc's holds locks all the same: the
// gauges show it, with its age, until it is gone.
TEST_F(MetricsTest, APreparedBranchLeftBehindShowsInTheGaugesWithItsAge) {
  Faults faults;
  FaultyLog* log = nullptr;
  auto c = OpenServing(&faults, &log);
  ASSERT_NE(c, nullptr);
  sandbox_->Exec("c", "BEGIN; UPDATE accounts SET balance = balance WHERE id = 2; "
                      "PREPARE TRANSACTION 'someone-else.1'");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  c->Recover();
  Samples s = Scrape(*c);
  EXPECT_EQ(Get(s, R"(twopc_prepared_branches{participant="c"})"), 1);
  EXPECT_GE(Get(s, R"(twopc_oldest_prepared_age_seconds{participant="c"})"), 1.0);
  EXPECT_EQ(Get(s, R"(twopc_prepared_branches{participant="a"})"), 0);
  EXPECT_EQ(Get(s, R"(twopc_recovery_actions_total{action="skip_foreign"})"), 1);
  sandbox_->Exec("c", "ROLLBACK PREPARED 'someone-else.1'");
  c->Recover();
  s = Scrape(*c);
  EXPECT_EQ(Get(s, R"(twopc_prepared_branches{participant="c"})"), 0);
  EXPECT_EQ(Get(s, R"(twopc_oldest_prepared_age_seconds{participant="c"})"), 0);
}

TEST_F(MetricsTest, OnePhaseAndReadOnlyPathsAreCountedApart) {
  Faults faults;
  FaultyLog* log = nullptr;
  auto c = OpenServing(&faults, &log);
  ASSERT_NE(c, nullptr);
  {
    Transaction tx = c->Begin();
    ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance WHERE id = 3").ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
  {
    Transaction tx = c->Begin();
    ASSERT_TRUE(tx.Execute("a", "SELECT 1").ok());
    ASSERT_TRUE(tx.Execute("b", "SELECT 1").ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
  Samples s = Scrape(*c);
  EXPECT_EQ(Get(s, R"(twopc_transactions_total{outcome="committed",path="one_phase"})"), 1);
  EXPECT_EQ(Get(s, R"(twopc_transactions_total{outcome="committed",path="read_only"})"), 1);
  EXPECT_EQ(Get(s, kCommitted2pc), 0);
  // Neither forced a decision record.
  EXPECT_EQ(Get(s, "twopc_decision_log_flush_seconds_count"), 0);
}

// Nothing secret leaves through the endpoint: labels are participant names,
// never a conninfo.
TEST_F(MetricsTest, NoPasswordInAnyMetric) {
  CoordinatorOptions opts = Options();
  for (auto& p : opts.participants) p.conninfo += " password=hunter2-metrics";
  opts.metrics.listen = "127.0.0.1:0";
  auto c = Open(std::move(opts));
  ASSERT_NE(c, nullptr);
  Transaction tx = c->Begin();
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance WHERE id = 4").ok());
  ASSERT_TRUE(tx.Queue("b", "SELECT no_such_column FROM accounts").ok());
  EXPECT_FALSE(tx.Commit().ok());
  auto body = HttpGet("http://" + c->metrics_endpoint() + "/metrics");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(body->find("hunter2"), std::string::npos);
  EXPECT_EQ(body->find("conninfo"), std::string::npos);
  EXPECT_NE(body->find(R"(sqlstate_class="42")"), std::string::npos) << *body;
}

TEST_F(MetricsTest, AnAddressInUseOrMalformedIsAClearErrorAtOpen) {
  CoordinatorOptions first = Options();
  first.metrics.listen = "127.0.0.1:0";
  auto c = Open(std::move(first));
  ASSERT_NE(c, nullptr);
  CoordinatorOptions second = Options();
  second.log.path = log_dir_ + "/second.db";
  second.node_id = "metrics-second";
  second.metrics.listen = c->metrics_endpoint();
  auto refused = Coordinator::Open(second);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsUnavailable()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find(c->metrics_endpoint()), std::string::npos)
      << refused.status().ToString();
  second.metrics.listen = "localhost";
  refused = Coordinator::Open(second);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalidArgument()) << refused.status().ToString();
}

// An application with its own registry (and its own exposer) gets twopc's
// families in it, and no port is opened.
TEST_F(MetricsTest, TheApplicationsRegistryReceivesTheFamilies) {
  auto registry = std::make_shared<prometheus::Registry>();
  CoordinatorOptions opts = Options();
  opts.metrics.registry = registry;
  auto c = Open(std::move(opts));
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->metrics_endpoint().empty());
  EXPECT_EQ(c->metrics(), registry);
  ASSERT_TRUE(Transfer(*c).ok());
  Samples s = Parse(prometheus::TextSerializer().Serialize(registry->Collect()));
  EXPECT_EQ(Get(s, kCommitted2pc), 1);
}

// What docs/operations.md promises an operator: point Prometheus at a
// running coordinator, load the shipped alert rules, and a transaction stuck
// in the prepared state raises TwopcPreparedBranchStuck. The rule is the
// shipped one with its threshold and `for:` shortened from minutes to
// seconds; everything else -- the coordinator's background recovery pass,
// the endpoint, the scrape, the rule evaluation -- is the real thing.
TEST_F(MetricsTest, PrometheusScrapingTheCoordinatorFiresTheStuckBranchAlert) {
  std::ifstream in(std::string(TWOPC_SOURCE_DIR) + "/docs/prometheus/twopc-alerts.yml");
  std::stringstream rules;
  rules << in.rdbuf();
  std::string text = rules.str();
  const std::string expr = "expr: twopc_oldest_prepared_age_seconds > 60\n        for: 1m";
  size_t at = text.find(expr);
  ASSERT_NE(at, std::string::npos) << "the rule changed: adapt this test";
  text.replace(at, expr.size(), "expr: twopc_oldest_prepared_age_seconds > 2\n        for: 0s");
  std::string rules_path = log_dir_ + "/rules.yml";
  std::ofstream(rules_path) << text;

  CoordinatorOptions opts = Options();
  opts.metrics.listen = "127.0.0.1:0";
  opts.recovery.interval = std::chrono::milliseconds(300);
  auto c = Open(std::move(opts));
  ASSERT_NE(c, nullptr);
  sandbox_->Exec("c", "BEGIN; UPDATE accounts SET balance = balance WHERE id = 5; "
                      "PREPARE TRANSACTION 'stuck-elsewhere.1'");
  auto prom = PrometheusSandbox::Start({c->metrics_endpoint()}, rules_path);
  ASSERT_NE(prom, nullptr);
  auto up = prom->WaitForValue(R"(up{job="twopc"})", [](double v) { return v == 1; });
  EXPECT_TRUE(up.ok()) << up.status().ToString();
  auto prepared = prom->WaitForValue(R"(twopc_prepared_branches{participant="c"})",
                                     [](double v) { return v == 1; });
  EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
  auto firing = prom->WaitForValue(
      R"(ALERTS{alertname="TwopcPreparedBranchStuck",alertstate="firing",participant="c"})",
      [](double v) { return v == 1; });
  EXPECT_TRUE(firing.ok()) << firing.status().ToString();
  sandbox_->Exec("c", "ROLLBACK PREPARED 'stuck-elsewhere.1'");
  auto cleared = prom->WaitForValue(R"(twopc_prepared_branches{participant="c"})",
                                    [](double v) { return v == 0; });
  EXPECT_TRUE(cleared.ok()) << cleared.status().ToString();
}

// The tracer sees every step start and end, paired, with the branches'
// steps inside the transaction's.
class RecordingTracer : public Tracer {
 public:
  void OnPhaseStart(const TraceEvent& e) override {
    std::lock_guard lock(mutex_);
    events.push_back("start " + Name(e));
    open_[Name(e)]++;
  }
  void OnPhaseEnd(const TraceEvent& e, const Status& s, std::chrono::nanoseconds elapsed) override {
    std::lock_guard lock(mutex_);
    events.push_back("end " + Name(e) + (s.ok() ? " ok" : " failed"));
    if (--open_[Name(e)] < 0) unpaired = true;
    if (elapsed.count() < 0) unpaired = true;
  }
  std::vector<std::string> Ended() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.rfind("end ", 0) == 0) out.push_back(e);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  bool AllClosed() {
    std::lock_guard lock(mutex_);
    for (const auto& [name, n] : open_) {
      if (n != 0) return false;
    }
    return !unpaired;
  }
  std::vector<std::string> events;
  bool unpaired = false;

 private:
  static std::string Name(const TraceEvent& e) {
    std::string name = TracePhaseName(e.phase);
    if (!e.participant.empty()) name += fmt::format(" {} #{}", e.participant, e.attempt);
    return name;
  }
  std::mutex mutex_;
  std::map<std::string, int> open_;
};

TEST_F(MetricsTest, TheTracerSeesEveryStepOfACommitAndOfAnAbort) {
  Faults faults;
  FaultyLog* log = nullptr;
  auto tracer = std::make_shared<RecordingTracer>();
  auto c = OpenServing(&faults, &log, tracer);
  ASSERT_NE(c, nullptr);
  faults.commit_prepared_failures = 1;
  ASSERT_TRUE(Transfer(*c).ok());
  c->WaitForCompletions();
  EXPECT_TRUE(tracer->AllClosed());
  EXPECT_EQ(tracer->Ended(), (std::vector<std::string>{
                                 "end commit ok",
                                 "end complete a #0 ok",
                                 "end complete b #0 failed",
                                 "end complete b #1 ok",
                                 "end complete ok",
                                 "end decide ok",
                                 "end prepare a #0 ok",
                                 "end prepare b #0 ok",
                                 "end prepare ok",
                             }));
  tracer->events.clear();
  ASSERT_TRUE(Transfer(*c, "SELECT 1/0").IsAborted());
  EXPECT_TRUE(tracer->AllClosed());
  EXPECT_EQ(tracer->Ended(), (std::vector<std::string>{
                                 "end abort ok",
                                 "end commit failed",
                                 "end prepare a #0 ok",
                                 "end prepare b #0 failed",
                                 "end prepare failed",
                             }));
}

// A step still running when its span is destroyed -- the coordinator closed
// while phase 2 was still trying -- is ended, Aborted: every start the tracer
// saw gets its end.
TEST(PhaseSpanTest, ASpanDestroyedWhileRunningEndsAborted) {
  RecordingTracer tracer;
  {
    internal::PhaseSpan span(&tracer, TracePhase::kComplete, "tpc1.n.1.1", "b", "tpc1.n.1.1.2");
    internal::PhaseSpan moved = std::move(span);  // the moved-from one ends nothing
  }
  EXPECT_TRUE(tracer.AllClosed());
  EXPECT_EQ(tracer.Ended(), std::vector<std::string>{"end complete b #0 failed"});
  auto shared = internal::BranchSpan(&tracer, TracePhase::kPrepare, "tpc1.n.1.2", "a", "g");
  internal::EndSpan(shared, Status::OK());
  shared.reset();  // ended already: no second end
  EXPECT_TRUE(tracer.AllClosed());
  EXPECT_EQ(internal::BranchSpan(nullptr, TracePhase::kPrepare, "g", "a", "g"), nullptr);
}

}  // namespace
}  // namespace twopc::testing
