#include "common/logging.h"
#include "common/wait.h"

#include <set>
#include <stdexcept>

#include <boost/asio/post.hpp>

#include "coordinator/transaction_state.h"
#include "decision_log/decision_rows.h"
#include "participants/mariadb_participant.h"
#include "participants/pg_participant.h"
#include "recovery/incarnation_check.h"
#include "recovery/recovery_scanner.h"
#include "twopc/config.h"
#include "twopc/gid.h"

namespace twopc {
namespace internal {

std::unique_ptr<Participant> MakePgParticipant(boost::asio::io_context& io,
                                               const ParticipantOptions& options,
                                               std::chrono::milliseconds connect_timeout) {
  return std::make_unique<PgParticipant>(io, options, connect_timeout);
}

std::unique_ptr<Participant> MakeParticipant(boost::asio::io_context& io,
                                             const ParticipantOptions& options,
                                             std::chrono::milliseconds connect_timeout) {
  if (options.kind == ParticipantKind::kMariaDb) {
    return std::make_unique<MariaDbParticipant>(io, options, connect_timeout);
  }
  return std::make_unique<PgParticipant>(io, options, connect_timeout);
}

std::unique_ptr<Coordinator> CoordinatorAccess::Make(std::unique_ptr<CoordinatorImpl> impl) {
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(impl)));
}

CoordinatorImpl* CoreLink::Pin() {
  MutexLock lock(mutex_);
  if (core_ != nullptr) ++pins_;
  return core_;
}

void CoreLink::Unpin() {
  MutexLock lock(mutex_);
  if (--pins_ == 0) unpinned_.SignalAll();
}

void CoreLink::Close() {
  MutexLock lock(mutex_);
  core_ = nullptr;
  // Every pinned call ends by its transaction's deadline at the latest.
  while (pins_ != 0) unpinned_.Wait(mutex_);
}

}  // namespace internal

CoordinatorImpl::OpGuard::OpGuard(CoordinatorImpl* c) : core(c) {
  internal::MutexLock lock(core->mutex_);
  ++core->ops_in_flight_;
}

CoordinatorImpl::OpGuard::~OpGuard() {
  internal::MutexLock lock(core->mutex_);
  if (--core->ops_in_flight_ == 0) core->idle_cv_.SignalAll();
}

namespace {

std::vector<std::string> ParticipantNames(const CoordinatorOptions& options) {
  std::vector<std::string> names;
  for (const auto& p : options.participants) names.push_back(p.name);
  return names;
}

}  // namespace

CoordinatorImpl::CoordinatorImpl(CoordinatorOptions opts, std::unique_ptr<DecisionLog> l)
    : options(std::move(opts)),
      log(std::move(l)),
      metrics(options.metrics.registry != nullptr ? options.metrics.registry
                                                  : std::make_shared<prometheus::Registry>(),
              ParticipantNames(options)),
      work_(boost::asio::make_work_guard(io)) {
  log->SetFlushObserver([this](size_t records, std::chrono::nanoseconds took) {
    metrics.DecisionLogFlush(records, took);
  });
}

