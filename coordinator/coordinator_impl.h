// CoordinatorImpl: what a Coordinator owns, shared by its transactions and the
// commit protocol. Internal.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

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
  CoordinatorImpl* Pin();
  void Unpin();
  // Refuses new pins, then waits until every held one is released.
  void Close();

 private:
  std::mutex mutex_;
  std::condition_variable unpinned_;
  CoordinatorImpl* core_;  // GUARDED_BY(mutex_); nullptr once closed
  int pins_ = 0;           // GUARDED_BY(mutex_)
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
 public:
  CoordinatorImpl(CoordinatorOptions options, std::unique_ptr<DecisionLog> log);
  ~CoordinatorImpl();

  Status Start(const ParticipantFactory& factory);

  // nullptr if there is no participant of that name.
  Participant* FindParticipant(std::string_view name) const;

  // Phase-2 bookkeeping: a gtrid is "completing" while this process drives
  // its COMMIT PREPAREDs, so the background pass leaves it alone.
  void BeginCompleting(const std::string& gtrid);
  void EndCompleting(const std::string& gtrid);
  bool IsCompleting(const std::string& gtrid) const;
  void WaitForCompletions(std::chrono::milliseconds limit);

  // Asynchronous work that keeps running after its caller returned (phase 2
  // after an early ack or a passed deadline) holds an OpGuard, so the
  // destructor can wait for it before stopping the I/O threads.
  struct OpGuard {
    explicit OpGuard(CoordinatorImpl* c);
    ~OpGuard();
    CoordinatorImpl* core;
  };

  Deadline DeadlineFor(const TransactionOptions& options) const;

  // Transactions of this incarnation that exist (from Begin until their state
  // is destroyed): recovery leaves their undecided branches alone, and the
  // destructor rolls back the ones still active.
  void RegisterTxn(const std::shared_ptr<internal::TxnState>& txn);
  void UnregisterTxn(const std::string& gtrid);
  bool IsInFlight(const std::string& gtrid) const;
  size_t InFlightCount() const;
  size_t CompletingCount() const;

  RecoveryReport RunRecovery(const RecoveryPassOptions& options);

  // Registers this node id as live on every reachable participant
  // (Participant::Register). Conflict when another process holds it.
  Status Register();
  // Register() before a later pass, logging a conflict.
  void ReRegister();

  const CoordinatorOptions options;
  std::unique_ptr<DecisionLog> log;
  boost::asio::io_context io;
  // Shared with every transaction; closed first thing in the destructor.
  const std::shared_ptr<internal::CoreLink> link = std::make_shared<internal::CoreLink>(this);

  std::atomic<uint64_t> next_txn{1};
  std::atomic<uint64_t> committed{0}, committed_one_phase{0}, committed_read_only{0};
  std::atomic<uint64_t> aborted{0}, in_doubt{0}, heuristic_mixed{0};

 private:
  void BackgroundRecovery();
  // Rolls back (and marks orphaned) every transaction still active. Runs
  // once the link is closed, so no Transaction call can touch them any more.
  void RollBackOrphans();

  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::map<std::string, std::unique_ptr<Participant>, std::less<>> participants_;
  std::thread recovery_thread_;

  mutable std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::set<std::string> completing_;  // GUARDED_BY(mutex_)
  std::map<std::string, std::weak_ptr<internal::TxnState>> in_flight_;  // GUARDED_BY(mutex_)
  std::condition_variable stop_cv_;
  int ops_in_flight_ = 0;             // GUARDED_BY(mutex_)
  bool stopping_ = false;             // GUARDED_BY(mutex_)
  std::string not_registered_;        // GUARDED_BY(mutex_): why fencing is off, if it is
};

}  // namespace twopc

namespace twopc::internal {

struct CoordinatorAccess {
  static std::unique_ptr<Coordinator> Make(std::unique_ptr<CoordinatorImpl> impl);
};

// Opens a coordinator whose participants come from `factory` (tests).
Result<std::unique_ptr<Coordinator>> OpenCoordinator(CoordinatorOptions options,
                                                     std::unique_ptr<DecisionLog> log,
                                                     const ParticipantFactory& factory);

}  // namespace twopc::internal
