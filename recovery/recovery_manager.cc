// RecoveryManager: the operator's handle (the `twopc` CLI is a shell over it).
#include <fmt/format.h>
#include "common/logging.h"
#include "common/wait.h"

#include <algorithm>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "common/thread_annotations.h"
#include "coordinator/coordinator_impl.h"
#include "decision_log/sqlite_decision_log.h"
#include "storage/log_file.h"
#include "recovery/recovery_scanner.h"

namespace twopc {

using internal::Participant;
using internal::ScanContext;

class RecoveryManagerImpl {
 public:
  RecoveryManagerImpl(CoordinatorOptions o, std::unique_ptr<DecisionLog> l, bool lock)
      : options(std::move(o)), log(std::move(l)), holds_lock(lock),
        work_(boost::asio::make_work_guard(io_)) {
    // Holding the lock, this process is the node's live incarnation: its
    // sessions carry that name, like a coordinator's, and end those of the
    // dead ones. Views only read, and say so.
    // A shared store's operator has no incarnation: its sessions are named
    // so that no pass takes them for a coordinator's.
    std::string name = log->shared()  ? fmt::format("twopc-operator.{}", options.node_id)
                       : holds_lock ? fmt::format("twopc.{}.{}", options.node_id, log->incarnation())
                                    : fmt::format("twopc-view.{}", options.node_id);
    for (auto p : options.participants) {
      p.application_name = name;
      participants_[p.name] = internal::MakeParticipant(io_, p, options.connect_timeout);
    }
    thread_ = std::thread([this] { io_.run(); });
    // A shared store is recovered by whoever can take a gone incarnation's
    // registration (ClaimIfGone): there is no node-wide one to hold.
    if (holds_lock && !log->shared()) Register();
  }

  ~RecoveryManagerImpl() {
    work_.reset();
    io_.stop();
    thread_.join();
    participants_.clear();
  }

  // A process that fences must be the only live one of its node id
  // (docs/protocol.md, "One live coordinator per node id"). Unreachable
  // participants are skipped: the pass cannot act on them either.
  void Register() TWOPC_EXCLUDES(mutex_) {
    // In parallel: an unreachable participant costs one timeout, not one each.
    std::vector<internal::Answer<Status>> answers(participants_.size());
    size_t i = 0;
    auto deadline = internal::Clock::now() + options.connect_timeout + std::chrono::seconds(5);
    for (const auto& [name, p] : participants_) {
      p->Register(options.node_id, log->incarnation(), deadline, answers[i++].Callback());
    }
    for (auto& a : answers) {
      Status s = a.Wait();
      internal::MutexLock lock(mutex_);
      if (s.IsConflict() && not_registered_.empty()) {
        not_registered_ = s.message() + " -- nothing of this node is fenced or rolled back";
      }
    }
  }

  ScanContext Context() const TWOPC_EXCLUDES(mutex_) {
    ScanContext ctx;
    ctx.node_id = options.node_id;
    for (const auto& [name, p] : participants_) ctx.participants[name] = p.get();
    ctx.log = log.get();
    // Holding the lock, this process is the live incarnation and has nothing
    // in flight: every earlier incarnation's undecided branch is an orphan.
    ctx.can_fence = holds_lock;
    ctx.live_incarnation = log->incarnation();
    // No registry: nothing of the live incarnation is in flight here.
    ctx.timeout = options.connect_timeout + std::chrono::milliseconds(5000);
    internal::MutexLock lock(mutex_);
    ctx.not_registered = not_registered_;
    return ctx;
  }

  Status Resolve(std::string_view gid, Decision action, bool force, std::string_view participant);
  // Resolve's non-forced path for this node's `gtrid`: the recovery pass,
  // restricted to it. Sets *heuristic (and returns OK) when `force` takes
  // over from a transaction that may still be deciding.
  Status ResolveThroughPass(const ScanContext& ctx, const std::string& gtrid, const std::string& gid,
                            const std::string& participant, bool force, bool* heuristic);

  const CoordinatorOptions options;
  std::unique_ptr<DecisionLog> log;
  const bool holds_lock;

