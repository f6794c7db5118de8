// Coordinator and Transaction: atomic commits across PostgreSQL databases.
//
//   auto coord = twopc::Coordinator::OpenFromConfigFile("twopc.toml");
//   twopc::Transaction tx = (*coord)->Begin();
//   tx.Queue("orders",   "INSERT INTO orders(id, item) VALUES ($1, $2)", {42, "book"});
//   tx.Queue("payments", "UPDATE funds SET balance = balance - $1 WHERE id = $2", {10, 7});
//   twopc::Status s = tx.Commit();   // OK, Aborted (with cause) or InDoubt
//
// Thread-safety: a Coordinator is safe to use from many threads. A
// Transaction belongs to one thread at a time.
//
// Lifetime: destroy every Transaction before its Coordinator. One that
// outlives it anyway is safe, never a use of freed memory: ~Coordinator
// rolls back every transaction still active, and each later call of such a
// Transaction returns Aborted ("outlived its Coordinator"); destroying it
// does nothing. A transaction that had already finished keeps its outcome
// and answers as any finished one. ~Coordinator may run while another
// thread is inside a call of one of its Transactions: it waits for that call
// to return (at most until the transaction's deadline) and the calls after
// it are refused as above. Never destroy a Coordinator from one of its own
// asynchronous callbacks.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twopc/decision_log.h"
#include "twopc/options.h"
#include "twopc/param.h"
#include "twopc/recovery.h"
#include "twopc/status.h"

namespace twopc {

// The rows a statement returned, in PostgreSQL's text format.
class Rows {
 public:
  using Row = std::vector<std::optional<std::string>>;

  Rows() = default;
  Rows(std::vector<std::string> columns, std::vector<Row> rows, uint64_t affected)
      : columns_(std::move(columns)), rows_(std::move(rows)), affected_(affected) {}

  size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  const std::vector<std::string>& columns() const { return columns_; }
  const Row& operator[](size_t i) const { return rows_[i]; }
  auto begin() const { return rows_.begin(); }
  auto end() const { return rows_.end(); }
  // Rows an INSERT/UPDATE/DELETE touched.
  uint64_t affected() const { return affected_; }

  // Convenience: value at (row, col) as int64; REQUIRES it is an integer.
  int64_t Int(size_t row, size_t col) const;

 private:
  std::vector<std::string> columns_;
  std::vector<Row> rows_;
  uint64_t affected_ = 0;
};

class Coordinator;
class TransactionImpl;

// One global transaction. Destroyed while still active => rolled back.
// Outliving its Coordinator is safe but useless (see Lifetime above).
class Transaction {
 public:
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) noexcept;
  ~Transaction();

  // Runs `sql` on `participant` now and returns its rows. The first statement
  // on a participant opens that branch (BEGIN at the transaction's isolation
  // level). A failed statement leaves the transaction only able to roll back.
  //
  // One statement per call. Transaction control is twopc's job: COMMIT, END,
  // ROLLBACK, ABORT, BEGIN, START TRANSACTION, PREPARE TRANSACTION, COMMIT /
  // ROLLBACK PREPARED and SET SESSION CHARACTERISTICS are refused before
  // anything is sent (InvalidArgument naming the participant), and the
  // transaction can then only roll back. SAVEPOINT, RELEASE and ROLLBACK TO
  // SAVEPOINT keep the branch inside its transaction and are allowed. A
  // statement that ends the branch's transaction anyway fails the same way,
  // with what became of the branch's earlier work in the message.
  Result<Rows> Execute(std::string_view participant, std::string sql,
                       std::vector<Param> params = {});

  // Adds a statement whose result the caller does not need. Queued statements
  // are sent at Commit() in the same pipeline as PREPARE TRANSACTION: one
  // round trip per participant for work and prepare together. A branch with
  // queued statements counts as a write branch. Transaction control is
  // refused here too, at once (see Execute).
  Status Queue(std::string_view participant, std::string sql, std::vector<Param> params = {});

  // Runs two-phase commit (docs/protocol.md). Returns
  //   OK        -- committed on every participant;
  //   Aborted   -- committed nowhere; participant() / sqlstate() / message()
  //                name the branch and the cause;
  //   InDoubt   -- this process cannot know yet; the decision log and recovery
  //                will settle it. Never rerun the body on InDoubt.
  // After Commit() the transaction is finished, whatever the outcome.
  Status Commit();

  // Rolls back every branch. Idempotent.
  Status Rollback();

  // Asynchronous forms: `done` runs on one of the coordinator's I/O threads
  // and must not block. The Transaction must outlive the call. See
  // twopc/asio.h for completion-token (coroutine, future) adapters.
  void ExecuteAsync(std::string_view participant, std::string sql, std::vector<Param> params,
                    std::function<void(Result<Rows>)> done);
  void CommitAsync(std::function<void(Status)> done);
  void RollbackAsync(std::function<void(Status)> done);

