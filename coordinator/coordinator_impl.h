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

  // Asynchronous work that keeps running after its caller returned (early-ack
  // completion, rollback from a destructor) holds an OpGuard, so the
  // destructor can wait for it before stopping the I/O threads.
  struct OpGuard {
    explicit OpGuard(CoordinatorImpl* c);
    ~OpGuard();
    CoordinatorImpl* core;
  };

  Deadline DeadlineFor(const TransactionOptions& options) const;

  // Transactions of this incarnation that exist (from Begin until their state
  // is destroyed): recovery leaves their undecided branches alone.
  void RegisterTxn(const std::string& gtrid);
  void UnregisterTxn(const std::string& gtrid);
  bool IsInFlight(const std::string& gtrid) const;
  size_t InFlightCount() const;
  size_t CompletingCount() const;

  RecoveryReport RunRecovery(const RecoveryPassOptions& options);

  // Registers this node id as live on every reachable participant
  // (Participant::Register). Conflict when another process holds it.
  Status Register();

  const CoordinatorOptions options;
  std::unique_ptr<DecisionLog> log;
  boost::asio::io_context io;

  std::atomic<uint64_t> next_txn{1};
  std::atomic<uint64_t> committed{0}, committed_one_phase{0}, committed_read_only{0};
  std::atomic<uint64_t> aborted{0}, in_doubt{0}, heuristic_mixed{0};

 private:
  void BackgroundRecovery();

  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::map<std::string, std::unique_ptr<Participant>, std::less<>> participants_;
  std::thread recovery_thread_;

  mutable std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::set<std::string> completing_;  // GUARDED_BY(mutex_)
  std::set<std::string> in_flight_;   // GUARDED_BY(mutex_)
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
