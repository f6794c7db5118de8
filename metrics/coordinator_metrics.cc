#include "metrics/coordinator_metrics.h"

#include <algorithm>

namespace twopc::internal {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// From half a millisecond (a local commit on loopback) to 30 s (a deadline).
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

const char* OutcomeLabel(TxnOutcome o) {
  switch (o) {
    case TxnOutcome::kCommitted: return "committed";
    case TxnOutcome::kAborted: return "aborted";
    case TxnOutcome::kInDoubt: return "in_doubt";
  }
  return "?";
}

const char* PathLabel(CommitPath p) {
  switch (p) {
    case CommitPath::kTwoPhase: return "two_phase";
    case CommitPath::kOnePhase: return "one_phase";
    case CommitPath::kReadOnly: return "read_only";
  }
  return "?";
}

// The action label of twopc_recovery_actions_total: the words of the issue
// that asked for it, in Prometheus' snake case.
const char* ActionLabel(RecoveryActionKind kind) {
  switch (kind) {
    case RecoveryActionKind::kCommitPrepared: return "commit";
    case RecoveryActionKind::kRollbackPrepared: return "rollback";
    case RecoveryActionKind::kFence: return "fence";
    case RecoveryActionKind::kEnd: return "end";
    case RecoveryActionKind::kSkipLive: return "skip_live";
    case RecoveryActionKind::kSkipForeign: return "skip_foreign";
    case RecoveryActionKind::kSkipUnstable: return "skip_unstable";
    case RecoveryActionKind::kRetryLater: return "retry_later";
    case RecoveryActionKind::kMixed: return "mixed";
    case RecoveryActionKind::kEndSessions: return "end_sessions";
  }
  return "other";
}

constexpr RecoveryActionKind kAllActions[] = {
    RecoveryActionKind::kCommitPrepared, RecoveryActionKind::kRollbackPrepared,
    RecoveryActionKind::kFence,          RecoveryActionKind::kEnd,
    RecoveryActionKind::kSkipLive,       RecoveryActionKind::kSkipForeign,
    RecoveryActionKind::kSkipUnstable,   RecoveryActionKind::kRetryLater,
    RecoveryActionKind::kMixed,          RecoveryActionKind::kEndSessions};

}  // namespace

std::string SqlStateClass(const Status& error) {
  if (error.sqlstate().size() >= 2) return error.sqlstate().substr(0, 2);
  if (error.IsTimedOut()) return "timeout";
  if (error.IsUnavailable()) return "connection";
  return "other";
}

