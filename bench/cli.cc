#include "bench/cli.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace twopc::bench {
namespace {

std::chrono::milliseconds Seconds(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(s * 1000)));
}

// Hard caps: every loop of the bench is bounded by --duration, and
// --duration itself by these.
constexpr double kMaxDurationS = 3600, kMaxWarmupS = 600, kMaxCrashAfterS = 3600;

}  // namespace

void DefineFlags(CLI::App& app, BenchFlags& f) {
  app.add_option("--config", f.config, "twopc TOML config naming the participants and the log");
  app.add_option(
         "--sandbox", f.sandbox,
         "start N throwaway PostgreSQL servers with scripts/pg-sandbox, stop them at the end")
      ->check(CLI::Range(1, 16));
  app.add_option("--mariadb", f.mariadb,
                 "with --sandbox: also start N MariaDB databases m1..mN with "
                 "scripts/mariadb-sandbox (kind = \"mariadb\" participants, stopped at the end)")
      ->check(CLI::Range(0, 8));
  app.add_option_function<std::vector<std::string>>(
         "--over",
         [&f](const std::vector<std::string>& sets) {
           f.over.clear();
           for (const auto& set : sets) {
             std::vector<std::string> names;
             size_t at = 0;
             while (at <= set.size()) {
               size_t comma = set.find(',', at);
               if (comma == std::string::npos) comma = set.size();
               std::string name = set.substr(at, comma - at);
               if (name.empty()) throw CLI::ValidationError("--over", "empty name in '" + set + "'");
               names.push_back(name);
               at = comma + 1;
             }
             f.over.push_back(std::move(names));
           }
         },
         "participant names in shard order, e.g. --over p1,p2 --over p1,m1 (repeatable: each set "
         "is one more sweep dimension, side by side in the same run); replaces --participants")
      ->type_name("NAMES");
  app.add_option_function<std::string>(
         "--sandbox-fsync", [&f](const std::string& v) { f.sandbox_fsync = v == "on"; },
         "fsync of the sandbox servers (default on)")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option_function<std::string>(
         "--log-store",
         [&f](const std::string& v) {
           auto store = ParseLogStore(v);
           if (!store) {
             throw CLI::ValidationError(
                 "--log-store",
                 "is '" + v +
                     "'; it is sqlite (the embedded decision log file) or postgres "
                     "(decisions inside the participants, [log] store = \"postgres\")");
           }
           f.log_store = *store;
         },
         "where 2pc and 2pc-early-ack keep their decisions. With --sandbox it is "
         "written into the generated config; with --config it overrides the config's [log] store "
         "(the file is not changed). The null mode always keeps its own SQLite log: postgres is "
         "refused with --mode null")
      ->type_name("sqlite|postgres");
  app.add_option_function<std::vector<std::string>>(
         "--mode",
         [&f](const std::vector<std::string>& names) {
           f.modes.clear();
           for (const auto& n : names) {
             auto m = ParseMode(n);
             if (!m) throw CLI::ValidationError("--mode", "unknown mode '" + n + "'");
             f.modes.push_back(*m);
           }
         },
         "local|none|2pc|2pc-early-ack|saga|saga-outbox|null, comma list: run one after the other")
      ->delimiter(',');
  app.add_option_function<std::string>(
         "--workload",
         [&f](const std::string& v) {
           f.workload = v == "order" ? WorkloadKind::kOrder : WorkloadKind::kTransfer;
         },
         "transfer (default) or order")
      ->check(CLI::IsMember({"transfer", "order"}));
  app.add_option("--clients", f.clients, "client threads; comma list sweeps (default 8)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  app.add_option_function<double>(
         "--duration", [&f](double s) { f.duration = Seconds(s); },
         "measured seconds per point (default 10)")
      ->check(CLI::Range(0.1, kMaxDurationS));
  app.add_option_function<double>(
         "--warmup", [&f](double s) { f.warmup = Seconds(s); },
         "unmeasured seconds before each point (default 2)")
      ->check(CLI::Range(0.0, kMaxWarmupS));
  app.add_option(
         "--participants", f.participants,
         "databases a transfer chooses from: the first K of the config, 2-5; comma list sweeps")
      ->delimiter(',')
      ->check(CLI::Range(2, 5));
  app.add_option("--accounts", f.accounts, "accounts per database (customers and items for order)")
      ->check(CLI::Range(int64_t{2}, int64_t{100000000}));
  app.add_option("--hot-set", f.hot_sets,
                 "0 = uniform; H = 90% of picks go to the H hottest accounts; comma list sweeps")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}));
  app.add_option("--failure-rate", f.failure_rates,
                 "order workload: fraction of orders refused (declined, out of stock); list sweeps")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--auditors", f.auditors, "threads reading the invariant during the run")
      ->check(CLI::Range(0, 64));
  app.add_option_function<int>(
         "--audit-pause", [&f](int ms) { f.audit_pause = std::chrono::milliseconds(ms); },
         "milliseconds an auditor sleeps between two reads (default 20)")
      ->check(CLI::Range(0, 10000));
  app.add_option_function<double>(
         "--crash-after", [&f](double s) { f.crash_after = Seconds(s); },
         "crash mode: SIGKILL the coordinator process after S seconds, restart, measure recovery")
      ->check(CLI::Range(0.0, kMaxCrashAfterS));
  app.add_option("--recovery-backlog", f.recovery_backlog,
                 "instead of the workloads: prepare N undecided branches of a dead coordinator on "
                 "the first two databases, then time one recovery pass (what `twopc recover` runs)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--out", f.out, "directory for results.json, results.csv, results.md, *.svg");
  app.add_flag("--progress", f.progress, "a live line on stderr once per second");
  app.add_option("--repeat", f.repeat, "runs per point; the report shows medians")
      ->check(CLI::Range(1, 20));
  app.add_flag("--check", f.check,
               "exit 3 unless 2pc/local/null end with zero violations and every point ran");
  app.add_option("--seed", f.seed, "random seed (the same for every mode of a point)");
  app.add_option_function<int>(
         "--lock-timeout", [&f](int ms) { f.lock_timeout = std::chrono::milliseconds(ms); },
         "lock_timeout (ms) of every branch; breaks distributed deadlocks (default 1000)")
      ->check(CLI::Range(0, 600000));
  app.add_option("--io-threads", f.io_threads, "coordinator I/O threads")->check(CLI::Range(1, 64));
  app.add_option("--outbox-relays", f.outbox_relays, "saga-outbox: relay threads per participant")
      ->check(CLI::Range(1, 16));
  app.add_option("--metrics", f.metrics,
                 "serve GET /metrics at HOST:PORT during the run (port 0: a free one; the address "
                 "is printed on stderr). Every coordinator of the run (one per point) counts into "
                 "the one registry served there, replacing the config's [metrics] listen; crash "
                 "mode's child processes are not counted");
  app.add_flag("--list-modes", f.list_modes,
               "print every mode, then exit");
  app.add_option("--check-results", f.check_results,
                 "verify a results.json written earlier (as --check does) and exit");

  // Crash mode's child processes (crash_mode.h); not for users.
  app.add_option_function<std::string>(
         "--crash-role",
         [&f](const std::string& v) {
           f.role = v == "worker" ? Role::kCrashWorker : Role::kCrashRecover;
         },
         "")
      ->check(CLI::IsMember({"worker", "recover"}))
      ->group("");
  app.add_option("--op-id-base", f.op_id_base, "")->group("");
  app.add_option("--work-dir", f.work_dir, "")->group("");
}