CoordinatorImpl::~CoordinatorImpl() {
  // Transactions may outlive the coordinator (a caller's mistake, but not a
  // reason to read freed memory): calls in progress finish, later ones are
  // refused, and what is still active is rolled back while the I/O threads
  // and connections still exist.
  // No scrape reads the pools once teardown starts.
  endpoint_.reset();
  link->Close();
  RollBackOrphans();
  WaitForCompletions(options.complete_retry_for);
  {
    internal::MutexLock lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.SignalAll();
  if (recovery_thread_.joinable()) recovery_thread_.join();
  slow_path.join();
  {
    internal::MutexLock lock(mutex_);
    if (pool_timer_ != nullptr) pool_timer_->cancel();
  }
  work_.reset();
  // Connections still pooled keep no handlers pending, so run() returns once
  // the last operation is done; stop() covers a participant that never
  // answers.
  io.stop();
  for (auto& t : threads_) t.join();
  participants_.clear();
  // `metrics` goes before `log` (members die in reverse order), and the
  // log's writer thread still writes what is queued while it closes.
  if (log != nullptr) log->SetFlushObserver(nullptr);
}

Status CoordinatorImpl::Start(const ParticipantFactory& factory) {
  // Every connection says which process it serves, so that recovery can end
  // the sessions of a dead one (docs/protocol.md, "Sessions of a dead
  // coordinator"). At most 6 + 32 + 1 + 20 bytes: within PostgreSQL's 63.
  const std::string application_name =
      fmt::format("twopc.{}.{}", options.node_id, log->incarnation());
  coordinator_label = internal::CoordinatorLabel(options.node_id, log->incarnation());
  for (auto p : options.participants) {
    p.application_name = application_name;
    participants_[p.name] = factory(io, p, options.connect_timeout);
  }
  if (!options.metrics.listen.empty()) {
    auto endpoint = internal::MetricsEndpoint::Start(options.metrics.listen, metrics.registry(),
                                                     [this] { RefreshPoolGauges(); });
    if (!endpoint.ok()) return endpoint.TakeStatus();
    endpoint_ = std::move(endpoint.value());
    twopc::internal::Log().info("twopc: metrics at http://{}/metrics", endpoint_->address());
  }
  int n = std::max(1, options.io_threads);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { io.run(); });
  SchedulePoolRefresh();

  // Every participant is checked in parallel. An unreachable one is only a
  // warning -- refusing to start would also stop recovery of the others.
  std::vector<internal::Answer<Status>> checks(participants_.size());
  size_t i = 0;
  Deadline deadline = Clock::now() + options.connect_timeout;
  for (auto& [name, p] : participants_) {
    auto done = checks[i++].Callback();
    if (!options.check_max_prepared_transactions) {
      done(Status::OK());
      continue;
    }
    p->CheckReady(deadline, std::move(done));
  }
  // Every answer is awaited before any is acted on, so the refusal reported
  // is the first in participant order, not whichever came first.
  std::vector<Status> answers;
  for (auto& c : checks) answers.push_back(c.Wait());
  for (const Status& s : answers) {
    if (s.IsInvalidArgument()) return s;
  }
  for (const Status& s : answers) {
    if (!s.ok()) {
      twopc::internal::LogWith(
          LogLevel::kWarn,
          {.event = "participant_unreachable",
           .participant = s.participant(),
           .sqlstate = s.sqlstate()},
          "twopc: participant {} is not reachable at start ({}); its transactions "
          "fail until it is back",
          s.participant(), s.message());
    }
  }
  // Before anything is fenced: no other live process may hold this node id.
  // With a shared store (decisions inside PostgreSQL) replicas sharing the
  // node id are the normal case: each holds its own incarnation instead.
  if (Status s = Register(); s.IsConflict()) return s;

  // A log that is not this node's real one must not presume abort for it.
  // A shared store is every node's real one.
  if (!log->shared()) {
    Status other_log = internal::CheckNoNewerIncarnation(participants_, options, log->incarnation());
    if (!other_log.ok()) return other_log;
  }

  // Decisions left by an earlier run are carried out, and its orphans
  // fenced and rolled back, before any new work.
  RecoveryReport r = RunRecovery({});
  if (r.in_doubt_remaining > 0 || r.unreachable > 0) {
    twopc::internal::LogWith(
        LogLevel::kWarn, {.event = "recovery_unresolved", .phase = "recovery"},
        "twopc: recovery at start left {} transactions unresolved ({} participants "
        "unreachable); {}",
        r.in_doubt_remaining, r.unreachable,
        options.recovery.interval.count() > 0 ? "retrying in the background"
                                              : "the background pass is off: run `twopc recover`");
  }
  if (options.recovery.interval.count() > 0) {
    recovery_thread_ = std::thread([this] { BackgroundRecovery(); });
  }
  return Status::OK();
}

Status CoordinatorImpl::Register() {
  internal::MutexLock registering(register_mutex_);
  if (log->shared()) {
    // The store holds this incarnation's registration; a lost one that
    // another process claimed meanwhile stops this one from deciding
    // (DecisionLog::registered), not from recovering other incarnations.
    Status s = log->Reregister();
    if (!s.ok()) {
      twopc::internal::LogWith(LogLevel::kError,
                               {.event = "registration_failed",
                                .participant = s.participant(),
                                .sqlstate = s.sqlstate()},
                               "twopc: {}", s.ToString());
    }
    return Status::OK();
  }
  std::vector<internal::Answer<Status>> answers(participants_.size());
  size_t i = 0;
  Deadline deadline = Clock::now() + options.connect_timeout;
  for (auto& [name, p] : participants_) {
    p->Register(options.node_id, log->incarnation(), deadline, answers[i++].Callback());
  }
  Status result;
  for (auto& a : answers) {
    Status s = a.Wait();
    if (s.IsConflict() && !result.IsConflict()) result = s;
  }
  internal::MutexLock lock(mutex_);
  not_registered_ = result.IsConflict() ? result.message() : "";
  return result;
}

