#include "bench/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "bench/crash_mode.h"
#include "bench/driver.h"

namespace twopc::bench {
namespace {

double MedianOf(const std::vector<PointResult>& runs,
                const std::function<double(const PointResult&)>& f) {
  std::vector<double> v;
  for (const auto& r : runs) v.push_back(f(r));
  return Median(v);
}

void PrintSummary(const PointResult& r) {
  if (!r.error.empty()) {
    fmt::print("{}: ERROR {}\n", PointLabel(r.spec), r.error);
    std::fflush(stdout);
    return;
  }
  std::string line = fmt::format(
      "{} run {}: {:.0f} committed/s, {:.0f} aborted/s, p50 {:.2f} ms, p99 {:.2f} ms, "
      "anomalies {}/{}, final violations {}",
      PointLabel(r.spec), r.spec.run + 1, r.committed_per_s, r.aborted_per_s, r.latency.p50,
      r.latency.p99, r.anomalies, r.audits, r.final_violations);
  if (r.crash) {
    line +=
        fmt::format(", crash: lost {}, in flight {} ({} applied, {} undone), recovery {:.0f} ms",
                    r.crash->lost, r.crash->in_flight, r.crash->in_flight_applied,
                    r.crash->in_flight_undone, r.crash->recovery_ms);
  }
  fmt::print("{}\n", line);
  if (r.final_violations > 0) fmt::print("  final check: {}\n", r.final_detail);
  if (!r.quiesce_error.empty()) fmt::print("  quiescence: {}\n", r.quiesce_error);
  std::fflush(stdout);
}

// Crash mode: like the other counts, what was lost, in flight, applied or
// undone is summed over the runs -- a loss in any run must show in the point --
// and the times are medians.
CrashResult CrashOfRuns(const std::vector<PointResult>& runs) {
  CrashResult sum;
  std::vector<double> after, open, recovery;
  for (const auto& r : runs) {
    if (!r.crash) continue;
    const CrashResult& c = *r.crash;
    sum.acknowledged += c.acknowledged;
    sum.in_flight += c.in_flight;
    sum.lost += c.lost;
    sum.in_flight_applied += c.in_flight_applied;
    sum.in_flight_undone += c.in_flight_undone;
    sum.partial += c.partial;
    sum.prepared_at_restart += c.prepared_at_restart;
    after.push_back(c.after_s);
    open.push_back(c.restart_open_ms);
    recovery.push_back(c.recovery_ms);
  }
  sum.after_s = Median(after);
  sum.restart_open_ms = Median(open);
  sum.recovery_ms = Median(recovery);
  return sum;
}

}  // namespace

PointResult MedianOfRuns(std::vector<PointResult> runs) {
  if (runs.size() == 1) return std::move(runs.front());
  // The representative run is the one with the median throughput; the rates
  // and percentiles below are per-field medians over all runs.
  std::vector<PointResult> sorted = runs;
  std::sort(sorted.begin(), sorted.end(), [](const PointResult& a, const PointResult& b) {
    return a.committed_per_s < b.committed_per_s;
  });
  PointResult m = sorted[sorted.size() / 2];
  m.spec.run = 0;
  m.committed_per_s = MedianOf(runs, [](const PointResult& r) { return r.committed_per_s; });
  m.aborted_per_s = MedianOf(runs, [](const PointResult& r) { return r.aborted_per_s; });
  m.committed_per_s_median =
      MedianOf(runs, [](const PointResult& r) { return r.committed_per_s_median; });
  m.latency.p50 = MedianOf(runs, [](const PointResult& r) { return r.latency.p50; });
  m.latency.p95 = MedianOf(runs, [](const PointResult& r) { return r.latency.p95; });
  m.latency.p99 = MedianOf(runs, [](const PointResult& r) { return r.latency.p99; });
  m.latency.mean = MedianOf(runs, [](const PointResult& r) { return r.latency.mean; });
  m.cpu_us_per_tx = MedianOf(runs, [](const PointResult& r) { return r.cpu_us_per_tx; });
  m.quiesce_ms = MedianOf(runs, [](const PointResult& r) { return r.quiesce_ms; });
  m.flush_probe_us = MedianOf(runs, [](const PointResult& r) { return r.flush_probe_us; });
  m.duration_s = 0;
  m.attempted = m.committed = m.aborted = m.aborted_business = m.in_doubt = 0;
  m.retries = m.compensations = m.audits = m.anomalies = m.audit_errors = 0;
  m.final_violations = m.prepared_left = 0;
  m.latency.max = 0;
  m.accounting_ok = true;
  m.committed_samples.clear();
  for (const auto& r : runs) {
    m.duration_s += r.duration_s;
    m.attempted += r.attempted;
    m.committed += r.committed;
    m.aborted += r.aborted;
    m.aborted_business += r.aborted_business;
    m.in_doubt += r.in_doubt;
    m.retries += r.retries;
    m.compensations += r.compensations;
    m.audits += r.audits;
    m.anomalies += r.anomalies;
    m.audit_errors += r.audit_errors;
    m.final_violations += r.final_violations;
    m.prepared_left += r.prepared_left;
    m.latency.max = std::max(m.latency.max, r.latency.max);
    m.accounting_ok = m.accounting_ok && r.accounting_ok;
    m.committed_samples.insert(m.committed_samples.end(), r.committed_samples.begin(),
                               r.committed_samples.end());
    if (m.error.empty()) m.error = r.error;
    if (m.final_detail.empty()) m.final_detail = r.final_detail;
  }
  if (m.crash) m.crash = CrashOfRuns(runs);
  m.runs = std::move(runs);
  return m;
}

std::vector<PointResult> RunSweep(const DriverEnv& env) {
  const BenchFlags& f = *env.flags;
  auto interrupted = [&] { return env.interrupted != nullptr && env.interrupted->load(); };
  std::vector<PointResult> out;
  // The participant sets: the first K of the config for each --participants
  // K, one after the other; or the --over sets, all in ONE group whose runs
  // interleave (run 1 of every set and mode, then run 2...), so that the sets
  // are compared side by side like the modes are.
  using Set = std::pair<int, std::vector<std::string>>;
  std::vector<std::vector<Set>> groups;
  if (f.over.empty()) {
    for (int k : f.participants) groups.push_back({Set{k, {}}});
  } else {
    groups.emplace_back();
    for (const auto& names : f.over) {
      groups.back().emplace_back(static_cast<int>(names.size()), names);
    }
  }
  for (const auto& sets : groups) {
    for (int64_t hot : f.hot_sets) {
      for (double failure : f.failure_rates) {
        for (int clients : f.clients) {
          if (interrupted()) return out;
          const size_t modes = f.modes.size();
          std::vector<std::vector<PointResult>> runs(sets.size() * modes);
          for (int run = 0; run < f.repeat && !interrupted(); ++run) {
            for (size_t set = 0; set < sets.size() && !interrupted(); ++set) {
              const auto& [participants, over] = sets[set];
              for (size_t m = 0; m < modes && !interrupted(); ++m) {
                PointSpec spec{f.modes[m], f.workload, clients, participants, hot, failure, run};
                spec.log_store = DecisionStoreOf(spec.mode, env.options);
                spec.over = over;
                PointResult r =
                    f.crash_after.count() > 0 ? RunCrashPoint(spec, env) : RunPoint(spec, env);
                PrintSummary(r);
                runs[set * modes + m].push_back(std::move(r));
              }
            }
          }
          // What ran of an interrupted point is still reported (marked).
          for (auto& r : runs) {
            if (!r.empty()) out.push_back(MedianOfRuns(std::move(r)));
          }
        }
      }
    }
  }
  return out;
}

}  // namespace twopc::bench
