// twopc-bench: 2PC against its alternatives on the same workload
// (docs/benchmarks.md).
//
//   twopc-bench --sandbox 3 --mode none,2pc,2pc-early-ack --clients 1,32 --out results/
//   twopc-bench --config twopc.toml --mode 2pc,saga --workload order --failure-rate 0.05
//
// Exit codes: 0 done; 1 an accounting error (committed + aborted !=
// attempted) or a point that could not run; 2 bad usage or setup; 3 --check
// found a violation.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>

#include <prometheus/registry.h>

#include "bench/cli.h"
#include "bench/crash_mode.h"
#include "bench/pg_client.h"
#include "bench/recovery_backlog.h"
#include "bench/report.h"
#include "bench/results_check.h"
#include "bench/sandbox.h"
#include "bench/sweep.h"
#include "metrics/metrics_endpoint.h"
#include "twopc/config.h"

namespace twopc::bench {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted = true; }

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The server settings that decide what a commit costs.
std::map<std::string, std::string> ReadPostgresSettings(const CoordinatorOptions& o) {
  std::map<std::string, std::string> out;
  if (o.participants.empty()) return out;
  auto c = PgClient::Connect(o.participants.front().name, o.participants.front().conninfo,
                             TimeoutsOf(o));
  if (!c.ok()) return out;
  auto rows = (*c)->Query(
      "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
      " ('server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes',"
      " 'shared_buffers', 'max_connections', 'max_prepared_transactions', 'commit_delay',"
      " 'max_wal_size', 'checkpoint_timeout', 'wal_level')");
  if (!rows.ok()) return out;
  for (const auto& row : *rows) out[*row[0]] = row[1].value_or("");
  return out;
}

// Databases p1..pD for --sandbox: enough for the largest --participants and
// for the order workload's three.
SandboxSpec MakeSandboxSpec(const BenchFlags& f) {
  SandboxSpec s;
  s.servers = f.sandbox;
  s.fsync = f.sandbox_fsync;
  s.log_store = f.log_store;
  s.mariadb = f.mariadb;
  int dbs = std::max(f.sandbox, *std::max_element(f.participants.begin(), f.participants.end()));
  if (f.workload == WorkloadKind::kOrder) dbs = std::max(dbs, 3);
  for (int i = 1; i <= dbs; ++i) s.databases.push_back("p" + std::to_string(i));
  int clients = *std::max_element(f.clients.begin(), f.clients.end());
  int per_server = (dbs + f.sandbox - 1) / f.sandbox;
  // Per database: the pool (clients + 8), the auditors, setup and recovery.
  s.max_connections = std::max(200, per_server * (clients + 8 + f.auditors + 8) + 10);
  // The backlog's branches, spread over the first two databases.
  if (f.recovery_backlog > 0) s.max_prepared = std::max(s.max_connections, f.recovery_backlog + 100);
  return s;
}

int RunChild(BenchFlags& flags) {
  auto options = LoadConfigFile(flags.config);
  if (!options.ok()) {
    fmt::print(stderr, "twopc-bench: {}\n", options.status().ToString());
    return 2;
  }
  DriverEnv env;
  env.flags = &flags;
  env.options = options.value();
  if (flags.log_store) env.options.log.store = *flags.log_store;
  env.work_dir = flags.work_dir;
  env.config_path = flags.config;
  return flags.role == Role::kCrashWorker ? CrashWorkerMain(env) : CrashRecoverMain(env);
}

