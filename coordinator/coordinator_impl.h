// CoordinatorImpl: what a Coordinator owns, shared by its transactions and the
// commit protocol. Internal.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/thread_annotations.h"
#include "coordinator/txn_registry.h"
#include "metrics/coordinator_metrics.h"
#include "metrics/metrics_endpoint.h"
#include "participants/participant.h"
#include "twopc/coordinator.h"

namespace twopc::internal {

struct TxnState;

// Builds the participant for one ParticipantOptions; tests substitute one
// that wraps the PostgreSQL participant to inject failures.
// `connect_timeout` caps how long opening one connection may take.
using ParticipantFactory = std::function<std::unique_ptr<Participant>(
    boost::asio::io_context&, const ParticipantOptions&, std::chrono::milliseconds connect_timeout)>;

std::unique_ptr<Participant> MakePgParticipant(boost::asio::io_context& io,
                                               const ParticipantOptions& options,
                                               std::chrono::milliseconds connect_timeout);

// The participant of options.kind: PostgreSQL or MariaDB.
std::unique_ptr<Participant> MakeParticipant(boost::asio::io_context& io,
                                             const ParticipantOptions& options,
                                             std::chrono::milliseconds connect_timeout);

}  // namespace twopc::internal

namespace twopc {

using internal::Clock;
using internal::Deadline;
using internal::Participant;
using internal::ParticipantFactory;

class CoordinatorImpl;

namespace internal {

// What a transaction holds instead of a bare CoordinatorImpl*, so that a
// Transaction outliving its Coordinator finds out instead of reading freed
// memory. Every Transaction call pins the core for as long as it uses it
// (until its callback has been called); ~CoordinatorImpl closes the link,
// which refuses new pins and waits for the ones held.
class CoreLink {
 public:
  explicit CoreLink(CoordinatorImpl* core) : core_(core) {}

  // The core, alive until the matching Unpin(); nullptr once closed.
  CoordinatorImpl* Pin() TWOPC_EXCLUDES(mutex_);
  void Unpin() TWOPC_EXCLUDES(mutex_);
  // Refuses new pins, then waits until every held one is released.
  void Close() TWOPC_EXCLUDES(mutex_);

 private:
  Mutex mutex_;
  CondVar unpinned_;
  CoordinatorImpl* core_ TWOPC_GUARDED_BY(mutex_);  // nullptr once closed
  int pins_ TWOPC_GUARDED_BY(mutex_) = 0;
};

// A pin held for a scope, or handed to a callback (as a shared_ptr) and
// released when the callback runs or is dropped.
class CorePin {
 public:
  explicit CorePin(std::shared_ptr<CoreLink> link) : link_(std::move(link)), core_(link_->Pin()) {}
  ~CorePin() { Release(); }
  CorePin(const CorePin&) = delete;
  CorePin& operator=(const CorePin&) = delete;

  explicit operator bool() const { return core_ != nullptr; }
  void Release() {
    if (core_ != nullptr) {
      core_ = nullptr;
      link_->Unpin();
    }
  }

 private:
  std::shared_ptr<CoreLink> link_;
  CoordinatorImpl* core_;
};

}  // namespace internal

class CoordinatorImpl {
  // Declared before `io`, so destroyed after it: a handler that the
  // io_context destroys unrun at shutdown (a phase 2 still retrying when
  // WaitForCompletions gave up) releases its OpGuard, which takes them.
  mutable internal::Mutex mutex_;
  internal::CondVar idle_cv_;  // ops_in_flight_ dropped to 0
  int ops_in_flight_ TWOPC_GUARDED_BY(mutex_) = 0;

 public:
  CoordinatorImpl(CoordinatorOptions options, std::unique_ptr<DecisionLog> log);
  ~CoordinatorImpl();

  Status Start(const ParticipantFactory& factory);

  // nullptr if there is no participant of that name.
  Participant* FindParticipant(std::string_view name) const;

  // The decider a transaction with a MariaDB branch names from that branch's
  // XA START on (postgres store): a PostgreSQL participant, spread by the
  // gtrid's hash. ValidateOptions made sure there is one.
  std::string ChooseNamedDecider(const std::string& gtrid) const;

  // Waits (at most `limit`) until no OpGuard is held: every phase 2 is over.
  void WaitForCompletions(std::chrono::milliseconds limit) TWOPC_EXCLUDES(mutex_);

  // Asynchronous work that keeps running after its caller returned (phase 2
  // after an early ack or a passed deadline) holds an OpGuard, so the
  // destructor can wait for it before stopping the I/O threads. Phase 2
  // takes its guard before the transaction enters kCompleting and drops it
  // after it left: no guard held means nothing is completing.
  struct OpGuard {
    explicit OpGuard(CoordinatorImpl* c);
    ~OpGuard();
    CoordinatorImpl* core;
  };

