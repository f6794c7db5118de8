#include "bench/driver.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "bench/auditor.h"
#include "bench/disk_probe.h"

namespace twopc::bench {
namespace {

using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

RunnerCounters Delta(const RunnerCounters& a, const RunnerCounters& b) {
  return {b.records_forced - a.records_forced, b.forces - a.forces, b.parked - a.parked,
          b.handler_errors - a.handler_errors, b.duplicates - a.duplicates};
}

// The live line of --progress: rewritten in place on a terminal, one line
// per second otherwise (a log file should stay readable).
class Progress {
 public:
  Progress(bool enabled, std::string label)
      : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1), label_(std::move(label)) {}
  ~Progress() {
    if (enabled_ && tty_ && printed_) std::fputc('\n', stderr);
  }
  void Show(const char* phase, double t, double committed, double aborted, double p50_ms) {
    if (!enabled_) return;
    printed_ = true;
    std::string line = fmt::format(
        "[{}] {} {:5.0f}s  committed/s {:8.0f}  aborted/s {:6.0f}  "
        "p50 {:7.2f} ms",
        label_, phase, t, committed, aborted, p50_ms);
    if (tty_) {
      fmt::print(stderr, "\r{}\033[K", line);
    } else {
      fmt::print(stderr, "{}\n", line);
    }
    std::fflush(stderr);
  }

 private:
  bool enabled_, tty_, printed_ = false;
  std::string label_;
};

// Samples once per second: throughput of the last second and its p50.
class Sampler {
 public:
  Sampler(ClientLoop& loop, Progress& progress) : loop_(loop), progress_(progress) {}

  void Tick(const char* phase, double t, bool record) {
    uint64_t c = loop_.committed_so_far(), a = loop_.aborted_so_far();
    LatencyHistogram h = loop_.TakeInterval();
    double dc = static_cast<double>(c - last_committed_),
           da = static_cast<double>(a - last_aborted_);
    last_committed_ = c;
    last_aborted_ = a;
    if (record) samples_.push_back(dc);
    progress_.Show(phase, t, dc, da, h.Percentile(0.5) / 1000.0);
  }
  const std::vector<double>& samples() const { return samples_; }

