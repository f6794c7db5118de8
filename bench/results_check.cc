#include "bench/results_check.h"

#include <fmt/format.h>

#include <fstream>

namespace twopc::bench {
namespace {

bool IsStrict(const std::string& mode) {
  return mode == "local" || mode == "2pc" || mode == "2pc-early-ack" || mode == "null";
}

std::string Label(const nlohmann::json& p) {
  std::string label = fmt::format("{} {} clients={} participants={} hot-set={} failure-rate={}",
                                  p.value("mode", "?"), p.value("workload", "?"),
                                  p.value("clients", 0), p.value("participants", 0),
                                  p.value("hot_set", 0), p.value("failure_rate", 0.0));
  if (p.contains("over") && p["over"].is_array() && !p["over"].empty()) {
    std::string over;
    for (const auto& n : p["over"]) over += (over.empty() ? "" : "+") + n.get<std::string>();
    label += " over=" + over;
  }
  return label;
}

}  // namespace

int CheckResultsJson(const nlohmann::json& results) {
  int failures = 0;
  auto fail = [&](const nlohmann::json& p, const std::string& what) {
    fmt::print(stderr, "check: {}: {}\n", Label(p), what);
    ++failures;
  };
  if (!results.contains("points") || !results["points"].is_array() || results["points"].empty()) {
    fmt::print(stderr, "check: the results hold no points\n");
    return 1;
  }
  for (const auto& p : results["points"]) {
    std::string mode = p.value("mode", "");
    uint64_t attempted = p.value("attempted", uint64_t{0});
    uint64_t committed = p.value("committed", uint64_t{0});
    uint64_t aborted = p.value("aborted", uint64_t{0});
    int64_t violations = p.value("final_violations", int64_t{0});
    if (!p.value("error", std::string()).empty()) fail(p, "did not run: " + p.value("error", ""));
    if (attempted == 0) fail(p, "no operation was attempted");
    if (committed + aborted != attempted) {
      fail(p,
           fmt::format("committed {} + aborted {} != attempted {}", committed, aborted, attempted));
    }
    if (IsStrict(mode) && violations != 0) {
      fail(p, fmt::format("{} final violations: {}", violations, p.value("final_detail", "")));
    }
    if (p.contains("crash")) {
      const auto& c = p["crash"];
      uint64_t lost = c.value("lost", uint64_t{0});
      if (lost > 0) fail(p, fmt::format("{} acknowledged operations lost", lost));
      // Crash mode counts an operation as committed when it was acknowledged
      // or, in flight at the kill, completed by recovery; nothing else.
      uint64_t acknowledged = c.value("acknowledged", uint64_t{0});
      uint64_t applied = c.value("in_flight_applied", uint64_t{0});
      if (acknowledged + applied != committed) {
        fail(p, fmt::format("crash: acknowledged {} + in flight applied {} != committed {}",
                            acknowledged, applied, committed));
      }
    }
    if (mode != "none" && !p.value("quiesce_error", std::string()).empty()) {
      fail(p, "did not quiesce: " + p.value("quiesce_error", ""));
    }
  }
  return failures;
}

int CheckResultsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    fmt::print(stderr, "check: cannot read {}\n", path);
    return 2;
  }
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || j.value("tool", "") != "twopc-bench") {
    fmt::print(stderr, "check: {} is not a twopc-bench results.json\n", path);
    return 2;
  }
  int failures = CheckResultsJson(j);
  fmt::print(stderr, "check: {}: {} points, {}\n", path, j["points"].size(),
             failures == 0 ? "all checks passed" : fmt::format("{} failures", failures));
  return failures == 0 ? 0 : 3;
}

}  // namespace twopc::bench