int RunDriver(BenchFlags& flags, const std::string& command_line) {
  InstallSignalHandlers();
  char tmpl[] = "/tmp/twopc-bench-work-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    fmt::print(stderr, "twopc-bench: cannot create a work directory in /tmp\n");
    return 2;
  }
  struct WorkDir {
    std::string path;
    ~WorkDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } work{tmpl};

  std::unique_ptr<Sandbox> sandbox;
  if (flags.sandbox > 0) {
    fmt::print(stderr, "twopc-bench: starting {} PostgreSQL servers{} (fsync {})...\n",
               flags.sandbox,
               flags.mariadb > 0 ? fmt::format(" and {} MariaDB servers", flags.mariadb) : "",
               flags.sandbox_fsync ? "on" : "off");
    auto sb = Sandbox::Start(MakeSandboxSpec(flags));
    if (!sb.ok()) {
      fmt::print(stderr, "twopc-bench: {}\n", sb.status().ToString());
      return 2;
    }
    sandbox = std::move(sb.value());
    flags.config = sandbox->config_path();
  }
  DriverEnv env;
  env.flags = &flags;
  env.work_dir = work.path;
  env.interrupted = &g_interrupted;
  env.self_exe = SelfExe();
  env.config_path = flags.config;
  if (!flags.config.empty()) {
    auto options = LoadConfigFile(flags.config);
    if (!options.ok()) {
      fmt::print(stderr, "twopc-bench: {}\n", options.status().ToString());
      return 2;
    }
    env.options = options.value();
    // --log-store over a loaded config (with --sandbox it is in the file already).
    if (flags.log_store) env.options.log.store = *flags.log_store;
  }

  // Served by the bench, not by a coordinator: each point opens its own
  // coordinator and closes it, and the address must hold for the whole run.
  std::unique_ptr<internal::MetricsEndpoint> metrics;
  if (!flags.metrics.empty()) {
    auto registry = std::make_shared<prometheus::Registry>();
    auto endpoint = internal::MetricsEndpoint::Start(flags.metrics, registry, {});
    if (!endpoint.ok()) {
      fmt::print(stderr, "twopc-bench: --metrics: {}\n", endpoint.status().ToString());
      return 2;
    }
    metrics = std::move(endpoint.value());
    env.options.metrics.registry = registry;
    env.options.metrics.listen.clear();
    fmt::print(stderr, "metrics: http://{}/metrics\n", metrics->address());
  }

  if (flags.recovery_backlog > 0) return RunRecoveryBacklog(env);

  ReportMeta meta;
  meta.command_line = command_line;
  meta.started_at = UtcNow();
  meta.machine = ReadMachineInfo();
  meta.postgres = ReadPostgresSettings(env.options);
  meta.flags = &flags;

  std::vector<PointResult> points = RunSweep(env);
  std::string md = ResultsToMarkdown(meta, points);
  fmt::print("\n{}", md);
  if (!flags.out.empty()) {
    if (Status s = WriteReports(flags.out, meta, points); !s.ok()) {
      fmt::print(stderr, "twopc-bench: {}\n", s.ToString());
      return 1;
    }
    fmt::print(stderr, "twopc-bench: results in {}\n", flags.out);
  }
  bool accounting = std::all_of(points.begin(), points.end(),
                                [](const PointResult& p) { return p.accounting_ok; });
  if (!accounting) return 1;
  if (g_interrupted) return 1;
  if (flags.check && CheckResultsJson(ResultsToJson(meta, points)) > 0) return 3;
  bool errors = std::any_of(points.begin(), points.end(),
                            [](const PointResult& p) { return !p.error.empty(); });
  return errors ? 1 : 0;
}

}  // namespace
}  // namespace twopc::bench

int main(int argc, char** argv) {
  using namespace twopc::bench;
  BenchFlags flags;
  CLI::App app{"twopc-bench: two-phase commit against its alternatives on the same workload"};
  DefineFlags(app, flags);
  try {
    app.parse(argc, argv);
    ValidateFlags(flags);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  spdlog::set_level(spdlog::level::warn);
  if (flags.list_modes) {
    for (Mode m : {Mode::kLocal, Mode::kNone, Mode::kTwoPc, Mode::kTwoPcEarlyAck, Mode::kSaga,
                   Mode::kSagaOutbox, Mode::kNull}) {
      std::printf("%s\n", ModeName(m));
    }
    return 0;
  }
  if (!flags.check_results.empty()) return CheckResultsFile(flags.check_results);
  if (flags.role != Role::kDriver) return RunChild(flags);
  std::string command_line;
  for (int i = 0; i < argc; ++i)
    command_line += (i == 0 ? "twopc-bench" : std::string(" ") + argv[i]);
  return RunDriver(flags, command_line);
}