// A registration lost with its connection (a participant restarted) is taken
// again before a later pass; if another process took it meanwhile, nothing is
// fenced (Register records why, and the pass's context carries it).
void CoordinatorImpl::ReRegister() {
  if (Status s = Register(); s.IsConflict()) {
    twopc::internal::LogWith(LogLevel::kError,
                             {.event = "registration_conflict",
                              .participant = s.participant(),
                              .sqlstate = s.sqlstate()},
                             "twopc: {}", s.ToString());
  }
}

RecoveryReport CoordinatorImpl::RunRecovery(const RecoveryPassOptions& pass_options) {
  internal::ScanContext ctx;
  {
    internal::MutexLock lock(mutex_);
    ctx.not_registered = not_registered_;
  }
  ctx.node_id = options.node_id;
  for (const auto& [name, p] : participants_) ctx.participants[name] = p.get();
  ctx.log = log.get();
  ctx.can_fence = true;  // this process holds the log lock
  ctx.live_incarnation = log->incarnation();
  ctx.live_transactions = &txns;
  ctx.timeout = options.connect_timeout + std::chrono::seconds(5);
  RecoveryReport r = internal::RunRecoveryPass(ctx, pass_options);
  if (!pass_options.dry_run) metrics.RecoveryPassDone(r);
  for (const auto& a : r.actions) {
    if (a.kind == RecoveryActionKind::kSkipForeign || a.kind == RecoveryActionKind::kSkipLive) continue;
    // A mixed outcome needs an operator: it is its own event, and a warning.
    bool mixed = a.kind == RecoveryActionKind::kMixed;
    twopc::internal::LogWith(mixed ? LogLevel::kWarn : LogLevel::kInfo,
                             {.event = mixed ? "heuristic_mixed" : "recovery_action",
                              .gtrid = a.gtrid,
                              .gid = a.gid,
                              .participant = a.participant,
                              .sqlstate = a.status.sqlstate(),
                              .phase = "recovery"},
                             "twopc recovery: {} {} {} {}{}", RecoveryActionName(a.kind),
                             a.participant, a.gid.empty() ? a.gtrid : a.gid, a.detail,
                             a.status.ok() ? "" : " (" + a.status.ToString() + ")");
  }
  return r;
}

// A plain thread, not an I/O thread: a pass blocks on participant calls.
void CoordinatorImpl::BackgroundRecovery() {
  RecoveryPassOptions pass;
  pass.pace = options.recovery.pace;
  pass.live_grace = options.recovery.live_grace;
  for (;;) {
    {
      internal::MutexLock lock(mutex_);
      auto next = Clock::now() + options.recovery.interval;
      while (!stopping_ && stop_cv_.WaitUntil(mutex_, next)) {
      }
      if (stopping_) return;
    }
    ReRegister();
    RunRecovery(pass);
  }
}

void CoordinatorImpl::RefreshPoolGauges() {
  std::vector<std::pair<std::string, internal::PoolStats>> pools;
  for (const auto& [name, p] : participants_) pools.emplace_back(name, p->pool_stats());
  metrics.PoolsNow(pools);
}

void CoordinatorImpl::SchedulePoolRefresh() {
  internal::MutexLock lock(mutex_);
  if (stopping_) return;
  if (pool_timer_ == nullptr) pool_timer_ = std::make_unique<boost::asio::steady_timer>(io);
  pool_timer_->expires_after(std::chrono::seconds(1));
  pool_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the coordinator is closing
    RefreshPoolGauges();
    SchedulePoolRefresh();
  });
}