 private:
  mutable internal::Mutex mutex_;
  std::string not_registered_ TWOPC_GUARDED_BY(mutex_);  // why this process may not fence, if it may not

  Status Record(const std::string& gtrid, const std::string& gid, const std::string& participant,
                Decision action, std::optional<Decision> logged, const std::string& note);

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::map<std::string, std::unique_ptr<Participant>> participants_;
  std::thread thread_;
};

Status RecoveryManagerImpl::Record(const std::string& gtrid, const std::string& gid,
                                   const std::string& participant, Decision action,
                                   std::optional<Decision> logged, const std::string& note) {
  HeuristicRecord h;
  h.gtrid = gtrid;
  h.gid = gid;
  h.participant = participant;
  h.action = action;
  h.logged = logged;
  h.note = note;
  return log->RecordHeuristic(h);
}

Status RecoveryManagerImpl::Resolve(std::string_view gid_view, Decision action, bool force,
                                    std::string_view participant_name) {
  const std::string gid(gid_view);
  ScanContext ctx = Context();
  // Where is it prepared?
  std::vector<std::string> holders;
  for (const auto& [name, p] : ctx.participants) {
    if (!participant_name.empty() && name != participant_name) continue;
    auto rows = internal::RecoverSync(*p, ctx.timeout);
    if (!rows.ok()) {
      if (!participant_name.empty()) return rows.TakeStatus();
      continue;
    }
    for (const auto& x : rows.value()) {
      if (x.gid != gid) continue;
      holders.push_back(name);
    }
  }
  if (!participant_name.empty() && !ctx.participants.count(std::string(participant_name))) {
    return Status::InvalidArgument(fmt::format("no participant named '{}'", participant_name));
  }
  if (holders.empty()) {
    return Status::NotFound(fmt::format("no prepared transaction '{}' on {}", gid,
                                        participant_name.empty() ? "any participant" : participant_name));
  }
  if (holders.size() > 1) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is prepared on {} participants ({}...): name one with --participant", gid,
        holders.size(), holders[0]));
  }
  const std::string& participant = holders[0];
  const char* verb = DecisionName(action);
  ClassifiedGid c = ClassifyGid(gid, options.node_id);

  std::optional<Decision> logged;
  std::string gtrid = gid;
  bool heuristic = false;
  if (c.kind != GidKind::kThisNode) {
    if (!force) {
      return Status::Conflict(fmt::format(
          "'{}' is not this coordinator's ({} gid); its own transaction manager should resolve "
          "it. Use --force to {} it anyway (recorded as a heuristic decision; see "
          "docs/operations.md)", gid, GidKindName(c.kind), verb));
    }
    heuristic = true;
  } else {
    gtrid = GtridOf(*c.parts);
    auto rec = log->Lookup(gtrid);
    if (!rec.ok()) return rec.TakeStatus();
    if (rec.value()) logged = rec.value()->decision;
    if (logged && *logged != action) {
      if (!force) {
        return Status::Conflict(fmt::format(
            "the decision log says {} for {}: {} this branch would leave the transaction mixed. "
            "Run `twopc recover` to apply the logged decision, or --force to override (recorded "
            "as a heuristic decision)", DecisionName(*logged), gtrid, verb));
      }
      heuristic = true;
    } else if (!logged && action == Decision::kCommit) {
      if (!force) {
        return Status::Conflict(fmt::format(
            "{} has no COMMIT decision: under presumed abort it must roll back. Use --force to "
            "commit it anyway (heuristic)", gtrid));
      }
      heuristic = true;
    }
    if (!heuristic) {
      // The logged decision, or (undecided) rollback under presumed abort:
      // the recovery pass's own path, restricted to this transaction (one
      // home for the rules: recovery_scanner.h). It fences only what it may
      // (the transaction cannot be deciding, the dead incarnation's sessions
      // are gone, ABORT is in the log first), completes every branch as the
      // log says, and writes END once all are done.
      Status s = ResolveThroughPass(ctx, gtrid, gid, participant, force, &heuristic);
      if (!heuristic) return s;
    }
  }
  if (heuristic) {
    if (!holds_lock && c.kind == GidKind::kThisNode) {
      return Status::Conflict(
          "a forced decision on this node's transaction must be recorded in the decision log, "
          "which a running coordinator holds: stop the coordinator first");
    }
    if (holds_lock) {
      Status s = Record(gtrid, gid, participant, action, logged, "forced by operator");
      if (!s.ok()) return s;
    } else {
      twopc::internal::LogWith(
          LogLevel::kWarn,
          {.event = "forced_decision_unrecorded",
           .gid = gid,
           .participant = participant,
           .phase = "recovery"},
          "twopc: the decision log is held by a running coordinator; the forced {} of "
          "foreign gid {} is not recorded in it",
          verb, gid);
    }
  }
  // Forced (heuristic) or foreign: not the protocol's path, only this branch.
  Participant* p = ctx.participants.at(participant);
  return action == Decision::kCommit ? internal::CommitPreparedSync(*p, gid, ctx.timeout)
                                     : internal::RollbackPreparedSync(*p, gid, ctx.timeout);
}

