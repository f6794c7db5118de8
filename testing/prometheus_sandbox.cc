#include "testing/prometheus_sandbox.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "testing/child_process.h"
#include "testing/http_get.h"

namespace twopc::testing {
namespace {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The value of the first sample of an instant-query answer's "data", if it
// is a non-empty vector (or a scalar).
std::optional<double> FirstValue(const nlohmann::json& data) {
  const nlohmann::json& result = data.value("result", nlohmann::json());
  const nlohmann::json* value = nullptr;
  if (data.value("resultType", "") == "scalar") {
    value = &result;
  } else if (result.is_array() && !result.empty() && result[0].contains("value")) {
    value = &result[0]["value"];
  }
  // A sample is [unix time, "value as text"]: Prometheus sends the value as
  // a string so that NaN and ±Inf survive JSON.
  if (value == nullptr || !value->is_array() || value->size() != 2 || !(*value)[1].is_string()) {
    return std::nullopt;
  }
  return std::stod((*value)[1].get<std::string>());
}

}  // namespace

std::string PrometheusSandbox::ScriptPath() {
  return std::string(TWOPC_SOURCE_DIR) + "/scripts/prometheus-sandbox";
}

ScriptResult PrometheusSandbox::RunScript(const std::vector<std::string>& args) {
  return RunBashScript(ScriptPath(), args);
}

std::unique_ptr<PrometheusSandbox> PrometheusSandbox::Start(const std::vector<std::string>& targets,
                                                            const std::string& rules_file) {
  char dir_template[] = "/tmp/twopc-prom-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    ADD_FAILURE() << "mkdtemp(/tmp/twopc-prom-XXXXXX): " << std::strerror(errno);
    return nullptr;
  }
  std::string dir = dir_template;
  std::string joined;
  for (const std::string& t : targets) joined += (joined.empty() ? "" : ",") + t;
  std::vector<std::string> args = {"start", dir, "--targets", joined, "--quiet"};
  if (!rules_file.empty()) args.insert(args.end(), {"--rules", rules_file});
  ScriptResult started = RunScript(args);
  std::string port_text = ReadWholeFile(dir + "/port");
  int port = started.exit_code == 0 ? std::atoi(port_text.c_str()) : 0;
  if (port <= 0) {
    ADD_FAILURE() << "prometheus-sandbox start " << dir << " failed (exit " << started.exit_code
                  << "):\n"
                  << started.output;
    // Nothing may outlive the test: stop whatever did start.
    (void)RunScript({"stop", dir, "--remove", "--quiet"});
    return nullptr;
  }
  return std::unique_ptr<PrometheusSandbox>(new PrometheusSandbox(dir, port));
}

PrometheusSandbox::~PrometheusSandbox() {
  ScriptResult stopped = RunScript({"stop", dir_, "--remove", "--quiet"});
  if (stopped.exit_code != 0) {
    ADD_FAILURE() << "prometheus-sandbox stop " << dir_ << " failed (exit " << stopped.exit_code
                  << "), directory kept:\n"
                  << stopped.output;
  }
}

std::string PrometheusSandbox::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

Result<nlohmann::json> PrometheusSandbox::Query(const std::string& promql) {
  Result<std::string> body = HttpGet(url() + "/api/v1/query?query=" + UrlEncode(promql));
  if (!body.ok()) {
    // Prometheus answers a query it cannot parse (400) or evaluate (422)
    // with that status: waiting would not make it succeed. HttpGet says so
    // only in its message.
    const std::string& message = body.status().message();
    bool refused = message.find("HTTP status 400") != std::string::npos ||
                   message.find("HTTP status 422") != std::string::npos;
    std::string text = "query " + promql + ": " + message;
    return refused ? Status::InvalidArgument(text) : Status::Unavailable(text);
  }
  auto doc = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::Corruption("query " + promql + ": not a JSON object: " + *body);
  }
  if (doc.value("status", "") != "success" || !doc.contains("data")) {
    return Status::InvalidArgument("query " + promql + ": " + *body);
  }
  return doc["data"];
}

Result<double> PrometheusSandbox::WaitForValue(const std::string& promql,
                                               const std::function<bool(double)>& accept,
                                               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (true) {
    Result<nlohmann::json> data = Query(promql);
    if (!data.ok() && data.status().IsInvalidArgument()) return data.TakeStatus();
    if (data.ok()) {
      std::optional<double> value = FirstValue(*data);
      if (value && (!accept || accept(*value))) return *value;
      last = data->dump();
    } else {
      last = data.status().ToString();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::TimedOut("query " + promql + " did not give an accepted value within " +
                              std::to_string(timeout.count()) + " ms; last answer: " + last);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace twopc::testing