void CoordinatorImpl::RollBackOrphans() {
  std::vector<internal::Answer<Status>> rolled_back;
  for (auto& t : txns.Live()) {
    // The link is closed: no Transaction call can change an active phase
    // any more. `orphaned` is set before the phase leaves kActive: a
    // Transaction call refused by the closed link reads the two in the
    // opposite order, so it always sees one of them and answers "outlived
    // its Coordinator".
    if (!t->phase.active()) continue;
    t->orphaned = true;
    bool made = t->phase.BeginRollback();
    internal::ExpectTransition(made, t->phase.Get(), "BeginRollback");
    if (!made) continue;
    internal::RunRollback(t, rolled_back.emplace_back().Callback());
  }
  for (auto& answer : rolled_back) {
    if (Status s = answer.Wait(); !s.ok()) {
      twopc::internal::LogWith(
          LogLevel::kWarn,
          {.event = "rollback_failed",
           .participant = s.participant(),
           .sqlstate = s.sqlstate(),
           .phase = "abort"},
          "twopc: rolling back a transaction that outlived its coordinator: {}", s.ToString());
    }
  }
}

void CoordinatorImpl::RememberInDoubt(const std::string& gtrid, InDoubtTxn txn) {
  internal::MutexLock lock(mutex_);
  // In doubt is rare; the bound only keeps a pathological run from growing
  // without end (the oldest gtrid sorts first within one incarnation).
  if (in_doubt_txns_.size() >= 100000) in_doubt_txns_.erase(in_doubt_txns_.begin());
  in_doubt_txns_[gtrid] = std::move(txn);
}

Result<TransactionOutcome> CoordinatorImpl::OutcomeOf(const std::string& gtrid) {
  std::optional<InDoubtTxn> known;
  {
    internal::MutexLock lock(mutex_);
    if (auto it = in_doubt_txns_.find(gtrid); it != in_doubt_txns_.end()) known = it->second;
  }
  auto settled = [&](TransactionOutcome o) -> Result<TransactionOutcome> {
    internal::MutexLock lock(mutex_);
    in_doubt_txns_.erase(gtrid);
    return o;
  };
  auto recorded = log->Lookup(gtrid);
  if (recorded.ok() && recorded->has_value()) {
    return settled((*recorded)->decision == Decision::kCommit ? TransactionOutcome::kCommitted
                                                              : TransactionOutcome::kAborted);
  }
  if (!known) {
    if (!recorded.ok()) return recorded.TakeStatus();
    if (txns.MayBeDeciding(gtrid)) return Status::Unavailable(gtrid + " is still deciding");
    return Status::NotFound(
        "no decision is recorded for " + gtrid +
        " and this process did not see it end in doubt: it was aborted (presumed abort), or it "
        "ended normally and its record was forgotten");
  }
  if (!recorded.ok()) return recorded.TakeStatus();  // no conclusion from a store that did not answer
  const auto timeout = options.connect_timeout + options.default_deadline;
  if (known->one_phase) {
    // A single branch: its own COMMIT was the decision, and PostgreSQL keeps
    // the outcome of its transaction id.
    Participant* p = FindParticipant(known->participant);
    if (p == nullptr || known->txid == 0) return Status::Unavailable("cannot ask " + known->participant);
    auto outcome = internal::TransactionStatusSync(*p, known->txid, timeout);
    if (!outcome.ok()) return outcome.TakeStatus();
    if (*outcome == internal::TxidOutcome::kCommitted) return settled(TransactionOutcome::kCommitted);
    if (*outcome == internal::TxidOutcome::kAborted) return settled(TransactionOutcome::kAborted);
    return Status::Unavailable(fmt::format("the transaction of {} on {} is still {}", gtrid,
                                           known->participant, internal::TxidOutcomeName(*outcome)));
  }
  // No decision recorded. While a prepared branch remains, a COMMIT would
  // still be recorded (it goes only once every branch committed), so a
  // fence settles it: ABORT wins exactly when no COMMIT is there or coming.
  // The decider's own transaction id is no witness: it is not durable before
  // its COMMIT, and a server that crashed may hand it out again.
  bool any_prepared = false;
  for (const BranchRef& b : known->fence.branches) {
    Participant* p = FindParticipant(b.participant);
    if (p == nullptr) return Status::Unavailable("participant " + b.participant + " is not configured");
    auto rows = internal::RecoverSync(*p, timeout);
    if (!rows.ok()) return rows.TakeStatus();
    for (const auto& x : *rows) any_prepared = any_prepared || x.gid == b.gid;
  }
  if (!any_prepared) {
    // Every branch ended, and the record went with them: the branches'
    // transaction ids tell how (PREPARE made them durable).
    for (const BranchRef& b : known->fence.branches) {
      Participant* p = FindParticipant(b.participant);
      if (b.txid == 0) continue;
      auto outcome = internal::TransactionStatusSync(*p, b.txid, timeout);
      if (!outcome.ok()) return outcome.TakeStatus();
      if (*outcome == internal::TxidOutcome::kCommitted) return settled(TransactionOutcome::kCommitted);
      if (*outcome == internal::TxidOutcome::kAborted) return settled(TransactionOutcome::kAborted);
    }
    return Status::Unavailable("no branch of " + gtrid + " is prepared and none tells how it ended");
  }
  Status fenced = log->Decide(known->fence);
  if (fenced.ok()) return settled(TransactionOutcome::kAborted);
  if (fenced.IsConflict()) return settled(TransactionOutcome::kCommitted);
  return fenced;
}