Status RecoveryManagerImpl::ResolveThroughPass(const ScanContext& ctx, const std::string& gtrid,
                                               const std::string& gid, const std::string& participant,
                                               bool force, bool* heuristic) {
  RecoveryPassOptions o;
  o.pace = std::chrono::microseconds(0);  // one transaction: nothing to pace
  internal::GtridPassResult r = internal::RunRecoveryPassFor(ctx, o, gtrid);
  using Stop = internal::GtridPassResult::Stop;
  switch (r.stop) {
    case Stop::kMayBeDeciding:
      if (force) {
        *heuristic = true;  // the operator overrides: recorded as a heuristic decision
        return Status::OK();
      }
      return Status::Conflict(fmt::format(
          "{} has no decision and may still be deciding: {}. Stop the coordinator (or let its "
          "recovery run), or use --force", gtrid, r.why));
    case Stop::kSessionsAlive:
      return Status::Unavailable(fmt::format(
          "cannot be sure that no session of the dead coordinator still runs on {}: {}; try again",
          r.participant, r.status.ToString()));
    case Stop::kDecidedMeanwhile:
      return Status::Conflict(fmt::format("a {} decision for {} was recorded meanwhile; run `twopc recover`",
                                          r.decision == Decision::kCommit ? "COMMIT" : "ABORT", gtrid));
    case Stop::kCannotFence:
      return r.status;
    case Stop::kNone:
      break;
  }
  // What the pass did with this branch. None of its actions: it was gone, and
  // txid_status() says it ended as the log says.
  std::optional<Status> gtrid_level;
  for (const RecoveryAction& a : r.report.actions) {
    if (a.gid.empty() && a.participant.empty() && a.kind == RecoveryActionKind::kRetryLater &&
        !gtrid_level) {
      gtrid_level = a.status.ok() ? Status::Unavailable(a.detail + "; try again") : a.status;
    }
    if (a.gid != gid || a.participant != participant) continue;
    switch (a.kind) {
      case RecoveryActionKind::kCommitPrepared:
      case RecoveryActionKind::kRollbackPrepared:
        return Status::OK();
      case RecoveryActionKind::kMixed:
        return std::move(Status::HeuristicMixed(a.detail)).WithParticipant(participant);
      case RecoveryActionKind::kRetryLater:
      case RecoveryActionKind::kSkipUnstable:
        return a.status.ok() ? std::move(Status::Unavailable(a.detail + "; try again"))
                                   .WithParticipant(participant)
                             : a.status;
      default:
        break;
    }
  }
  return gtrid_level.value_or(Status::OK());
}

RecoveryManager::RecoveryManager(std::unique_ptr<RecoveryManagerImpl> impl) : impl_(std::move(impl)) {}
RecoveryManager::~RecoveryManager() = default;

