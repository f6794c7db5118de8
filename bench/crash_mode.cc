#include "bench/crash_mode.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "bench/auditor.h"
#include "bench/disk_probe.h"
#include "bench/driver.h"
#include "testing/child_process.h"

namespace twopc::bench {

using support::ChildProcess;

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// What the worker said about each operation before it died.
struct WorkerLog {
  std::map<uint64_t, int> started;    // op -> steps
  std::map<uint64_t, int64_t> acked;  // op -> latency (us)
  std::set<uint64_t> aborted, in_doubt;
};

void ParseLine(const std::string& line, WorkerLog* log) {
  std::istringstream in(line);
  char kind = 0;
  uint64_t op = 0;
  in >> kind >> op;
  if (!in) return;
  int64_t value = 0;
  switch (kind) {
    case 'S':
      in >> value;
      log->started[op] = static_cast<int>(value);
      break;
    case 'C':
      in >> value;
      log->acked[op] = value;
      break;
    case 'A':
      log->aborted.insert(op);
      break;
    case 'D':
      log->in_doubt.insert(op);
      break;
  }
}

std::vector<std::string> ChildArgs(const DriverEnv& env, const PointSpec& spec, const char* role,
                                   const std::string& work_dir, uint64_t id_base) {
  const BenchFlags& f = *env.flags;
  std::vector<std::string> args = {env.self_exe,
                                   "--crash-role",
                                   role,
                                   "--config",
                                   env.config_path,
                                   "--mode",
                                   ModeName(spec.mode),
                                   "--workload",
                                   WorkloadName(spec.workload),
                                   "--clients",
                                   std::to_string(spec.clients),
                                   "--participants",
                                   std::to_string(spec.participants),
                                   "--hot-set",
                                   std::to_string(spec.hot_set),
                                   "--failure-rate",
                                   fmt::format("{}", spec.failure_rate),
                                   "--accounts",
                                   std::to_string(f.accounts),
                                   "--seed",
                                   std::to_string(f.seed + spec.run),
                                   "--lock-timeout",
                                   std::to_string(f.lock_timeout.count()),
                                   "--io-threads",
                                   std::to_string(f.io_threads),
                                   "--outbox-relays",
                                   std::to_string(f.outbox_relays),
                                   "--crash-after",
                                   fmt::format("{}", f.crash_after.count() / 1000.0),
                                   "--op-id-base",
                                   std::to_string(id_base),
                                   "--work-dir",
                                   work_dir};
  // The children load the config themselves: the same override as here.
  if (f.log_store) {
    args.push_back("--log-store");
    args.push_back(LogStoreName(*f.log_store));
  }
  return args;
}

// (op -> steps applied) from every shard's journal.
Result<std::map<uint64_t, int>> ReadJournal(const PointFixture& f) {
  std::map<uint64_t, int> applied;
  int shards = static_cast<int>(f.layout.shard_participant.size());
  auto participants = f.layout.Participants();
  for (int s = 0; s < shards; ++s) {
    size_t p = std::find(participants.begin(), participants.end(), f.layout.participant(s)) -
               participants.begin();
    auto rows = f.clients[p]->Query("SELECT op FROM " + f.layout.Table(kJournalTable, s));
    if (!rows.ok()) return rows.TakeStatus();
    for (const auto& row : *rows) applied[std::stoull(*row[0])]++;
  }
  return applied;
}

void Classify(const WorkerLog& log, const std::map<uint64_t, int>& applied, PointResult* r) {
  CrashResult& c = *r->crash;
  LatencyHistogram latency;
  for (const auto& [op, steps] : log.started) {
    auto it = applied.find(op);
    int done = it == applied.end() ? 0 : it->second;
    bool all = done == steps, none = done == 0;
    ++r->attempted;
    if (auto a = log.acked.find(op); a != log.acked.end()) {
      ++c.acknowledged;
      latency.Record(a->second);
      if (!all) ++c.lost;
      ++r->committed;
      continue;
    }
    bool answered = log.aborted.count(op) > 0;
    if (!answered) {
      ++c.in_flight;
      if (log.in_doubt.count(op) > 0) ++r->in_doubt;
    }
    if (all && !answered) {
      ++c.in_flight_applied;
      ++r->committed;
      continue;
    }
    if (none && !answered) ++c.in_flight_undone;
    if (!all && !none) ++c.partial;
    ++r->aborted;
  }
  r->latency = Summarize(latency);
}

}  // namespace