void ValidateFlags(BenchFlags& f) {
  if (f.list_modes || !f.check_results.empty()) return;
  if (f.modes.empty()) f.modes = {Mode::kTwoPc};
  for (Mode m : f.modes) {
    if (f.crash_after.count() > 0 && !UsesDatabases(m)) {
      throw CLI::ValidationError("--crash-after", "crash mode needs database modes, not null");
    }
  }
  if (f.log_store == LogStore::kPostgres &&
      std::find(f.modes.begin(), f.modes.end(), Mode::kNull) != f.modes.end()) {
    throw CLI::ValidationError(
        "--log-store",
        "postgres does not apply to the null mode: it measures the coordinator with its own "
        "SQLite log and null participants (no database to keep decisions in); run null in a "
        "separate invocation without --log-store postgres");
  }
  bool databases = std::any_of(f.modes.begin(), f.modes.end(), UsesDatabases);
  if (f.role != Role::kDriver) {
    if (f.config.empty() || f.work_dir.empty()) {
      throw CLI::ValidationError("--crash-role", "needs --config and --work-dir");
    }
    return;
  }
  if (f.recovery_backlog > 0 && f.sandbox == 0 && f.config.empty()) {
    throw CLI::ValidationError("--recovery-backlog", "give --config FILE or --sandbox N");
  }
  if (f.mariadb > 0 && f.sandbox == 0) {
    throw CLI::ValidationError("--mariadb", "needs --sandbox N (the MariaDB servers are its)");
  }
  if (f.mariadb > 0 && f.log_store == LogStore::kPostgres) {
    throw CLI::ValidationError("--mariadb",
                               "MariaDB participants need the SQLite decision log (docs/protocol.md, "
                               "\"MariaDB participants\", rule 1), not --log-store postgres");
  }
  if (!f.over.empty()) {
    if (f.workload == WorkloadKind::kOrder) {
      throw CLI::ValidationError("--over", "applies to the transfer workload");
    }
    if (f.crash_after.count() > 0 || f.recovery_backlog > 0) {
      throw CLI::ValidationError("--over", "not with --crash-after or --recovery-backlog");
    }
    for (const auto& set : f.over) {
      if (set.size() < 2) throw CLI::ValidationError("--over", "a transfer needs two participants");
    }
  }
  if (f.sandbox > 0 && !f.config.empty()) {
    throw CLI::ValidationError("--sandbox", "--config and --sandbox exclude each other");
  }
  if (databases && f.sandbox == 0 && f.config.empty()) {
    throw CLI::ValidationError("--config", "give --config FILE or --sandbox N");
  }
  if (f.workload == WorkloadKind::kTransfer &&
      std::any_of(f.failure_rates.begin(), f.failure_rates.end(), [](double r) { return r > 0; })) {
    throw CLI::ValidationError(
        "--failure-rate", "business failures are part of the order workload (--workload order)");
  }
  if (f.workload == WorkloadKind::kOrder) {
    // The order workload always spans orders, payments and inventory.
    f.participants = {3};
  }
}

}  // namespace twopc::bench