Result<std::unique_ptr<RecoveryManager>> RecoveryManager::Open(CoordinatorOptions options,
                                                               LogAccess access) {
  if (Status s = ValidateNodeId(options.node_id); !s.ok()) return s;
  // Operator tools never create a log (docs/operations.md): an empty one
  // would make recovery roll back what the real log committed.
  options.log.create_if_missing = false;
  if (options.log.store == LogStore::kPostgres) {
    // Decisions inside PostgreSQL: no file and no lock. Any host that
    // reaches the databases may fence and complete (the decider's primary
    // key keeps the first decision), except in a read-only view.
    auto log = OpenPgDecisionLogForOperator(options);
    if (!log.ok()) return log.TakeStatus();
    bool writes = access != LogAccess::kReadOnly;
    return std::unique_ptr<RecoveryManager>(new RecoveryManager(
        std::make_unique<RecoveryManagerImpl>(std::move(options), std::move(log.value()), writes)));
  }
  bool lock = false;
  Result<std::unique_ptr<DecisionLog>> log = Status::NotFound("not opened");
  switch (access) {
    case LogAccess::kReadOnly:
      log = OpenSqliteDecisionLogReadOnly(options.log.path);
      break;
    case LogAccess::kInspectIfFree:
      lock = true;
      log = internal::OpenSqliteDecisionLogReadOnly(options.log.path, /*lock=*/true, nullptr);
      break;
    case LogAccess::kExclusiveIfFree:
      lock = true;
      log = OpenSqliteDecisionLog(options.log);
      break;
  }
  if (!log.ok() && log.status().IsBusy()) {
    // A coordinator is running: read its log without blocking it.
    lock = false;
    log = OpenSqliteDecisionLogReadOnly(options.log.path);
  }
  if (!log.ok()) return log.TakeStatus();
  return std::unique_ptr<RecoveryManager>(new RecoveryManager(
      std::make_unique<RecoveryManagerImpl>(std::move(options), std::move(log.value()), lock)));
}

bool RecoveryManager::holds_log_lock() const { return impl_->holds_lock; }

bool RecoveryManager::coordinator_running() const {
  if (impl_->holds_lock || impl_->log->shared()) return false;
  return internal::LogLockHeld(impl_->options.log.path);
}
const CoordinatorOptions& RecoveryManager::options() const { return impl_->options; }
DecisionLog& RecoveryManager::log() { return *impl_->log; }

RecoveryManager::Listing RecoveryManager::ListPrepared(bool with_impact) {
  return internal::ListPrepared(impl_->Context(), with_impact);
}

Result<std::vector<DecisionRecord>> RecoveryManager::PendingDecisions() { return impl_->log->Unended(); }

RecoveryReport RecoveryManager::RunPass(const RecoveryPassOptions& options) {
  RecoveryReport r = internal::RunRecoveryPass(impl_->Context(), options);
  if (!options.dry_run && impl_->holds_lock) (void)impl_->log->Flush();
  return r;
}

Status RecoveryManager::Resolve(std::string_view gid, Decision action, bool force,
                                std::string_view participant) {
  Status s = impl_->Resolve(gid, action, force, participant);
  if (impl_->holds_lock) (void)impl_->log->Flush();
  return s;
}

Result<std::vector<HeuristicRecord>> RecoveryManager::Heuristics() { return impl_->log->Heuristics(); }

Result<uint64_t> RecoveryManager::Forget(const std::string& key) {
  if (!impl_->holds_lock) {
    return Status::Busy(fmt::format(
        "a running coordinator holds the decision log {}: forgetting a heuristic decision writes "
        "the log, which needs its lock. Stop the coordinator (or run this when it is down)",
        impl_->options.log.path));
  }
  auto marked = impl_->log->ForgetHeuristic(key);
  if (!marked.ok()) return marked;
  if (*marked == 0) {
    auto all = impl_->log->Heuristics();
    bool known = all.ok() && std::any_of(all->begin(), all->end(), [&](const HeuristicRecord& h) {
                   return h.gtrid == key || h.gid == key;
                 });
    return Status::NotFound(
        known ? fmt::format("the heuristic decisions on '{}' were already forgotten", key)
              : fmt::format("no heuristic decision on '{}' in the decision log {} (see `twopc "
                            "status` for the gtrids and gids that have one)",
                            key, impl_->options.log.path));
  }
  return marked;
}

}  // namespace twopc