PointResult RunCrashPoint(const PointSpec& spec, const DriverEnv& env) {
  const BenchFlags& f = *env.flags;
  PointResult r;
  r.spec = spec;
  r.crash = CrashResult{};
  if (!UsesDatabases(spec.mode)) {
    r.error = "crash mode needs a mode that uses the databases";
    return r;
  }
  auto fixture = PreparePoint(spec, env, /*journal=*/true, /*reset=*/true);
  if (!fixture.ok()) {
    r.error = "setup: " + fixture.status().ToString();
    return r;
  }
  // A directory per crash point: the saga log of the worker is the one its
  // restart must resume.
  std::string dir =
      fmt::format("{}/crash-{}-{}", env.work_dir, ModeName(spec.mode), NextOperationId().load());
  std::filesystem::create_directories(dir);
  // No log file with the decisions inside PostgreSQL: nothing to probe.
  if (env.options.log.store == LogStore::kSqlite || !UsesDecisionStore(spec.mode)) {
    r.flush_probe_us = ProbeFlushMicros(dir);
  }
  // Operation ids of the worker continue this process's, so every point's
  // ids stay unique (orders and journal rows are keyed on them).
  uint64_t base = NextOperationId().fetch_add(1000000000);

  std::string spawn_error;
  // stderr inherited: the worker's errors show up on the bench's stderr.
  auto worker =
      ChildProcess::Spawn(ChildArgs(env, spec, "worker", dir, base), {}, "", &spawn_error);
  if (worker == nullptr) {
    r.error = spawn_error;
    return r;
  }
  auto ready = worker->ReadLine(Clock::now() + std::chrono::seconds(60));
  if (!ready || *ready != "READY") {
    r.error = "the worker process did not start (see its errors above)";
    return r;
  }
  std::unique_ptr<AuditorPool> auditors;
  if (f.auditors > 0) {
    auto a = AuditorPool::Start(*fixture->workload, env.options, f.auditors, f.audit_pause);
    if (a.ok()) auditors = std::move(a.value());
  }
  WorkerLog log;
  std::thread reader([&] {
    // Until end of file: the kill closes the pipe.
    while (auto line = worker->ReadLine(Clock::now() + std::chrono::hours(1))) {
      ParseLine(*line, &log);
    }
  });
  auto t_start = Clock::now();
  SleepUnlessInterrupted(f.crash_after, env.interrupted);
  worker->KillAndWait();
  auto t_kill = Clock::now();
  reader.join();
  r.duration_s = std::chrono::duration<double>(t_kill - t_start).count();
  r.crash->after_s = r.duration_s;
  r.crash->prepared_at_restart = CountPrepared(*fixture);

  auto t_restart = Clock::now();
  auto recover = ChildProcess::Spawn(ChildArgs(env, spec, "recover", dir, base + 500000000), {}, "",
                                     &spawn_error);
  if (recover == nullptr) {
    r.error = spawn_error;
    return r;
  }
  std::string verdict;
  while (auto line = recover->ReadLine(Clock::now() + std::chrono::minutes(3))) {
    if (*line == "OPENED") r.crash->restart_open_ms = MsSince(t_restart);
    if (*line == "CLEAN" || line->rfind("UNCLEAN", 0) == 0) {
      verdict = *line;
      break;
    }
  }
  recover->Wait(Clock::now() + std::chrono::minutes(1));
  r.crash->recovery_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_kill).count();
  if (verdict != "CLEAN") {
    r.quiesce_error = verdict.empty() ? "the recover process gave no verdict" : verdict;
  }
  if (auditors != nullptr) {
    auditors->Stop();
    r.audits = auditors->audits();
    r.anomalies = auditors->anomalies();
    r.audit_errors = auditors->errors();
    r.first_anomaly = auditors->first_anomaly();
  }

  auto applied = ReadJournal(*fixture);
  if (!applied.ok()) {
    r.error = "reading the journal: " + applied.status().ToString();
    return r;
  }
  Classify(log, *applied, &r);
  r.committed_per_s = r.duration_s > 0 ? r.crash->acknowledged / r.duration_s : 0;
  r.aborted_per_s = r.duration_s > 0 ? log.aborted.size() / r.duration_s : 0;
  CheckFinalState(*fixture, &r);
  r.final_violations += static_cast<int64_t>(r.crash->lost + r.crash->partial);
  if (r.crash->lost + r.crash->partial > 0) {
    r.final_detail +=
        fmt::format("{}{} acknowledged operations lost, {} applied partially",
                    r.final_detail.empty() ? "" : "; ", r.crash->lost, r.crash->partial);
  }
  CheckAccounting(&r);
  return r;
}

}  // namespace twopc::bench