  // The global transaction id ("tpc1.node-a.3.17"); the decision log's key.
  const std::string& gtrid() const;
  // False once committed, aborted or rolled back.
  bool active() const;

 private:
  friend class Coordinator;
  explicit Transaction(std::unique_ptr<TransactionImpl> impl);
  std::unique_ptr<TransactionImpl> impl_;
};

// What became of a transaction (Coordinator::OutcomeOf).
enum class TransactionOutcome { kCommitted, kAborted };
const char* TransactionOutcomeName(TransactionOutcome o);  // "committed" / "aborted"

// Counters since Open.
struct CoordinatorStats {
  uint64_t committed = 0;
  uint64_t committed_one_phase = 0;   // a single write branch, no log record
  uint64_t committed_read_only = 0;   // no write branch at all
  uint64_t aborted = 0;
  uint64_t in_doubt = 0;
  // Committed transactions with a branch found rolled back behind the
  // coordinator's back (Status::HeuristicMixed); also counted in committed.
  uint64_t heuristic_mixed = 0;
  uint64_t completions_pending = 0;   // COMMIT records whose phase 2 is running
  // Transactions begun and not yet released (a Transaction handle, or a
  // commit or rollback still running). Back to 0 once every handle is gone
  // and every commit finished: a count that only grows is a leak.
  uint64_t transactions_open = 0;
  LogStats log;
};

class CoordinatorImpl;
namespace internal {
struct CoordinatorAccess;
}

class Coordinator {
 public:
  // Opens the decision log named in options.log, checks every participant
  // (a reachable one with max_prepared_transactions = 0 is an error saying
  // how to fix it; an unreachable one is a warning: its transactions will
  // fail until it is back), runs a recovery pass (decisions left without END
  // by an earlier run are completed, its undecided branches fenced and
  // rolled back) before any new work, and starts the background pass.
  static Result<std::unique_ptr<Coordinator>> Open(CoordinatorOptions options);

  // Same, with a caller-supplied log (tests wrap the real one to inject
  // failures). REQUIRES: log != nullptr.
  static Result<std::unique_ptr<Coordinator>> Open(CoordinatorOptions options,
                                                   std::unique_ptr<DecisionLog> log);

  static Result<std::unique_ptr<Coordinator>> OpenFromConfigFile(const std::string& path);

  // Waits for calls of its Transactions in progress on other threads, rolls
  // back the transactions still active (they fail cleanly from then on; see
  // Lifetime above), waits (up to complete_retry_for) for early-acknowledged
  // transactions to finish phase 2, then closes every connection and the log.
  ~Coordinator();

  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  Transaction Begin(TransactionOptions options = {});

  const CoordinatorOptions& options() const;
  uint64_t incarnation() const;
  DecisionLog& log();
  CoordinatorStats stats() const;

  // Blocks until every early-acknowledged transaction has finished phase 2
  // (or been handed to recovery).
  void WaitForCompletions();

  // What became of transaction `gtrid`, for an application whose Commit
  // answered InDoubt. Settles it when nothing did yet: with the decisions in
  // PostgreSQL, a fence in its decider's table wins exactly when the
  // decider's COMMIT did not; with the SQLite log, an ABORT record does the
  // same. So the answer is known, never guessed:
  //   kCommitted / kAborted -- final;
  //   Unavailable -- the deciding participant or the log cannot be reached,
  //                  or the transaction is still deciding: ask again later;
  //   NotFound    -- no decision recorded, and this process did not see the
  //                  transaction end in doubt (an unknown gtrid, or one that
  //                  ended normally and whose record was forgotten).
  // Blocking; do not call from an async callback.
  Result<TransactionOutcome> OutcomeOf(const std::string& gtrid);

  // The registry twopc's metrics are counted in (options.metrics.registry
  // when the application gave one; docs/operations.md, "Metrics"). An
  // application that serves metrics itself adds it to its own exposer:
  //   exposer.RegisterCollectable(coordinator->metrics());
  std::shared_ptr<prometheus::Registry> metrics() const;
  // "host:port" where GET /metrics is served ([metrics] listen, with the
  // port picked when it was 0); empty when there is no endpoint.
  std::string metrics_endpoint() const;

  // Runs one recovery pass now (the same pass that runs at Open and every
  // options().recovery.interval). Blocking; do not call from an async
  // callback.
  RecoveryReport Recover(const RecoveryPassOptions& options = {});

 private:
  friend struct internal::CoordinatorAccess;
  explicit Coordinator(std::unique_ptr<CoordinatorImpl> impl);
  std::unique_ptr<CoordinatorImpl> impl_;
};

}  // namespace twopc
