// A throwaway Prometheus server for integration tests: it scrapes the
// targets a test names (a coordinator's /metrics, a test exposer) every
// second, evaluates a rules file every second, and answers PromQL through its
// HTTP API, so that a test can prove a metric or an alert reaches a real
// Prometheus, not only that the text looks right.
//
// PrometheusSandbox drives scripts/prometheus-sandbox: the server runs in a
// fresh /tmp/twopc-prom-XXXXXX directory on a free 127.0.0.1 port (job name
// "twopc"), and is stopped and its directory removed when the sandbox is
// destroyed.
//
// Error policy: like PgSandbox, Start() reports a failure with ADD_FAILURE()
// (with the script's output) and returns nullptr; the query calls return a
// Result whose error names the query and what went wrong.
//
//   auto prom = PrometheusSandbox::Start({"127.0.0.1:" + std::to_string(port)});
//   ASSERT_NE(prom, nullptr);
//   auto up = prom->WaitForValue("up", [](double v) { return v == 1; });
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing/pg_sandbox.h"  // ScriptResult
#include "twopc/status.h"

namespace twopc::testing {

class PrometheusSandbox {
 public:
  // Scrapes `targets` ("host:port", /metrics) every second. `rules_file`, if
  // not empty, is checked with promtool, copied into the sandbox and
  // evaluated every second.
  static std::unique_ptr<PrometheusSandbox> Start(const std::vector<std::string>& targets,
                                                  const std::string& rules_file = "");

  // Stops the server and removes its directory. If it cannot be stopped,
  // the directory is kept for inspection and the test fails.
  ~PrometheusSandbox();

  PrometheusSandbox(const PrometheusSandbox&) = delete;
  PrometheusSandbox& operator=(const PrometheusSandbox&) = delete;

  const std::string& dir() const { return dir_; }
  int port() const { return port_; }
  // "http://127.0.0.1:PORT"
  std::string url() const;

  // An instant query (GET /api/v1/query): the whole answer's "data" object
  // ({"resultType": ..., "result": [...]}). An HTTP error, an answer that is
  // not JSON or a "status" other than "success" (a PromQL syntax error) is
  // an error naming the query.
  Result<nlohmann::json> Query(const std::string& promql);

  // Polls `promql` (every 200 ms) until its result is a non-empty vector
  // whose first sample satisfies `accept`, and returns that sample's value.
  // TimedOut, with the last answer, if it does not within `timeout`. Scrapes
  // and rule evaluations run every second, so a few seconds are plenty.
  Result<double> WaitForValue(const std::string& promql,
                              const std::function<bool(double)>& accept = nullptr,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Path of scripts/prometheus-sandbox in the source tree.
  static std::string ScriptPath();
  // Runs scripts/prometheus-sandbox with `args` (output through a file, so
  // that a server inheriting it could never keep the caller waiting).
  static ScriptResult RunScript(const std::vector<std::string>& args);

 private:
  PrometheusSandbox(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}

  std::string dir_;
  int port_ = 0;
};

}  // namespace twopc::testing