CoordinatorMetrics::CoordinatorMetrics(std::shared_ptr<prometheus::Registry> registry,
                                       const std::vector<std::string>& participants)
    : registry_(std::move(registry)),
      transactions_(BuildCounter()
                        .Name("twopc_transactions_total")
                        .Help("Transactions that ended, by outcome and commit path")
                        .Register(*registry_)),
      commit_duration_(BuildHistogram()
                           .Name("twopc_commit_duration_seconds")
                           .Help("Commit() from the call to its answer")
                           .Register(*registry_)
                           .Add({}, LatencyBuckets())),
      phase_duration_(BuildHistogram()
                          .Name("twopc_phase_duration_seconds")
                          .Help("One protocol step of a transaction: prepare (work and PREPARE), decide "
                                "(the commit point), complete (phase 2)")
                          .Register(*registry_)),
      flush_seconds_(BuildHistogram()
                         .Name("twopc_decision_log_flush_seconds")
                         .Help("One forced batch of the SQLite decision log (write and fsync)")
                         .Register(*registry_)
                         .Add({}, LatencyBuckets())),
      batch_records_(BuildHistogram()
                         .Name("twopc_decision_log_batch_records")
                         .Help("Decisions forced together in one fsync (group commit)")
                         .Register(*registry_)
                         .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256,
                                                                          512, 1024})),
      phase2_retries_(BuildCounter()
                          .Name("twopc_phase2_retries_total")
                          .Help("COMMIT PREPARED tries that failed and were retried")
                          .Register(*registry_)),
      participant_errors_(BuildCounter()
                              .Name("twopc_participant_errors_total")
                              .Help("Errors a participant answered, by SQLSTATE class (connection, "
                                    "timeout without one)")
                              .Register(*registry_)),
      prepared_(BuildGauge()
                    .Name("twopc_prepared_branches")
                    .Help("Prepared transactions the last recovery pass left on the participant "
                          "(all of them, twopc's and foreign)")
                    .Register(*registry_)),
      oldest_age_(BuildGauge()
                      .Name("twopc_oldest_prepared_age_seconds")
                      .Help("Age of the oldest of them at the last recovery pass (0: none)")
                      .Register(*registry_)),
      up_(BuildGauge()
              .Name("twopc_participant_up")
              .Help("1 when the last recovery pass reached the participant, 0 when it did not")
              .Register(*registry_)),
      recovery_actions_(BuildCounter()
                            .Name("twopc_recovery_actions_total")
                            .Help("What recovery passes did, by action")
                            .Register(*registry_)),
      recovery_passes_(BuildCounter()
                           .Name("twopc_recovery_passes_total")
                           .Help("Recovery passes, ok (nothing left unresolved) or incomplete")
                           .Register(*registry_)),
      recovery_unresolved_(BuildGauge()
                               .Name("twopc_recovery_unresolved")
                               .Help("This node's branches and decisions the last pass left unresolved, "
                                     "plus participants it could not reach")
                               .Register(*registry_)
                               .Add({})),
      recovery_last_pass_(BuildGauge()
                              .Name("twopc_recovery_last_pass_timestamp_seconds")
                              .Help("When the last recovery pass ended (unix time)")
                              .Register(*registry_)
                              .Add({})),
      heuristics_(BuildCounter()
                      .Name("twopc_heuristic_outcomes_total")
                      .Help("Committed transactions with a branch found rolled back behind the "
                            "coordinator's back (mixed outcome)")
                      .Register(*registry_)
                      .Add({})),
      pool_connections_(BuildGauge()
                            .Name("twopc_pool_connections")
                            .Help("Pooled connections to the participant, idle or busy (lent to a "
                                  "branch, or connecting)")
                            .Register(*registry_)),
      pool_waiting_(BuildGauge()
                        .Name("twopc_pool_waiting")
                        .Help("Branches waiting for a connection (max_connections are open)")
                        .Register(*registry_)) {
  for (TxnOutcome o : {TxnOutcome::kCommitted, TxnOutcome::kAborted, TxnOutcome::kInDoubt}) {
    for (CommitPath p : {CommitPath::kTwoPhase, CommitPath::kOnePhase, CommitPath::kReadOnly}) {
      transactions_by_[static_cast<int>(o)][static_cast<int>(p)] =
          &transactions_.Add({{"outcome", OutcomeLabel(o)}, {"path", PathLabel(p)}});
    }
  }
  for (TracePhase phase : {TracePhase::kPrepare, TracePhase::kDecide, TracePhase::kComplete}) {
    phase_by_[static_cast<int>(phase)] = &phase_duration_.Add({{"phase", TracePhaseName(phase)}}, LatencyBuckets());
  }
  for (RecoveryActionKind kind : kAllActions) recovery_actions_.Add({{"action", ActionLabel(kind)}});
  recovery_passes_.Add({{"result", "ok"}});
  recovery_passes_.Add({{"result", "incomplete"}});
  for (const std::string& name : participants) {
    PerParticipant& p = participants_[name];
    p.phase2_retries = &phase2_retries_.Add({{"participant", name}});
    p.prepared = &prepared_.Add({{"participant", name}});
    p.oldest_age = &oldest_age_.Add({{"participant", name}});
    p.up = &up_.Add({{"participant", name}});
    p.pool_idle = &pool_connections_.Add({{"participant", name}, {"state", "idle"}});
    p.pool_busy = &pool_connections_.Add({{"participant", name}, {"state", "busy"}});
    p.pool_waiting = &pool_waiting_.Add({{"participant", name}});
  }
}

CoordinatorMetrics::PerParticipant* CoordinatorMetrics::Find(std::string_view participant) {
  auto it = participants_.find(participant);
  return it == participants_.end() ? nullptr : &it->second;
}

