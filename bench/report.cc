#include "bench/report.h"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "bench/charts.h"

namespace twopc::bench {
namespace {

using nlohmann::json;

json LatencyJson(const LatencySummary& l) {
  return {{"p50", l.p50}, {"p95", l.p95}, {"p99", l.p99}, {"max", l.max}, {"mean", l.mean}};
}

double RecordsPerForce(const RunnerCounters& c) {
  return c.forces > 0 ? static_cast<double>(c.records_forced) / c.forces : 0.0;
}

json PointJson(const PointResult& r, bool with_runs) {
  json j = {
      {"mode", ModeName(r.spec.mode)},
      // "2pc-pg" for 2pc with the decisions inside PostgreSQL; null for the
      // modes that write no decision.
      {"label", ModeLabel(r.spec)},
      {"log_store", r.spec.log_store ? json(LogStoreName(*r.spec.log_store)) : json(nullptr)},
      {"workload", WorkloadName(r.spec.workload)},
      {"clients", r.spec.clients},
      {"participants", r.spec.participants},
      {"over", r.spec.over},
      {"hot_set", r.spec.hot_set},
      {"failure_rate", r.spec.failure_rate},
      {"duration_s", r.duration_s},
      {"flush_probe_us", r.flush_probe_us},
      {"attempted", r.attempted},
      {"committed", r.committed},
      {"aborted", r.aborted},
      {"aborted_business", r.aborted_business},
      {"in_doubt", r.in_doubt},
      {"retries", r.retries},
      {"compensations", r.compensations},
      {"committed_per_s", r.committed_per_s},
      {"aborted_per_s", r.aborted_per_s},
      {"committed_per_s_median_sample", r.committed_per_s_median},
      {"latency_ms", LatencyJson(r.latency)},
      {"cpu_us_per_tx", r.cpu_us_per_tx},
      {"decision_log",
       {{"records_forced", r.counters.records_forced},
        {"forces", r.counters.forces},
        {"records_per_force", RecordsPerForce(r.counters)}}},
      {"sagas_parked", r.counters.parked},
      {"outbox_handler_errors", r.counters.handler_errors},
      {"outbox_duplicates", r.counters.duplicates},
      {"audits", r.audits},
      {"anomalies", r.anomalies},
      {"audit_errors", r.audit_errors},
      {"first_anomaly", r.first_anomaly},
      {"final_violations", r.final_violations},
      {"prepared_left", r.prepared_left},
      {"final_detail", r.final_detail},
      {"quiesce_ms", r.quiesce_ms},
      {"quiesce_error", r.quiesce_error},
      {"accounting_ok", r.accounting_ok},
      {"per_second_committed", r.committed_samples},
      {"error", r.error},
  };
  if (r.crash) {
    const CrashResult& c = *r.crash;
    j["crash"] = {{"after_s", c.after_s},
                  {"acknowledged", c.acknowledged},
                  {"in_flight", c.in_flight},
                  {"lost", c.lost},
                  {"in_flight_applied", c.in_flight_applied},
                  {"in_flight_undone", c.in_flight_undone},
                  {"partial", c.partial},
                  {"prepared_at_restart", c.prepared_at_restart},
                  {"restart_open_ms", c.restart_open_ms},
                  {"recovery_ms", c.recovery_ms}};
  }
  if (with_runs && !r.runs.empty()) {
    json runs = json::array();
    for (const auto& run : r.runs) runs.push_back(PointJson(run, false));
    j["runs"] = runs;
  }
  return j;
}

std::string ModeList(const BenchFlags& f) {
  std::string s;
  for (Mode m : f.modes) s += std::string(s.empty() ? "" : ",") + ModeName(m);
  return s;
}

std::string ReadFirstMatch(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      auto v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

// A point's key without the mode, to line modes of one point up.
std::string PointKey(const PointSpec& s) {
  return fmt::format("{}/{}/{}/{}/{}", WorkloadName(s.workload), s.clients, ParticipantsLabel(s),
                     s.hot_set, s.failure_rate);
}

std::string Fmt(double v, int decimals) { return fmt::format("{:.{}f}", v, decimals); }

// Free text (an error from libpq or the server, often several lines) as one
// Markdown table cell: a raw newline would end the row, a raw '|' start a
// new cell.
std::string MarkdownCell(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') continue;  // CRLF: one break
      out += "<br>";
    } else if (c == '\n') {
      out += "<br>";
    } else if (c == '|') {
      out += "\\|";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

MachineInfo ReadMachineInfo() {
  MachineInfo m;
  m.nproc = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  std::string mem = ReadFirstMatch("/proc/meminfo", "MemTotal");
  if (!mem.empty()) m.memory_mb = std::stoll(mem) / 1024;
  m.cpu_model = ReadFirstMatch("/proc/cpuinfo", "model name");
  utsname u{};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
  return m;
}

json ResultsToJson(const ReportMeta& meta, const std::vector<PointResult>& points) {
  const BenchFlags& f = *meta.flags;
  json j;
  j["tool"] = "twopc-bench";
  j["command"] = meta.command_line;
  j["started_at"] = meta.started_at;
  j["machine"] = {{"nproc", meta.machine.nproc},
                  {"memory_mb", meta.machine.memory_mb},
                  {"cpu_model", meta.machine.cpu_model},
                  {"kernel", meta.machine.kernel}};
  j["postgres"] = meta.postgres;
  j["settings"] = {
      {"modes", ModeList(f)},
      {"workload", WorkloadName(f.workload)},
      {"duration_s", f.duration.count() / 1000.0},
      {"warmup_s", f.warmup.count() / 1000.0},
      {"accounts", f.accounts},
      {"auditors", f.auditors},
      {"audit_pause_ms", f.audit_pause.count()},
      {"repeat", f.repeat},
      {"lock_timeout_ms", f.lock_timeout.count()},
      {"io_threads", f.io_threads},
      {"crash_after_s", f.crash_after.count() / 1000.0},
      {"seed", f.seed},
      {"log_store_flag", f.log_store ? json(LogStoreName(*f.log_store)) : json(nullptr)},
      {"mariadb", f.mariadb},
      {"over", f.over}};
  json arr = json::array();
  for (const auto& p : points) arr.push_back(PointJson(p, true));
  j["points"] = arr;
  return j;
}

std::string ResultsToCsv(const std::vector<PointResult>& points) {
  std::ostringstream out;
  out << "mode,workload,clients,participants,hot_set,failure_rate,attempted,committed,aborted,"
         "aborted_business,in_doubt,committed_per_s,aborted_per_s,committed_per_s_median_sample,"
         "p50_ms,p95_ms,p99_ms,max_ms,mean_ms,compensations,retries,audits,anomalies,"
         "final_violations,prepared_left,quiesce_ms,cpu_us_per_tx,records_per_force,"
         "crash_lost,crash_in_flight,crash_recovery_ms,flush_probe_us,error,log_store,over\n";
  for (const auto& r : points) {
    std::string error = r.error;
    for (char& c : error) {
      if (c == ',' || c == '\n' || c == '"') c = ' ';
    }
    out << fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{:.1f},{:.1f},{:.1f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},"
        "{},{},{},{},{},{},{:.1f},{:.1f},{:.2f},{},{},{},{:.0f},{},{},{}\n",
        ModeName(r.spec.mode), WorkloadName(r.spec.workload), r.spec.clients, r.spec.participants,
        r.spec.hot_set, r.spec.failure_rate, r.attempted, r.committed, r.aborted,
        r.aborted_business, r.in_doubt, r.committed_per_s, r.aborted_per_s,
        r.committed_per_s_median, r.latency.p50, r.latency.p95, r.latency.p99, r.latency.max,
        r.latency.mean, r.compensations, r.retries, r.audits, r.anomalies, r.final_violations,
        r.prepared_left, r.quiesce_ms, r.cpu_us_per_tx, RecordsPerForce(r.counters),
        r.crash ? std::to_string(r.crash->lost) : "",
        r.crash ? std::to_string(r.crash->in_flight) : "",
        r.crash ? Fmt(r.crash->recovery_ms, 0) : "", r.flush_probe_us, error,
        r.spec.log_store ? LogStoreName(*r.spec.log_store) : "",
        r.spec.over.empty() ? "" : ParticipantsLabel(r.spec));
  }
  return out.str();
}

std::string ResultsToMarkdown(const ReportMeta& meta, const std::vector<PointResult>& points) {
  const BenchFlags& f = *meta.flags;
  std::ostringstream out;
  out << "# twopc-bench results\n\n";
  out << "Command: `" << meta.command_line << "`  \n";
  out << fmt::format("Started {} on {} CPUs ({}), {} MB RAM, {}.  \n", meta.started_at,
                     meta.machine.nproc, meta.machine.cpu_model, meta.machine.memory_mb,
                     meta.machine.kernel);
  out << fmt::format(
      "Workload {}, {} accounts, {:.0f} s measured after {:.0f} s warm-up, "
      "{} run(s) per point (medians), {} auditor(s).\n\n",
      WorkloadName(f.workload), f.accounts, f.duration.count() / 1000.0, f.warmup.count() / 1000.0,
      f.repeat, f.auditors);
  if (!meta.postgres.empty()) {
    out << "PostgreSQL:";
    for (const auto& [k, v] : meta.postgres) out << " " << k << "=" << v;
    out << "\n\n";
  }
  bool pg_store = std::any_of(points.begin(), points.end(), [](const PointResult& p) {
    return p.spec.log_store == LogStore::kPostgres;
  });
  if (pg_store) {
    out << "Mode `2pc-pg` (`2pc-early-ack-pg`): 2pc with the decisions inside PostgreSQL "
           "([log] store = \"postgres\"; no log file, so no rec/fsync or flush probe); `2pc` "
           "without the suffix keeps them in the SQLite log.\n\n";
  }
  bool crash = f.crash_after.count() > 0;
  out << "| mode | clients | K | hot | fail | committed/s | aborted/s | p50 ms | p95 ms | p99 ms "
         "| max ms | comp. | retries | anomalies/audits | final viol. | CPU us/tx | rec/fsync "
         "| flush us |";
  out << (crash ? " lost | in flight | recovery ms |\n" : "\n");
  out << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
         "|";
  out << (crash ? "---:|---:|---:|\n" : "\n");
  for (const auto& r : points) {
    if (!r.error.empty() && r.attempted == 0) {
      out << fmt::format("| {} | {} | {} | {} | {} | error: {} |\n", ModeLabel(r.spec),
                         r.spec.clients, ParticipantsLabel(r.spec), r.spec.hot_set, r.spec.failure_rate,
                         MarkdownCell(r.error));
      continue;
    }
    out << fmt::format(
        "| {} | {} | {} | {} | {} | {:.0f} | {:.0f} | {:.2f} | {:.2f} | {:.2f} | {:.1f} | {} | {} "
        "| {}/{} | {} | {:.0f} | {} | {} |",
        ModeLabel(r.spec), r.spec.clients, ParticipantsLabel(r.spec), r.spec.hot_set,
        r.spec.failure_rate, r.committed_per_s, r.aborted_per_s, r.latency.p50, r.latency.p95, r.latency.p99,
        r.latency.max, r.compensations, r.retries, r.anomalies, r.audits, r.final_violations,
        r.cpu_us_per_tx, r.counters.forces > 0 ? Fmt(RecordsPerForce(r.counters), 1) : "-",
        r.flush_probe_us >= 0 ? Fmt(r.flush_probe_us, 0) : "-");
    if (crash && r.crash) {
      out << fmt::format(" {} | {} | {:.0f} |", r.crash->lost, r.crash->in_flight,
                         r.crash->recovery_ms);
    }
    out << "\n";
  }

  // Side by side against `none` at the same point: the cost of atomicity.
  std::ostringstream ratios;
  for (const auto& base : points) {
    if (base.spec.mode != Mode::kNone || base.committed_per_s <= 0) continue;
    for (const auto& r : points) {
      if (r.spec.mode == Mode::kNone || PointKey(r.spec) != PointKey(base.spec)) continue;
      ratios << fmt::format("| {} | {} | {} | {} | {} | {:.2f} | {} |\n", ModeLabel(r.spec),
                            r.spec.clients, ParticipantsLabel(r.spec), r.spec.hot_set,
                            r.spec.failure_rate, r.committed_per_s / base.committed_per_s,
                            base.latency.p50 > 0 ? Fmt(r.latency.p50 / base.latency.p50, 2) : "-");
    }
  }
  if (!ratios.str().empty()) {
    out << "\nAgainst `none` at the same point:\n\n";
    out << "| mode | clients | K | hot | fail | throughput / none | p50 / none |\n"
           "|---|---:|---:|---:|---:|---:|---:|\n";
    out << ratios.str();
  }
  return out.str();
}

Status WriteReports(const std::string& dir, const ReportMeta& meta,
                    const std::vector<PointResult>& points) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
  auto write = [&](const std::string& name, const std::string& text) -> Status {
    std::ofstream out(dir + "/" + name, std::ios::trunc);
    out << text;
    out.close();
    if (!out) return Status::IOError("cannot write " + dir + "/" + name);
    return Status::OK();
  };
  if (Status s = write("results.json", ResultsToJson(meta, points).dump(2) + "\n"); !s.ok()) {
    return s;
  }
  if (Status s = write("results.csv", ResultsToCsv(points)); !s.ok()) return s;
  if (Status s = write("results.md", ResultsToMarkdown(meta, points)); !s.ok()) return s;
  for (const auto& chart : BuildCharts(points)) {
    if (Status s = write(chart.file, chart.svg); !s.ok()) return s;
  }
  return Status::OK();
}

}  // namespace twopc::bench