  Deadline DeadlineFor(const TransactionOptions& options) const;

  RecoveryReport RunRecovery(const RecoveryPassOptions& options) TWOPC_EXCLUDES(mutex_);

  // Registers this node id as live on every reachable participant
  // (Participant::Register). Conflict when another process holds it. One
  // call at a time: a participant's registration connection serves one
  // request at a time, and the background pass, Coordinator::Recover and
  // the application's threads may all re-register at once.
  Status Register() TWOPC_EXCLUDES(mutex_, register_mutex_);
  // Register() before a later pass, logging a conflict.
  void ReRegister() TWOPC_EXCLUDES(mutex_);

  // A transaction that answered InDoubt, kept so that OutcomeOf can settle
  // it (docs/protocol.md, "In doubt at the decider").
  struct InDoubtTxn {
    DecisionRecord fence;     // the ABORT that settles it if nothing committed
    std::string participant;  // where the lost COMMIT went; empty: the decision log
    uint64_t txid = 0;        // that branch's transaction id (0: unknown)
    bool one_phase = false;   // a one-phase COMMIT (no decision anywhere but the branch)
  };
  void RememberInDoubt(const std::string& gtrid, InDoubtTxn txn) TWOPC_EXCLUDES(mutex_);
  Result<TransactionOutcome> OutcomeOf(const std::string& gtrid) TWOPC_EXCLUDES(mutex_);

  const CoordinatorOptions options;
  std::unique_ptr<DecisionLog> log;
  // Counted always; served when options.metrics.listen is set (docs/operations.md, "Metrics").
  internal::CoordinatorMetrics metrics;
  Tracer* tracer() const { return options.tracer.get(); }
  // "host:port" of the /metrics endpoint; empty without one.
  std::string metrics_endpoint() const { return endpoint_ != nullptr ? endpoint_->address() : ""; }
  // The pool gauges, now.
  void RefreshPoolGauges();
  boost::asio::io_context io;
  // Blocking work the protocol must not do on an I/O thread (the fence that
  // settles a decider's lost COMMIT). Joined before the I/O threads stop.
  boost::asio::thread_pool slow_path{1};
  // Who wrote a COMMIT row (store = "postgres"): "node.incarnation@host:pid".
  std::string coordinator_label;
  // Shared with every transaction; closed first thing in the destructor.
  const std::shared_ptr<internal::CoreLink> link = std::make_shared<internal::CoreLink>(this);

  std::atomic<uint64_t> next_txn{1};
  std::atomic<uint64_t> committed{0}, committed_one_phase{0}, committed_read_only{0};
  std::atomic<uint64_t> aborted{0}, in_doubt{0}, heuristic_mixed{0};

  // The transactions of this incarnation (from Begin until their state is
  // released) and their phases: recovery asks it whether a gtrid may still
  // be deciding or is being completed here, and the destructor rolls back
  // the ones still active.
  internal::TxnRegistry txns;

 private:
  void BackgroundRecovery() TWOPC_EXCLUDES(mutex_);
  // Every second on an I/O thread: an application that serves
  // Coordinator::metrics() itself scrapes without asking twopc first.
  void SchedulePoolRefresh();
  // Rolls back (and marks orphaned) every transaction still active. Runs
  // once the link is closed, so no Transaction call can touch them any more.
  void RollBackOrphans();

  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::map<std::string, std::unique_ptr<Participant>, std::less<>> participants_;
  std::thread recovery_thread_;
  std::unique_ptr<internal::MetricsEndpoint> endpoint_;
  std::unique_ptr<boost::asio::steady_timer> pool_timer_;

  internal::Mutex register_mutex_;  // held through Register()
  internal::CondVar stop_cv_;  // stopping_ set
  bool stopping_ TWOPC_GUARDED_BY(mutex_) = false;
  std::string not_registered_ TWOPC_GUARDED_BY(mutex_);  // why fencing is off, if it is
  std::map<std::string, InDoubtTxn> in_doubt_txns_ TWOPC_GUARDED_BY(mutex_);
};

}  // namespace twopc

namespace twopc::internal {

struct CoordinatorAccess {
  static std::unique_ptr<Coordinator> Make(std::unique_ptr<CoordinatorImpl> impl);
  // Tests look inside.
  static CoordinatorImpl& Impl(Coordinator& coordinator) { return *coordinator.impl_; }
};

// Opens a coordinator whose participants come from `factory` (tests).
Result<std::unique_ptr<Coordinator>> OpenCoordinator(CoordinatorOptions options,
                                                     std::unique_ptr<DecisionLog> log,
                                                     const ParticipantFactory& factory);

}  // namespace twopc::internal
