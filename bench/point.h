// One measured point of a sweep: its coordinates (PointSpec), what it
// measured (PointResult), and the fixture every point sets up around its
// runner (layout, workload, connections for setup and checks).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/flags.h"
#include "bench/mode.h"
#include "bench/db_client.h"
#include "bench/stats.h"
#include "bench/workload.h"
#include "twopc/options.h"

namespace twopc::bench {

struct PointSpec {
  Mode mode = Mode::kTwoPc;
  WorkloadKind workload = WorkloadKind::kTransfer;
  int clients = 1;
  int participants = 2;
  int64_t hot_set = 0;
  double failure_rate = 0.0;
  int run = 0;  // 0-based repetition (--repeat)
  // Where the mode's decisions went: the config's store for 2pc and
  // 2pc-early-ack, always SQLite for null, none for the modes that write no
  // decision (local, none, sagas). See DecisionStoreOf.
  // The initializer lets specs be written {mode, ..., run} without
  // -Wmissing-field-initializers.
  std::optional<LogStore> log_store = {};
  // --over: the participants by name, in shard order (e.g. {"p1", "m1"});
  // empty: the first `participants` of the config.
  std::vector<std::string> over = {};
};

// The decision store a point of `mode` uses with these options.
std::optional<LogStore> DecisionStoreOf(Mode mode, const CoordinatorOptions& options);
// The mode as the reports show it: "2pc", or "2pc-pg" / "2pc-early-ack-pg"
// with the decisions inside PostgreSQL, so that rows of both stores can stand
// side by side.
std::string ModeLabel(const PointSpec& spec);

// Crash mode (--crash-after): what a SIGKILL of the coordinator process cost.
struct CrashResult {
  double after_s = 0;               // the kill came this long after the workload started
  uint64_t acknowledged = 0;        // operations acknowledged before the kill
  uint64_t in_flight = 0;           // started, not answered when the process died
  uint64_t lost = 0;                // acknowledged but not applied everywhere: must be 0
  uint64_t in_flight_applied = 0;   // in flight, then completed (by recovery)
  uint64_t in_flight_undone = 0;    // in flight, then aborted / compensated
  uint64_t partial = 0;             // applied on some shards only after recovery
  double restart_open_ms = 0;       // restart until Open (its recovery pass) returned
  double recovery_ms = 0;           // kill until nothing in doubt / unfinished remains
  int64_t prepared_at_restart = 0;  // prepared branches found right after the kill
};

struct PointResult {
  PointSpec spec;
  std::string error;  // set when the point could not run

  double duration_s = 0;       // the measured window
  double flush_probe_us = -1;  // fdatasync latency just before the point (disk_probe.h)
  uint64_t attempted = 0, committed = 0, aborted = 0;
  uint64_t aborted_business = 0;  // of aborted: refused for business reasons
  uint64_t in_doubt = 0;          // answered InDoubt, settled after quiescence
  uint64_t retries = 0, compensations = 0;
  double committed_per_s = 0, aborted_per_s = 0;
  double committed_per_s_median = 0;  // median of the per-second samples
  std::vector<double> committed_samples;
  LatencySummary latency;
  double cpu_us_per_tx = 0;  // bench process CPU (client threads included) / committed
  RunnerCounters counters;   // deltas over the window

  uint64_t audits = 0, anomalies = 0, audit_errors = 0;
  std::string first_anomaly;
  int64_t final_violations = 0;  // invariant violated after quiescence (0/1) + prepared left
  int64_t prepared_left = 0;
  std::string final_detail;
  double quiesce_ms = 0;
  std::string quiesce_error;
  bool accounting_ok = true;  // committed + aborted == attempted

  std::optional<CrashResult> crash;
  std::vector<PointResult> runs;  // with --repeat > 1: every run; this one holds the medians
};

struct DriverEnv {
  const BenchFlags* flags = nullptr;
  CoordinatorOptions options;  // from the config: participants, decision log
  std::string work_dir;
  const std::atomic<bool>* interrupted = nullptr;  // SIGINT/SIGTERM
  std::string self_exe;                            // for crash mode's children
  std::string config_path;
};

// Layout, workload and one connection per participant of the layout.
struct PointFixture {
  Layout layout;
  std::unique_ptr<Workload> workload;
  std::vector<std::unique_ptr<DbClient>> clients;
  std::string node_id;  // the coordinator's, to recognize its gids

  std::vector<DbClient*> client_ptrs() const;
};

// Builds the fixture of `spec`; with `reset` (the driver) drops and recreates
// the tables. A null-mode fixture has no connections.
Result<PointFixture> PreparePoint(const PointSpec& spec, const DriverEnv& env, bool journal,
                                  bool reset);

// The options a runner of `spec` opens its coordinator with.
CoordinatorOptions PointOptions(const PointSpec& spec, const DriverEnv& env);
RunnerContext MakeRunnerContext(const PointSpec& spec, const DriverEnv& env,
                                const PointFixture& fixture);

// This coordinator's prepared transactions on the fixture's databases.
int64_t CountPrepared(const PointFixture& fixture);

// The invariant and the prepared transactions left, after quiescence.
void CheckFinalState(const PointFixture& fixture, PointResult* r);

// Fills committed + aborted == attempted, prints an error when it fails.
void CheckAccounting(PointResult* r);

std::string PointLabel(const PointSpec& spec);
// The K column of the reports: "p1+m1" with --over, else the number.
std::string ParticipantsLabel(const PointSpec& spec);

}  // namespace twopc::bench
