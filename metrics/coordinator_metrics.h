// The coordinator's Prometheus metrics (docs/operations.md, "Metrics"): the
// families, and one method per thing that happened. Internal.
//
// Every counter and gauge of a known participant exists from Open on, at 0,
// so that rate() and absent() work before the first event. Recording is a
// few atomic adds (children are looked up once, here); the mutex below is
// taken only by recovery passes and scrapes.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "common/thread_annotations.h"
#include "participants/participant.h"
#include "twopc/recovery.h"
#include "twopc/tracing.h"

namespace twopc::internal {

// How a transaction ended, and which way it went (the labels of
// twopc_transactions_total).
enum class TxnOutcome { kCommitted, kAborted, kInDoubt };
enum class CommitPath { kTwoPhase, kOnePhase, kReadOnly };

class CoordinatorMetrics {
 public:
  // Adds twopc's families to `registry` (merging with families of the same
  // name already there: two coordinators of one process sharing the
  // application's registry count together).
  CoordinatorMetrics(std::shared_ptr<prometheus::Registry> registry,
                     const std::vector<std::string>& participants);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // Commit() answered: `elapsed` from the call to the answer.
  void TransactionEnded(TxnOutcome outcome, CommitPath path, std::chrono::nanoseconds elapsed);
  // A step of a whole transaction (prepare, decide, complete) took `elapsed`.
  void PhaseTook(TracePhase phase, std::chrono::nanoseconds elapsed);
  void Phase2Retry(std::string_view participant);
  // A participant answered a statement, PREPARE or COMMIT with an error.
  // Without an SQLSTATE (connection lost, deadline) the class is
  // "connection" or "timeout".
  void ParticipantError(std::string_view participant, const Status& error);
  void HeuristicOutcome();
  // A forced batch of the SQLite decision log: `records` decisions, one fsync.
  void DecisionLogFlush(size_t records, std::chrono::nanoseconds elapsed);
  // A recovery pass ended (at Open, in the background, or Coordinator::Recover).
  void RecoveryPassDone(const RecoveryReport& report) TWOPC_EXCLUDES(mutex_);
  // The pool gauges, read at every scrape and once a second.
  void PoolsNow(const std::vector<std::pair<std::string, PoolStats>>& pools);

 private:
  struct PerParticipant {
    prometheus::Counter* phase2_retries = nullptr;
    prometheus::Gauge* prepared = nullptr;
    prometheus::Gauge* oldest_age = nullptr;
    prometheus::Gauge* up = nullptr;
    prometheus::Gauge* pool_idle = nullptr;
    prometheus::Gauge* pool_busy = nullptr;
    prometheus::Gauge* pool_waiting = nullptr;
  };
  PerParticipant* Find(std::string_view participant);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& transactions_;
  prometheus::Histogram& commit_duration_;
  prometheus::Family<prometheus::Histogram>& phase_duration_;
  prometheus::Histogram& flush_seconds_;
  prometheus::Histogram& batch_records_;
  prometheus::Family<prometheus::Counter>& phase2_retries_;
  prometheus::Family<prometheus::Counter>& participant_errors_;
  prometheus::Family<prometheus::Gauge>& prepared_;
  prometheus::Family<prometheus::Gauge>& oldest_age_;
  prometheus::Family<prometheus::Gauge>& up_;
  prometheus::Family<prometheus::Counter>& recovery_actions_;
  prometheus::Family<prometheus::Counter>& recovery_passes_;
  prometheus::Gauge& recovery_unresolved_;
  prometheus::Gauge& recovery_last_pass_;
  prometheus::Counter& heuristics_;
  prometheus::Family<prometheus::Gauge>& pool_connections_;
  prometheus::Family<prometheus::Gauge>& pool_waiting_;
  // [outcome][path], looked up once.
  prometheus::Counter* transactions_by_[3][3] = {};
  prometheus::Histogram* phase_by_[5] = {};
  std::map<std::string, PerParticipant, std::less<>> participants_;

  Mutex mutex_;
  // When a pass first saw each prepared branch whose server keeps no
  // prepare time (MariaDB): its age is counted from there.
  std::map<std::pair<std::string, std::string>, std::chrono::system_clock::time_point> first_seen_
      TWOPC_GUARDED_BY(mutex_);
};

// "08" from SQLSTATE "08006"; "connection" / "timeout" / "other" without one.
std::string SqlStateClass(const Status& error);

}  // namespace twopc::internal