void CoordinatorMetrics::TransactionEnded(TxnOutcome outcome, CommitPath path, std::chrono::nanoseconds elapsed) {
  transactions_by_[static_cast<int>(outcome)][static_cast<int>(path)]->Increment();
  commit_duration_.Observe(Seconds(elapsed));
}

void CoordinatorMetrics::PhaseTook(TracePhase phase, std::chrono::nanoseconds elapsed) {
  if (prometheus::Histogram* h = phase_by_[static_cast<int>(phase)]; h != nullptr) h->Observe(Seconds(elapsed));
}

void CoordinatorMetrics::Phase2Retry(std::string_view participant) {
  if (PerParticipant* p = Find(participant); p != nullptr) p->phase2_retries->Increment();
}

void CoordinatorMetrics::ParticipantError(std::string_view participant, const Status& error) {
  // Labels come from the configured names only (never from an error's
  // text), so an attacker-chosen string cannot mint new series.
  if (Find(participant) == nullptr) return;
  participant_errors_.Add({{"participant", std::string(participant)}, {"sqlstate_class", SqlStateClass(error)}})
      .Increment();
}

void CoordinatorMetrics::HeuristicOutcome() { heuristics_.Increment(); }

void CoordinatorMetrics::DecisionLogFlush(size_t records, std::chrono::nanoseconds elapsed) {
  flush_seconds_.Observe(Seconds(elapsed));
  batch_records_.Observe(static_cast<double>(records));
}

void CoordinatorMetrics::RecoveryPassDone(const RecoveryReport& report) {
  for (const RecoveryAction& a : report.actions) {
    recovery_actions_.Add({{"action", ActionLabel(a.kind)}}).Increment();
  }
  int unresolved = report.in_doubt_remaining + report.unreachable;
  recovery_passes_.Add({{"result", unresolved == 0 ? "ok" : "incomplete"}}).Increment();
  recovery_unresolved_.Set(unresolved);
  auto now = std::chrono::system_clock::now();
  recovery_last_pass_.Set(std::chrono::duration<double>(now.time_since_epoch()).count());

  MutexLock lock(mutex_);
  std::map<std::pair<std::string, std::string>, std::chrono::system_clock::time_point> seen;
  std::map<std::string, std::pair<int, double>, std::less<>> left;  // participant -> count, oldest age
  for (const auto& b : report.prepared_left) {
    std::chrono::system_clock::time_point since;
    if (b.prepared_at_ms > 0) {
      since = std::chrono::system_clock::time_point(std::chrono::milliseconds(b.prepared_at_ms));
    } else {
      auto key = std::make_pair(b.participant, b.gid);
      auto it = first_seen_.find(key);
      since = it != first_seen_.end() ? it->second : now;
      seen.emplace(std::move(key), since);
    }
    auto& [count, oldest] = left[b.participant];
    ++count;
    oldest = std::max(oldest, std::max(0.0, std::chrono::duration<double>(now - since).count()));
  }
  // Forget the branches no longer there (and keep the ones of participants
  // this pass could not reach: they may still be).
  for (auto& [key, since] : first_seen_) {
    bool scanned = std::find(report.scanned.begin(), report.scanned.end(), key.first) != report.scanned.end();
    if (!scanned) seen.emplace(key, since);
  }
  first_seen_ = std::move(seen);
  for (auto& [name, p] : participants_) {
    bool scanned = std::find(report.scanned.begin(), report.scanned.end(), name) != report.scanned.end();
    p.up->Set(scanned ? 1 : 0);
    if (!scanned) continue;  // unknown: the gauges keep what the last pass that reached it saw
    auto it = left.find(name);
    p.prepared->Set(it == left.end() ? 0 : it->second.first);
    p.oldest_age->Set(it == left.end() ? 0 : it->second.second);
  }
}

void CoordinatorMetrics::PoolsNow(const std::vector<std::pair<std::string, PoolStats>>& pools) {
  for (const auto& [name, stats] : pools) {
    PerParticipant* p = Find(name);
    if (p == nullptr) continue;
    p->pool_idle->Set(stats.idle);
    p->pool_busy->Set(std::max(0, stats.open - stats.idle));
    p->pool_waiting->Set(stats.waiting);
  }
}

}  // namespace twopc::internal
