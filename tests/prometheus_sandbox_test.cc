// scripts/prometheus-sandbox and testing/prometheus_sandbox.h: a real
// Prometheus server scrapes a prometheus-cpp exposer, its query API returns
// what was scraped, an alert rule fires, and nothing is left behind.
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include <gtest/gtest.h>

#include "testing/prometheus_sandbox.h"

namespace twopc::testing {
namespace {

using Clock = std::chrono::steady_clock;

// An exposer on a free loopback port serving one gauge, as the coordinator's
// /metrics endpoint will.
struct TestExposer {
  TestExposer() : exposer("127.0.0.1:0"), registry(std::make_shared<prometheus::Registry>()) {
    gauge = &prometheus::BuildGauge()
                 .Name("twopc_sandbox_test_gauge")
                 .Help("A value the test sets and expects back from Prometheus")
                 .Register(*registry)
                 .Add({{"participant", "a"}});
    gauge->Set(42);
    exposer.RegisterCollectable(registry);
  }
  std::string target() { return "127.0.0.1:" + std::to_string(exposer.GetListeningPorts().at(0)); }

  prometheus::Exposer exposer;
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Gauge* gauge = nullptr;
};

std::string WriteRules(const std::string& dir) {
  std::string path = dir + "/test-rules.yml";
  std::ofstream out(path);
  out << R"(groups:
  - name: sandbox-test
    rules:
      - alert: SandboxGaugeHigh
        expr: twopc_sandbox_test_gauge > 40
        labels: {severity: test}
        annotations: {summary: "gauge is {{ $value }}"}
      - alert: SandboxGaugeNegative
        expr: twopc_sandbox_test_gauge < 0
)";
  return path;
}

class PrometheusSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/twopc-prom-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    scratch_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }
  std::string scratch_;
};

TEST_F(PrometheusSandboxTest, ScrapesAnExposerAndFiresAnAlertWithinThirtySeconds) {
  TestExposer exposer;
  auto started = Clock::now();
  auto prom = PrometheusSandbox::Start({exposer.target()}, WriteRules(scratch_));
  ASSERT_NE(prom, nullptr);

  // Scrapes and evaluations run every second: each wait is short, and the
  // whole test is bounded, not just each step.
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        started + std::chrono::seconds(30) - Clock::now());
  };
  auto up = prom->WaitForValue(R"(up{job="twopc",instance=")" + exposer.target() + "\"}",
                               [](double v) { return v == 1; }, left());
  ASSERT_TRUE(up.ok()) << up.status().ToString();

  auto gauge = prom->WaitForValue(R"(twopc_sandbox_test_gauge{participant="a"})",
                                  [](double v) { return v == 42; }, left());
  ASSERT_TRUE(gauge.ok()) << gauge.status().ToString();

  auto firing = prom->WaitForValue(R"(ALERTS{alertname="SandboxGaugeHigh",alertstate="firing"})",
                                   nullptr, left());
  ASSERT_TRUE(firing.ok()) << firing.status().ToString();
  EXPECT_EQ(*firing, 1);

  // The same evaluation saw the other rule false: it must not be pending
  // or firing.
  auto quiet = prom->Query(R"(ALERTS{alertname="SandboxGaugeNegative"})");
  ASSERT_TRUE(quiet.ok()) << quiet.status().ToString();
  EXPECT_TRUE((*quiet)["result"].empty()) << quiet->dump();

  EXPECT_LE(Clock::now() - started, std::chrono::seconds(30));
}

// docs/prometheus/twopc-alerts.yml loads into a real server (not only into
// promtool) and one of its alerts without `for:` fires from a live scrape.
TEST_F(PrometheusSandboxTest, ShippedAlertRulesFireOnARealServer) {
  TestExposer exposer;
  prometheus::Counter& heuristics = prometheus::BuildCounter()
                                        .Name("twopc_heuristic_outcomes_total")
                                        .Help("Heuristic outcomes recorded")
                                        .Register(*exposer.registry)
                                        .Add({});
  auto prom = PrometheusSandbox::Start(
      {exposer.target()}, std::string(TWOPC_SOURCE_DIR) + "/docs/prometheus/twopc-alerts.yml");
  ASSERT_NE(prom, nullptr);
  // increase() needs a sample before the increment to see it.
  auto before = prom->WaitForValue(
      "twopc_heuristic_outcomes_total", [](double v) { return v == 0; }, std::chrono::seconds(20));
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  auto quiet = prom->Query(R"(ALERTS{alertname="TwopcHeuristicOutcome"})");
  ASSERT_TRUE(quiet.ok()) << quiet.status().ToString();
  EXPECT_TRUE((*quiet)["result"].empty()) << quiet->dump();

  heuristics.Increment();
  auto firing = prom->WaitForValue(
      R"(ALERTS{alertname="TwopcHeuristicOutcome",alertstate="firing",job="twopc"})", nullptr,
      std::chrono::seconds(20));
  ASSERT_TRUE(firing.ok()) << firing.status().ToString();
}

TEST_F(PrometheusSandboxTest, UnreachableTargetIsDown) {
  // Bound and closed again: nothing listens there.
  TestExposer exposer;
  std::string live = exposer.target();
  auto prom = PrometheusSandbox::Start({live, "127.0.0.1:1"});
  ASSERT_NE(prom, nullptr);
  auto down = prom->WaitForValue(R"(up{instance="127.0.0.1:1"})", [](double v) { return v == 0; },
                                 std::chrono::seconds(20));
  ASSERT_TRUE(down.ok()) << down.status().ToString();
}

TEST_F(PrometheusSandboxTest, BadPromQlIsAnErrorNotATimeout) {
  TestExposer exposer;
  auto prom = PrometheusSandbox::Start({exposer.target()});
  ASSERT_NE(prom, nullptr);
  auto started = Clock::now();
  auto bad = prom->WaitForValue("up{", nullptr, std::chrono::seconds(20));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument()) << bad.status().ToString();
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
}

TEST_F(PrometheusSandboxTest, StopLeavesNoProcessAndNoDirectory) {
  TestExposer exposer;
  auto prom = PrometheusSandbox::Start({exposer.target()});
  ASSERT_NE(prom, nullptr);
  std::string dir = prom->dir();
  std::ifstream pid_file(dir + "/prometheus.pid");
  pid_t pid = 0;
  pid_file >> pid;
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, 0), 0) << "the server is not running";
  prom.reset();
  EXPECT_FALSE(IsProcessAlive(pid)) << "prometheus (pid " << pid << ") outlived its sandbox";
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir << " was left behind";
}

TEST_F(PrometheusSandboxTest, BrokenRulesFileFailsTheStartWithPromtoolsMessage) {
  std::string rules = scratch_ + "/broken.yml";
  std::ofstream(rules) << "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up{\n";
  ScriptResult r = PrometheusSandbox::RunScript(
      {"start", scratch_ + "/sb", "--targets", "127.0.0.1:1", "--rules", rules, "--quiet"});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("promtool check rules"), std::string::npos) << r.output;
  EXPECT_EQ(PrometheusSandbox::RunScript({"status", scratch_ + "/sb"}).exit_code, 1);
}

}  // namespace
}  // namespace twopc::testing