std::string CoordinatorImpl::ChooseNamedDecider(const std::string& gtrid) const {
  std::vector<const std::string*> postgres;
  for (const auto& p : options.participants) {
    if (p.kind == ParticipantKind::kPostgres) postgres.push_back(&p.name);
  }
  return *postgres[std::hash<std::string>{}(gtrid) % postgres.size()];
}

Participant* CoordinatorImpl::FindParticipant(std::string_view name) const {
  auto it = participants_.find(name);
  return it == participants_.end() ? nullptr : it->second.get();
}

void CoordinatorImpl::WaitForCompletions(std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  internal::MutexLock lock(mutex_);
  while (ops_in_flight_ != 0 && idle_cv_.WaitUntil(mutex_, deadline)) {
  }
}

Deadline CoordinatorImpl::DeadlineFor(const TransactionOptions& o) const {
  return Clock::now() + (o.deadline.count() > 0 ? o.deadline : options.default_deadline);
}

namespace internal {
namespace {

// A MariaDB branch is named by its xid from XA START on, so its gid must be
// known before the first statement and fit MariaDB's 64-byte gtrid
// (docs/gid-format.md, "MariaDB XA").
Status CheckMariaDbParticipant(const CoordinatorOptions& o, const ParticipantOptions& p) {
  if (o.log.store == LogStore::kPostgres) {
    // The decider is a PostgreSQL participant, named in the MariaDB
    // branch's bqual "<branch>.<decider>": at most 10 + 1 + 53 bytes.
    bool any_postgres = false;
    for (const auto& q : o.participants) {
      if (q.kind != ParticipantKind::kPostgres) continue;
      any_postgres = true;
      if (q.name.size() > kMaxMariaDbDeciderLength) {
        return Status::InvalidArgument(fmt::format(
            "participant '{}' has a {}-character name; with a MariaDB participant ('{}') and "
            "store = \"postgres\" a PostgreSQL participant's name is at most {}, so that a MariaDB "
            "branch qualifier <branch>.<decider> fits 64 bytes (docs/gid-format.md, \"MariaDB XA\")",
            q.name, q.name.size(), p.name, kMaxMariaDbDeciderLength));
      }
    }
    if (!any_postgres) {
      return Status::InvalidArgument(
          "participant '" + p.name +
          "' is a MariaDB database; store = \"postgres\" keeps the decisions in the PostgreSQL "
          "participants, and this config has none");
    }
  }
  if (o.node_id.size() > kMaxMariaDbNodeIdLength) {
    return Status::InvalidArgument(fmt::format(
        "node_id '{}' is {} characters; with a MariaDB participant ('{}') it is at most {}, so "
        "that the gtrid tpc1.<node_id>.<incarnation>.<txn> fits MariaDB's 64-byte XA gtrid "
        "(docs/gid-format.md, \"MariaDB XA\")",
        o.node_id, o.node_id.size(), p.name, kMaxMariaDbNodeIdLength));
  }
  return Status::OK();
}

Status ValidateOptions(const CoordinatorOptions& o) {
  if (Status s = ValidateNodeId(o.node_id); !s.ok()) return s;
  if (o.participants.empty()) return Status::InvalidArgument("no participants configured");
  std::set<std::string> names;
  for (const auto& p : o.participants) {
    if (p.name.empty()) return Status::InvalidArgument("a participant has an empty name");
    if (!names.insert(p.name).second) {
      return Status::InvalidArgument("participant name '" + p.name + "' appears twice");
    }
    if (p.max_connections <= 0) {
      return Status::InvalidArgument("participant '" + p.name + "': max_connections must be > 0");
    }
    if (p.kind == ParticipantKind::kMariaDb) {
      if (Status s = CheckMariaDbParticipant(o, p); !s.ok()) return s;
    }
    // Its name goes into gids as the decider (docs/gid-format.md).
    if (o.log.store == LogStore::kPostgres) {
      if (Status s = ValidateDecider(p.name); !s.ok()) {
        return Status::InvalidArgument("participant '" + p.name + "': " + s.message());
      }
    }
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Coordinator>> OpenCoordinator(CoordinatorOptions options,
                                                     std::unique_ptr<DecisionLog> log,
                                                     const ParticipantFactory& factory) {
  if (Status s = ValidateOptions(options); !s.ok()) return s;
  // Process-wide, like the logger itself (twopc/logging.h): the config's
  // [logging] applies from this coordinator's first line on.
  ApplyLoggingOptions(options.logging);
  std::unique_ptr<CoordinatorImpl> impl;
  try {
    impl = std::make_unique<CoordinatorImpl>(std::move(options), std::move(log));
  } catch (const std::invalid_argument& e) {
    // prometheus-cpp refuses a family whose name the application's registry
    // already holds with another type or labels (or a Throw registry).
    return Status::InvalidArgument(std::string("the metrics registry refused twopc's metrics: ") + e.what());
  }
  if (Status s = impl->Start(factory); !s.ok()) return s;
  return CoordinatorAccess::Make(std::move(impl));
}

}  // namespace internal

Coordinator::Coordinator(std::unique_ptr<CoordinatorImpl> impl) : impl_(std::move(impl)) {}
Coordinator::~Coordinator() = default;

Result<std::unique_ptr<Coordinator>> Coordinator::Open(CoordinatorOptions options,
                                                       std::unique_ptr<DecisionLog> log) {
  return internal::OpenCoordinator(std::move(options), std::move(log), internal::MakeParticipant);
}

Result<std::unique_ptr<Coordinator>> Coordinator::Open(CoordinatorOptions options) {
  if (Status s = internal::ValidateOptions(options); !s.ok()) return s;
  auto log = options.log.store == LogStore::kPostgres ? OpenPgDecisionLog(options)
                                                      : OpenSqliteDecisionLog(options.log);
  if (!log.ok()) return log.TakeStatus();
  return Open(std::move(options), std::move(log.value()));
}

Result<std::unique_ptr<Coordinator>> Coordinator::OpenFromConfigFile(const std::string& path) {
  auto options = LoadConfigFile(path);
  if (!options.ok()) return options.TakeStatus();
  return Open(std::move(options.value()));
}

Transaction Coordinator::Begin(TransactionOptions options) {
  return Transaction(std::make_unique<TransactionImpl>(internal::NewTxnState(impl_.get(), options)));
}

const CoordinatorOptions& Coordinator::options() const { return impl_->options; }
std::shared_ptr<prometheus::Registry> Coordinator::metrics() const { return impl_->metrics.registry(); }
std::string Coordinator::metrics_endpoint() const { return impl_->metrics_endpoint(); }
uint64_t Coordinator::incarnation() const { return impl_->log->incarnation(); }
DecisionLog& Coordinator::log() { return *impl_->log; }
Result<TransactionOutcome> Coordinator::OutcomeOf(const std::string& gtrid) { return impl_->OutcomeOf(gtrid); }

const char* TransactionOutcomeName(TransactionOutcome o) {
  return o == TransactionOutcome::kCommitted ? "committed" : "aborted";
}

void Coordinator::WaitForCompletions() { impl_->WaitForCompletions(impl_->options.complete_retry_for); }
RecoveryReport Coordinator::Recover(const RecoveryPassOptions& options) {
  impl_->ReRegister();
  return impl_->RunRecovery(options);
}

CoordinatorStats Coordinator::stats() const {
  CoordinatorStats s;
  s.committed = impl_->committed;
  s.committed_one_phase = impl_->committed_one_phase;
  s.committed_read_only = impl_->committed_read_only;
  s.aborted = impl_->aborted;
  s.in_doubt = impl_->in_doubt;
  s.heuristic_mixed = impl_->heuristic_mixed;
  s.completions_pending = impl_->txns.CountIn(internal::TxnPhase::kCompleting);
  s.transactions_open = impl_->txns.Count();
  s.log = impl_->log->stats();
  return s;
}

}  // namespace twopc