 private:
  ClientLoop& loop_;
  Progress& progress_;
  uint64_t last_committed_ = 0, last_aborted_ = 0;
  std::vector<double> samples_;
};

// The directory of the decision log the point's coordinator forces (the
// work directory for the null mode's own log); empty when the decisions are
// rows inside PostgreSQL: no log file, no disk of ours to probe.
std::string LogDirectory(const PointSpec& spec, const DriverEnv& env) {
  if (spec.log_store == LogStore::kPostgres) return "";
  if (!UsesDatabases(spec.mode) || env.options.log.path.empty()) return env.work_dir;
  auto slash = env.options.log.path.rfind('/');
  return slash == std::string::npos ? "." : env.options.log.path.substr(0, slash);
}

// One progress line per second of warm-up; nothing is counted.
void WarmUp(const BenchFlags& flags, const DriverEnv& env, Sampler& sampler) {
  auto t_warm = Clock::now();
  for (auto tick = t_warm; tick < t_warm + flags.warmup;) {
    tick = std::min(tick + std::chrono::seconds(1), t_warm + flags.warmup);
    if (!SleepUntil(tick, env.interrupted)) break;
    sampler.Tick("warmup ", std::chrono::duration<double>(Clock::now() - t_warm).count(), false);
  }
}

// The measured window, one sample per full second; returns its length.
double Measure(const BenchFlags& flags, const DriverEnv& env, ClientLoop& loop, Sampler& sampler) {
  auto t0 = Clock::now();
  loop.BeginMeasuring();
  const auto end = t0 + flags.duration;
  const auto full = flags.duration - flags.duration % std::chrono::seconds(1);
  for (auto tick = t0; tick < end;) {
    tick = std::min(tick + std::chrono::seconds(1), end);
    bool completed = SleepUntil(tick, env.interrupted);
    // A final partial second is not a sample: it would drag the median down.
    sampler.Tick("measure", std::chrono::duration<double>(Clock::now() - t0).count(),
                 completed && tick - t0 <= full);
    if (!completed) break;
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void FillFromTotals(const ClientLoop::Totals& t, PointResult* r) {
  r->attempted = t.attempted;
  r->committed = t.committed;
  r->aborted = t.aborted;
  r->aborted_business = t.business;
  r->in_doubt = t.in_doubt;
  r->retries = t.retries;
  r->compensations = t.compensations;
  r->latency = Summarize(t.latency);
  r->committed_per_s = r->duration_s > 0 ? r->committed / r->duration_s : 0;
  r->aborted_per_s = r->duration_s > 0 ? r->aborted / r->duration_s : 0;
}

}  // namespace

std::atomic<uint64_t>& NextOperationId() {
  static std::atomic<uint64_t> next{1};
  return next;
}

bool SleepUntil(std::chrono::steady_clock::time_point until, const std::atomic<bool>* interrupted) {
  while (Clock::now() < until) {
    if (interrupted != nullptr && interrupted->load()) return false;
    // Short slices: a Ctrl-C is noticed within 50 ms.
    std::this_thread::sleep_until(std::min(until, Clock::now() + std::chrono::milliseconds(50)));
  }
  return interrupted == nullptr || !interrupted->load();
}

bool SleepUnlessInterrupted(std::chrono::milliseconds d, const std::atomic<bool>* interrupted) {
  return SleepUntil(Clock::now() + d, interrupted);
}

ClientLoop::ClientLoop(ModeRunner& runner, const Workload& workload, int clients, uint64_t seed,
                       std::atomic<uint64_t>* next_id, OpObserver* observer)
    : runner_(runner), workload_(workload), seed_(seed), next_id_(next_id), observer_(observer) {
  for (int i = 0; i < clients; ++i) clients_.push_back(std::make_unique<Client>());
}

ClientLoop::~ClientLoop() { Stop(); }

void ClientLoop::Start() {
  for (size_t i = 0; i < clients_.size(); ++i) {
    threads_.emplace_back([this, i] { Loop(static_cast<int>(i)); });
  }
}

void ClientLoop::BeginMeasuring() { measuring_ = true; }

void ClientLoop::Stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

LatencyHistogram ClientLoop::TakeInterval() {
  LatencyHistogram all;
  for (auto& c : clients_) {
    internal::MutexLock lock(c->mutex);
    all.Merge(c->interval);
    c->interval.Clear();
  }
  return all;
}

ClientLoop::Totals ClientLoop::Collect() const {
  Totals t;
  for (const auto& c : clients_) {
    const Totals& o = c->totals;
    t.attempted += o.attempted;
    t.committed += o.committed;
    t.aborted += o.aborted;
    t.business += o.business;
    t.in_doubt += o.in_doubt;
    t.retries += o.retries;
    t.compensations += o.compensations;
    t.latency.Merge(o.latency);
    t.in_doubt_keys.insert(t.in_doubt_keys.end(), o.in_doubt_keys.begin(), o.in_doubt_keys.end());
    if (t.first_error.empty()) t.first_error = o.first_error;
  }
  return t;
}

void ClientLoop::Loop(int index) {
  // The same seed for every mode: each mode runs the same operations.
  std::mt19937_64 rng(seed_ * 1000003 + index);
  Client& me = *clients_[index];
  while (!stop_) {
    Operation op = workload_.Next(rng, next_id_->fetch_add(1));
    bool counted = measuring_;
    if (observer_ != nullptr) observer_->OnStart(op);
    auto t0 = Clock::now();
    Outcome out = runner_.Run(op);
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
    if (observer_ != nullptr) observer_->OnOutcome(op, out);
    if (!counted) continue;
    Totals& t = me.totals;
    ++t.attempted;
    t.retries += out.retries;
    t.compensations += out.compensations;
    switch (out.kind) {
      case Outcome::Kind::kCommitted:
        ++t.committed;
        ++committed_live_;
        t.latency.Record(micros);
        {
          internal::MutexLock lock(me.mutex);
          me.interval.Record(micros);
        }
        break;
      case Outcome::Kind::kInDoubt:
        // Settled after quiescence (Resolve), then counted.
        ++t.in_doubt;
        t.in_doubt_keys.push_back(out.resolve_key);
        break;
      case Outcome::Kind::kAborted:
        ++t.aborted;
        ++aborted_live_;
        if (out.business) ++t.business;
        break;
    }
    if (!out.cause.ok() && !out.business && t.first_error.empty()) {
      t.first_error = out.cause.ToString();
    }
  }
}

PointResult RunPoint(const PointSpec& spec, const DriverEnv& env) {
  const BenchFlags& flags = *env.flags;
  PointResult r;
  r.spec = spec;
  auto fixture = PreparePoint(spec, env, /*journal=*/false, /*reset=*/true);
  if (!fixture.ok()) {
    r.error = "setup: " + fixture.status().ToString();
    return r;
  }
  auto runner = OpenRunner(spec.mode, MakeRunnerContext(spec, env, *fixture));
  if (!runner.ok()) {
    r.error = "open: " + runner.status().ToString();
    return r;
  }
  ModeRunner& run = *runner.value();
  if (std::string dir = LogDirectory(spec, env); !dir.empty()) {
    r.flush_probe_us = ProbeFlushMicros(dir);
  }
  ClientLoop loop(run, *fixture->workload, spec.clients, flags.seed + spec.run, &NextOperationId(),
                  nullptr);
  Progress progress(flags.progress, fmt::format("{} c={}", ModeLabel(spec), spec.clients));
  Sampler sampler(loop, progress);
  loop.Start();

  WarmUp(flags, env, sampler);

  std::unique_ptr<AuditorPool> auditors;
  if (UsesDatabases(spec.mode) && flags.auditors > 0) {
    auto a = AuditorPool::Start(*fixture->workload, env.options, flags.auditors, flags.audit_pause);
    if (!a.ok()) {
      r.error = "auditors: " + a.status().ToString();
      return r;
    }
    auditors = std::move(a.value());
  }

  RunnerCounters c0 = run.counters();
  double cpu0 = CpuSeconds();
  r.duration_s = Measure(flags, env, loop, sampler);
  loop.Stop();
  double cpu = CpuSeconds() - cpu0;
  if (auditors != nullptr) auditors->Stop();
  r.counters = Delta(c0, run.counters());

  auto tq = Clock::now();
  if (Status s = run.Quiesce(std::chrono::seconds(60)); !s.ok()) r.quiesce_error = s.ToString();
  r.quiesce_ms = std::chrono::duration<double, std::milli>(Clock::now() - tq).count();

  ClientLoop::Totals t = loop.Collect();
  for (const auto& key : t.in_doubt_keys) {
    (run.Resolve(key) == Outcome::Kind::kCommitted ? t.committed : t.aborted)++;
  }
  FillFromTotals(t, &r);
  r.committed_samples = sampler.samples();
  r.committed_per_s_median = Median(r.committed_samples);
  r.cpu_us_per_tx = r.committed > 0 ? cpu * 1e6 / r.committed : 0;
  if (auditors != nullptr) {
    r.audits = auditors->audits();
    r.anomalies = auditors->anomalies();
    r.audit_errors = auditors->errors();
    r.first_anomaly = auditors->first_anomaly();
  }
  runner.value().reset();  // closes the coordinator before the checks read
  CheckFinalState(*fixture, &r);
  CheckAccounting(&r);
  if (!t.first_error.empty()) {
    fmt::print(stderr, "twopc-bench: {}: first failure: {}\n", PointLabel(spec), t.first_error);
  }
  if (env.interrupted != nullptr && *env.interrupted) r.error = "interrupted";
  return r;
}

}  // namespace twopc::bench
