// The knobs of one twopc-bench invocation, filled in by main.cc from the
// command line and passed read-only to every part of the benchmark.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twopc/options.h"

namespace twopc::bench {

// How an operation reaches the databases (docs/benchmarks.md, "Modes").
enum class Mode {
  kLocal,          // every table in the first participant, one local transaction
  kNone,           // one plain commit per database, no atomicity
  kTwoPc,          // twopc::Coordinator, COMMIT PREPARED before the answer
  kTwoPcEarlyAck,  // the same, answered once the decision is durable
  kSaga,           // twopc::SagaOrchestrator: steps + compensations
  kSagaOutbox,     // twopc::OutboxBus: events through per-database outboxes
  kNull,           // null participants: the coordinator and its forced log alone
};

const char* ModeName(Mode mode);
std::optional<Mode> ParseMode(std::string_view name);
// Every mode but kNull reads and writes PostgreSQL.
inline bool UsesDatabases(Mode mode) { return mode != Mode::kNull; }

// The modes whose transactions write decisions (a COMMIT record or row) and
// so depend on the decision store. kNull always keeps its own SQLite log.
inline bool UsesDecisionStore(Mode mode) {
  return mode == Mode::kTwoPc || mode == Mode::kTwoPcEarlyAck;
}

// [log] store: "sqlite" | "postgres".
const char* LogStoreName(LogStore store);
std::optional<LogStore> ParseLogStore(std::string_view name);

enum class WorkloadKind { kTransfer, kOrder };
const char* WorkloadName(WorkloadKind kind);

// What the bench process is: the normal driver, or one of the two child
// processes of crash mode (crash_mode.h), started by re-executing itself.
enum class Role { kDriver, kCrashWorker, kCrashRecover };

struct BenchFlags {
  std::string config;  // twopc TOML config; empty with --sandbox
  int sandbox = 0;     // servers to start with scripts/pg-sandbox (0: use --config)
  bool sandbox_fsync = true;
  // --mariadb N: with --sandbox, also N MariaDB databases m1..mN (one server
  // each, scripts/mariadb-sandbox), appended to the generated config as
  // kind = "mariadb" participants.
  int mariadb = 0;
  // --over p1,m1 (repeatable): the participant sets to sweep, by name, in
  // shard order, instead of the first --participants of the config.
  std::vector<std::vector<std::string>> over;
  // --log-store: with --sandbox written into the generated config, with
  // --config it overrides the config's [log] store. Unset: the config's.
  std::optional<LogStore> log_store;

  std::vector<Mode> modes;
  WorkloadKind workload = WorkloadKind::kTransfer;
  std::vector<int> clients{8};
  std::vector<int> participants{2};
  std::vector<int64_t> hot_sets{0};
  std::vector<double> failure_rates{0.0};
  std::chrono::milliseconds duration{10000};
  std::chrono::milliseconds warmup{2000};
  int64_t accounts = 10000;
  int auditors = 1;
  std::chrono::milliseconds audit_pause{20};
  int repeat = 1;
  std::chrono::milliseconds crash_after{0};  // 0: no crash mode
  // Instead of the workloads: this many undecided prepared branches of a
  // dead coordinator over the first two participants, then one timed
  // recovery pass (recovery_backlog.h). 0: off.
  int recovery_backlog = 0;
  std::string out;
  bool progress = false;
  bool check = false;
  uint64_t seed = 1;
  // Set on every branch: two transfers that lock the same two accounts in
  // opposite order in *different* databases wait on each other forever (no
  // single server sees the cycle); the lock timeout breaks it and the body is
  // rerun (twopc::RunTransaction retries 55P03).
  std::chrono::milliseconds lock_timeout{1000};
  int io_threads = 1;
  int outbox_relays = 1;  // relay threads per participant (saga-outbox)
  // --metrics host:port: GET /metrics served there for the whole run, from
  // one registry every coordinator of the run counts into. Empty: off.
  std::string metrics;

  // Instead of running: list the modes built in / verify a results.json.
  bool list_modes = false;
  std::string check_results;

  // Crash-mode children only (hidden flags).
  Role role = Role::kDriver;
  uint64_t op_id_base = 0;
  std::string work_dir;  // where saga logs live, shared by parent and children
};

}  // namespace twopc::bench
