// Orchestrated sagas: the eventually consistent alternative that twopc-bench
// measures two-phase commit against.
//
// A saga is a list of steps; each step is a *local* transaction on one
// participant plus the compensation that undoes it. The orchestrator runs the
// steps forward; when one fails for good (a business refusal, or transient
// failures past the retry budget) it runs the compensations of the completed
// steps backward. Between steps, other transactions can see the intermediate
// state -- the anomaly window that 2PC does not have and the benchmark counts.
//
//   twopc::Saga saga;
//   saga.steps.push_back({"debit", "payments",
//       {{"UPDATE wallets SET balance = balance - $1 WHERE customer = $2", {20, 1}}},
//       {{"UPDATE wallets SET balance = balance + $1 WHERE customer = $2", {20, 1}}}});
//   ...
//   twopc::SagaResult r = orchestrator->Run(std::move(saga));
//
// Durability: the saga log (SQLite: WAL, synchronous=FULL, mode 0600, one
// process per log file) records the saga before its first step and each
// step's outcome; after a crash, Open resumes every unfinished saga forward or
// compensates it backward as its log says.
//
// Exactly once: each step's local transaction also inserts its idempotency key
// (saga id, step, direction) into the participant's table
// twopc_saga_applied(saga_id text, step int, direction text, primary key(...)),
// created on first use. A step retried after a crash (or a lost answer) finds
// its key and is not applied twice. On a MariaDB participant the table must
// exist beforehand (MariaDB refuses DDL inside an XA branch; docs/sagas.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twopc/coordinator.h"
#include "twopc/status.h"

namespace twopc {

struct SagaStatement {
  std::string sql;
  std::vector<Param> params;
};

struct SagaStep {
  std::string name;                         // for logs and `twopc saga status`
  std::string participant;                  // where action and compensation run
  std::vector<SagaStatement> action;        // one local transaction
  std::vector<SagaStatement> compensation;  // one local transaction; may be empty
  // A statement of `action` that affects zero rows makes the step fail as a
  // business refusal ("no such account", "out of stock" written as
  // UPDATE ... WHERE stock >= $1). Off: zero rows is fine.
  bool require_rows = false;
};

struct Saga {
  std::string name;  // kind of saga, e.g. "transfer", "order"
  std::vector<SagaStep> steps;
};

struct SagaOptions {
  // The saga log. Relative paths are relative to the working directory.
  std::string log_path = "twopc-sagas.db";
  // Transient failures (serialization, deadlock, lock timeout, lost
  // connection, open circuit) of a step are retried up to this many attempts
  // in all, with exponential backoff and full jitter.
  int max_attempts = 5;
  std::chrono::milliseconds initial_backoff{5};
  std::chrono::milliseconds max_backoff{500};
  // A compensation is retried this many times before the saga is parked for
  // an operator (never dropped silently).
  int max_compensation_attempts = 10;
  // Circuit breaker per participant: opens after this many consecutive
  // failures, fails steps fast while open, lets one probe through after
  // `breaker_open_for` (half-open), and closes again when the probe succeeds.
  int breaker_failure_threshold = 5;
  std::chrono::milliseconds breaker_open_for{1000};
  // Per-step deadline.
  std::chrono::milliseconds step_deadline{10000};
};

enum class SagaState {
  kRunning,       // going forward
  kCompensating,  // going backward
  kCompleted,     // every step applied
  kCompensated,   // every completed step undone
  kParked,        // a compensation keeps failing: needs an operator
};
const char* SagaStateName(SagaState s);  // "running", "compensating", ...

struct SagaResult {
  std::string saga_id;
  SagaState state = SagaState::kRunning;
  Status cause;           // why it compensated or parked; OK when completed
  int retries = 0;        // transient failures retried
  int compensations = 0;  // compensation steps run
};

// What `twopc saga status` shows.
struct SagaRecord {
  std::string saga_id;
  std::string name;
  SagaState state = SagaState::kRunning;
  int steps = 0;
  int next_step = 0;  // forward: first step not yet applied; backward: next to compensate
  std::string last_error;
  int64_t started_at_ms = 0;
  int64_t updated_at_ms = 0;
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
const char* BreakerStateName(BreakerState s);

struct SagaStats {
  // Outcomes of runs in this process: a saga parked again after RetryParked
  // counts again, and one compensated by RetryParked counts as compensated.
  uint64_t completed = 0, compensated = 0, parked = 0;
  uint64_t retries = 0, compensations = 0, fast_failures = 0;  // fast: refused by an open breaker
};

class SagaOrchestratorImpl;

class SagaOrchestrator {
 public:
  // Runs steps through `coordinator` (each step is a one-participant
  // transaction: one phase, no decision record). Opens the saga log (Busy if
  // another orchestrator holds it) and resumes unfinished sagas before
  // returning. REQUIRES: `coordinator` outlives the orchestrator.
  static Result<std::unique_ptr<SagaOrchestrator>> Open(Coordinator& coordinator,
                                                        SagaOptions options);
  ~SagaOrchestrator();

  // Runs a saga to its end (completed, compensated or parked). Thread-safe:
  // many sagas may run at once from different threads.
  SagaResult Run(Saga saga);

  // Resumes sagas left unfinished by an earlier process (Open calls it).
  std::vector<SagaResult> ResumeUnfinished();

  // Hands a parked saga back once an operator fixed what made its
  // compensation fail: records it as compensating again (forced), with the
  // cause it was compensating for as its last error, and runs the remaining
  // compensations now, from the step that failed down to the first; any
  // already applied are skipped through their keys. A handed-back saga is
  // always undone, never resumed forward. Returns where the saga ended:
  // compensated, or parked again if the cause is still there.
  // NotFound for an unknown saga, InvalidArgument for one that is not parked,
  // Busy while a thread of this process drives it.
  Result<SagaResult> RetryParked(const std::string& saga_id);

  // Sagas not completed/compensated (running, compensating, parked), oldest first.
  Result<std::vector<SagaRecord>> Unfinished();
  BreakerState breaker(const std::string& participant) const;
  SagaStats stats() const;

 private:
  explicit SagaOrchestrator(std::unique_ptr<SagaOrchestratorImpl> impl);
  std::unique_ptr<SagaOrchestratorImpl> impl_;
};

// Read-only view of a saga log, for `twopc saga status` while an orchestrator runs.
Result<std::vector<SagaRecord>> ReadUnfinishedSagas(const std::string& log_path);

// For `twopc saga retry` while no orchestrator runs: records a parked saga as
// compensating again, so that the next SagaOrchestrator::Open (or
// ResumeUnfinished) finishes its undo. Returns the saga as now recorded.
// Busy while an orchestrator holds the log (call RetryParked in it instead);
// NotFound / InvalidArgument as RetryParked.
Result<SagaRecord> HandBackParkedSaga(const std::string& log_path, const std::string& saga_id);

}  // namespace twopc
