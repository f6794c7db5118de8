// The commit state machine of docs/protocol.md (presumed abort):
//
//   prepare   all write branches PREPARE in parallel, read-only ones commit
//   decide    COMMIT record forced to the decision log -- the commit point
//   complete  COMMIT PREPARED on every branch, retried with backoff
//   forget    END record (not forced)
//
// With the decisions inside PostgreSQL (store = "postgres") one write
// branch, the decider, is never prepared: the others prepare, then the
// decider inserts the COMMIT row and commits in one round trip -- that local
// COMMIT is the commit point ("Decisions inside PostgreSQL").
//
// Each step is one method of CommitOperation; every callback that ends a
// parallel step goes through a Join so the next step starts exactly once.
#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/backoff.h"
#include "common/logging.h"

#include <atomic>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/thread_annotations.h"
#include "coordinator/phase_trace.h"
#include "coordinator/transaction_state.h"
#include "decision_log/decision_rows.h"
#include "testing/sync_point.h"

namespace twopc::internal {
namespace {

namespace asio = boost::asio;

// Runs `then` after `count` calls of Arrive(). Arrivals may come from
// several I/O threads; the acq_rel decrement orders their writes before
// `then` reads them.
class Join {
 public:
  Join(size_t count, std::function<void()> then) : remaining_(count), then_(std::move(then)) {
    if (count == 0) then_();
  }
  void Arrive() {
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) then_();
  }

 private:
  std::atomic<size_t> remaining_;
  std::function<void()> then_;
};

Status AbortCause(const BranchState& b, const Status& s, const char* step) {
  std::string what = fmt::format("{} failed to {}: {}", b.name(), step,
                                 s.sqlstate().empty() ? s.message()
                                                      : "SQLSTATE " + s.sqlstate() + ": " + s.message());
  return std::move(Status::Aborted(std::move(what)).WithParticipant(b.name())).WithSqlState(s.sqlstate());
}

// Connection lost or deadline passed: what was in flight may have happened.
bool OutcomeUnknown(const Status& s) { return s.IsUnavailable() || s.IsTimedOut(); }

class CommitOperation : public std::enable_shared_from_this<CommitOperation> {
 public:
  CommitOperation(std::shared_ptr<TxnState> txn, std::function<void(Status)> done)
      : txn_(std::move(txn)), core_(txn_->core), done_(std::move(done)), report_timer_(core_->io) {}

  void Start() {
    commit_span_ = PhaseSpan(core_->tracer(), TracePhase::kCommit, txn_->gtrid);
    size_t writes = 0;
    for (auto& b : txn_->branches) writes += b->is_write() ? 1 : 0;
    path_ = writes >= 2 ? CommitPath::kTwoPhase : writes == 1 ? CommitPath::kOnePhase : CommitPath::kReadOnly;
    if (!txn_->failure.ok()) {
      Abort(Status::Aborted("an earlier statement failed: " + txn_->failure.ToString())
                .WithParticipant(txn_->failure.participant())
                .WithSqlState(txn_->failure.sqlstate()));
      return;
    }
    // Work and PREPARE go out together: the step starts with the queued
    // branches' connections.
    StartStep(TracePhase::kPrepare);
    OpenQueuedBranches();
  }

 private:
  // The step of the whole transaction now running (the tracer's span
  // without a participant, and the phase histograms). Steps follow one
  // another; the joins order them across I/O threads.
  void StartStep(TracePhase phase, const std::string& participant = {}) {
    step_phase_ = phase;
    step_ = PhaseSpan(core_->tracer(), phase, txn_->gtrid, participant);
  }
  void EndStep(const Status& s) {
    if (!step_.running()) return;
    auto took = step_.End(s);
    if (step_phase_ != TracePhase::kAbort) core_->metrics.PhaseTook(step_phase_, took);
  }

  // Branches that only have queued statements get their connection now.
  void OpenQueuedBranches() {
    std::vector<BranchState*> unopened;
    for (auto& b : txn_->branches) if (b->branch == nullptr) unopened.push_back(b.get());
    auto self = shared_from_this();
    auto failures = std::make_shared<std::vector<Status>>(unopened.size());
    auto join = std::make_shared<Join>(unopened.size(), [self, failures] {
      for (const Status& f : *failures) {
        if (!f.ok()) return self->Abort(Status(f));
      }
      self->Classify();
    });
    for (size_t i = 0; i < unopened.size(); ++i) {
      BranchState* b = unopened[i];
      b->participant->Open(txn_->options, b->gid, txn_->deadline,
                           [self, b, i, failures, join](Result<std::unique_ptr<Branch>> r) {
                             if (r.ok()) {
                               b->branch = std::move(r.value());
                             } else {
                               self->core_->metrics.ParticipantError(b->name(), r.status());
                               (*failures)[i] = AbortCause(*b, r.status(), "start");
                             }
                             join->Arrive();
                           });
    }
  }

  void Classify() {
    for (auto& b : txn_->branches) (b->is_write() ? writes_ : reads_).push_back(b.get());
    path_ = writes_.size() >= 2   ? CommitPath::kTwoPhase
            : writes_.size() == 1 ? CommitPath::kOnePhase
                                  : CommitPath::kReadOnly;
    if (writes_.size() >= 2 && core_->log->shared()) return ChooseDecider();
    to_complete_ = writes_;
    if (writes_.size() >= 2) return Prepare();
    if (writes_.size() == 1) return VoteReadOnly([self = shared_from_this()] { self->CommitOnePhase(); });
    VoteReadOnly([self = shared_from_this()] {
      self->core_->committed_read_only++;
      self->EndStep(Status::OK());
      self->Committed();
    });
  }

  // Read-only branches vote by committing locally. Their reads count: if one
  // fails (e.g. a serialization failure), the transaction aborts.
  void VoteReadOnly(std::function<void()> then) {
    auto self = shared_from_this();
    auto join = std::make_shared<Join>(reads_.size(), [self, then = std::move(then)] {
      if (Status cause = self->FirstFailure(); !cause.ok()) return self->Abort(std::move(cause));
      then();
    });
    for (BranchState* b : reads_) {
      auto span = BranchSpan(core_->tracer(), TracePhase::kPrepare, txn_->gtrid, b->name(), b->gid);
      b->branch->CommitOnePhase({}, txn_->deadline, [self, b, join, span](const Status& s) {
        EndSpan(span, s);
        self->RecordVote(b, s, BranchVote::kReadOnly, "commit");
        join->Arrive();
      });
    }
  }

  // A single write branch: its own COMMIT is the decision, no log record.
  void CommitOnePhase() {
    Advance(txn_->phase.BeginDecide(), "BeginDecide");
    EndStep(Status::OK());
    BranchState* b = writes_.front();
    StartStep(TracePhase::kDecide, b->name());
    auto self = shared_from_this();
    b->branch->CommitOnePhase(std::move(b->queued), txn_->deadline, [self, b](const Status& s) {
      if (s.ok()) {
        self->core_->committed_one_phase++;
        self->EndStep(s);
        return self->Committed();
      }
      self->core_->metrics.ParticipantError(b->name(), s);
      if (OutcomeUnknown(s)) return self->SettleOnePhase(b, s);
      b->vote = BranchVote::kRefused;
      self->Abort(AbortCause(*b, s, "commit"));
    });
  }

  // The answer to a one-phase COMMIT was lost. Its session is ended first
  // (so that the COMMIT cannot still be running), then PostgreSQL is asked
  // what became of the branch's transaction id: a known outcome instead of
  // InDoubt (docs/protocol.md, "A gone branch proves nothing").
  void SettleOnePhase(BranchState* b, const Status& lost) {
    uint64_t txid = b->branch != nullptr ? b->branch->txid() : 0;
    int session = b->branch != nullptr ? b->branch->session() : 0;
    if (txid == 0) return InDoubt(b, lost);
    auto self = shared_from_this();
    Deadline deadline = Clock::now() + core_->options.default_deadline;
    b->participant->EndSession(session, deadline, [self, b, txid, lost, deadline](const Status& ended) {
      if (!ended.ok()) return self->InDoubt(b, lost);
      b->participant->TransactionStatus(txid, deadline, [self, b, lost](Result<TxidOutcome> r) {
        if (r.ok() && *r == TxidOutcome::kCommitted) {
          self->core_->committed_one_phase++;
          self->EndStep(Status::OK());
          return self->Committed();
        }
        if (r.ok() && *r == TxidOutcome::kAborted) {
          // Not committed, for a reason that may not recur: the caller hears
          // the loss itself (TimedOut / Unavailable), now with a known outcome.
          b->vote = BranchVote::kRefused;
          std::string what = fmt::format(
              "{}: the server rolled the branch back, nothing was committed", lost.message());
          Status cause = lost.IsTimedOut() ? Status::TimedOut(std::move(what))
                                           : Status::Unavailable(std::move(what));
          return self->Abort(std::move(cause.WithParticipant(b->name())));
        }
        self->InDoubt(b, lost);
      });
    });
  }

  // Spreads the deciders over the participants by the gtrid's hash, among
  // the write branches whose transaction already holds an id when there are
  // any. The decider's transaction must hold one before any other branch
  // prepares: a fence then outlives it (the xmin rule, docs/protocol.md,
  // "Complete and forget"), so a decider that starts late can never commit
  // after recovery rolled the others back. A decider with queued statements
  // only runs them first, with txid_current(): one more round trip.
  // A transaction with a MariaDB branch has its decider named already (the
  // branch's gid holds it from XA START on): that PostgreSQL branch decides,
  // and is made a write branch if it was not one -- it then commits nothing
  // but the decision row (docs/protocol.md, "MariaDB participants").
  void ChooseDecider() {
    if (!txn_->named_decider.empty()) {
      decider_ = txn_->FindBranch(txn_->named_decider);
      auto read = std::find(reads_.begin(), reads_.end(), decider_);
      if (read != reads_.end()) {
        reads_.erase(read);
        writes_.push_back(decider_);
      }
    } else {
      std::vector<BranchState*> started;
      for (BranchState* b : writes_) {
        if (b->branch->txid() != 0) started.push_back(b);
      }
      const auto& pool = started.empty() ? writes_ : started;
      decider_ = pool[std::hash<std::string>{}(txn_->gtrid) % pool.size()];
    }
    for (BranchState* b : writes_) {
      b->gid = EncodeGid({core_->options.node_id, core_->log->incarnation(), txn_->txn, b->number,
                          decider_->name()});
      if (b != decider_) to_complete_.push_back(b);
    }
    if (decider_->branch->txid() != 0) return Prepare();
    std::vector<Query> work = std::move(decider_->queued);
    decider_->queued.clear();
    work.push_back({"SELECT txid_current()", {}});
    auto self = shared_from_this();
    decider_->branch->Execute(std::move(work), txn_->deadline,
                              [self](const Result<std::vector<QueryResult>>& r) {
                                BranchState* d = self->decider_;
                                if (!r.ok() || d->branch->txid() == 0) {
                                  Status s = r.ok() ? Status::Internal("no transaction id") : r.status();
                                  self->core_->metrics.ParticipantError(d->name(), s);
                                  d->vote = OutcomeUnknown(s) ? BranchVote::kUnknown : BranchVote::kRefused;
                                  return self->Abort(AbortCause(*d, s, "run its statements"));
                                }
                                self->Prepare();
                              });
  }

  void Prepare() {
    TWOPC_SYNC_POINT("before_prepare", 0);
    auto self = shared_from_this();
    auto join = std::make_shared<Join>(to_complete_.size() + reads_.size(), [self] {
      if (Status cause = self->FirstFailure(); !cause.ok()) return self->Abort(std::move(cause));
      self->EndStep(Status::OK());
      if (self->decider_ != nullptr) return self->DecideAtDecider();
      self->Decide();
    });
    for (BranchState* b : to_complete_) {
      auto span = BranchSpan(core_->tracer(), TracePhase::kPrepare, txn_->gtrid, b->name(), b->gid);
      b->branch->Prepare(std::move(b->queued), b->gid, txn_->deadline,
                         [self, b, join, span](const Status& s) {
        EndSpan(span, s);
        self->RecordVote(b, s, BranchVote::kPrepared, "prepare");
        if (s.ok()) TWOPC_SYNC_POINT("after_prepare", ++self->prepared_);
        join->Arrive();
      });
    }
    for (BranchState* b : reads_) {
      auto span = BranchSpan(core_->tracer(), TracePhase::kPrepare, txn_->gtrid, b->name(), b->gid);
      b->branch->CommitOnePhase({}, txn_->deadline, [self, b, join, span](const Status& s) {
        EndSpan(span, s);
        self->RecordVote(b, s, BranchVote::kReadOnly, "commit");
        join->Arrive();
      });
    }
  }

  void RecordVote(BranchState* b, const Status& s, BranchVote yes, const char* step) {
    if (s.ok()) {
      b->vote = yes;
      return;
    }
    b->vote = OutcomeUnknown(s) ? BranchVote::kUnknown : BranchVote::kRefused;
    core_->metrics.ParticipantError(b->name(), s);
    MutexLock lock(mutex_);
    if (first_failure_.ok()) first_failure_ = AbortCause(*b, s, step);
  }

  Status FirstFailure() {
    MutexLock lock(mutex_);
    return first_failure_;
  }

  DecisionRecord Record(Decision d) const {
    DecisionRecord r;
    r.gtrid = txn_->gtrid;
    r.decision = d;
    r.incarnation = core_->log->incarnation();
    if (decider_ != nullptr) r.decider = decider_->name();
    for (BranchState* b : to_complete_) {
      b->txid = b->branch != nullptr ? b->branch->txid() : 0;
      r.branches.push_back({b->name(), b->gid, b->txid});
    }
    return r;
  }

  // The commit point: the transaction is committed exactly when this record
  // is durable. A crash before it leaves prepared branches with no decision,
  // which recovery rolls back (presumed abort).
  void Decide() {
    Advance(txn_->phase.BeginDecide(), "BeginDecide");
    StartStep(TracePhase::kDecide);
    TWOPC_SYNC_POINT("before_decision", 0);
    auto self = shared_from_this();
    core_->log->DecideAsync(Record(Decision::kCommit), [self](Status s) {
      // Called on the log's writer thread: continue on an I/O thread.
      asio::post(self->core_->io, [self, s = std::move(s)]() mutable { self->OnDecided(std::move(s)); });
    });
  }

  void OnDecided(Status s) {
    if (s.ok()) {
      EndStep(s);
      EnterCompleting();
      TWOPC_SYNC_POINT("after_decision_forced", 0);
      return Complete();
    }
    if (s.IsConflict()) {
      // Recovery fenced this transaction with an ABORT record first.
      return Abort(Status::Aborted("the decision log already holds ABORT for " + txn_->gtrid +
                                   " (recovery decided it while this process was slow)"));
    }
    if (s.IsInDoubt()) {
      // The record may or may not have reached the disk (e.g. fsync failed
      // after the write): leave the branches prepared; recovery decides from
      // what the log holds once it is reopened.
      return InDoubt(nullptr, s);
    }
    // The write failed. Do not guess: read what the log holds. No record
    // means not committed (a failed SQLite transaction is rolled back), and
    // with presumed abort "no record" already is the abort decision.
    LogWith(LogLevel::kError, {.event = "decision_write_failed", .gtrid = txn_->gtrid, .phase = "decide"},
            "twopc: forcing the COMMIT record of {} failed: {}", txn_->gtrid, s.ToString());
    auto found = core_->log->Lookup(txn_->gtrid);
    if (!found.ok()) {
      // Neither written nor readable: the branches stay prepared and
      // recovery decides once the log is back.
      return InDoubt(nullptr, Status::IOError("decision log unusable: " + s.message() + "; " +
                                              found.status().message()));
    }
    if (found.value().has_value() && found.value()->decision == Decision::kCommit) {
      EndStep(Status::OK());
      EnterCompleting();
      return Complete();
    }
    Abort(std::move(Status::Aborted("cannot force the COMMIT record: " + s.message()))
              .WithParticipant("decision log"));
  }

  // The commit point with the decisions inside PostgreSQL: the decider's
  // queued work, the COMMIT row and COMMIT in one round trip. A fence
  // written first makes the insert fail on the primary key, and the
  // decider's work rolls back with it (docs/protocol.md, "First decision
  // wins").
  void DecideAtDecider() {
    Advance(txn_->phase.BeginDecide(), "BeginDecide");
    StartStep(TracePhase::kDecide, decider_->name());
    TWOPC_SYNC_POINT("before_decision", 0);
    if (!core_->log->registered()) {
      return Abort(Status::Aborted(
          "this coordinator lost its registration (its registry connection); it decides nothing "
          "until it has registered again"));
    }
    std::vector<Query> last = std::move(decider_->queued);
    decider_->queued.clear();
    last.push_back(CommitRowQuery(Record(Decision::kCommit), core_->coordinator_label));
    auto self = shared_from_this();
    decider_->branch->CommitOnePhase(std::move(last), txn_->deadline, [self](const Status& s) {
      BranchState* d = self->decider_;
      if (s.ok()) {
        d->completed = true;
        self->EndStep(s);
        self->EnterCompleting();
        TWOPC_SYNC_POINT("after_decision_forced", 0);
        return self->Complete();
      }
      self->core_->metrics.ParticipantError(d->name(), s);
      if (OutcomeUnknown(s)) return self->SettleAtDecider(s);
      d->vote = BranchVote::kRefused;
      if (s.sqlstate() == "23505") {
        return self->Abort(std::move(Status::Aborted(
                               "recovery decided ABORT for " + self->txn_->gtrid + " first (its fence at " +
                               d->name() + "), while this process was slow")
                               .WithParticipant(d->name())));
      }
      self->Abort(AbortCause(*d, s, "commit"));
    });
  }

  // The decider's COMMIT was sent and its answer lost. The outcome is
  // settled, not guessed: its session is ended, then a fence is tried in its
  // table -- it wins only if the COMMIT did not (docs/protocol.md, "In doubt
  // at the decider"). The fence blocks, so it runs on the slow-path thread.
  void SettleAtDecider(const Status& lost) {
    BranchState* d = decider_;
    int session = d->branch != nullptr ? d->branch->session() : 0;
    auto self = shared_from_this();
    Deadline deadline = Clock::now() + core_->options.default_deadline;
    d->participant->EndSession(session, deadline, [self, lost](const Status&) {
      // Whether the session ended or not, the fence is safe: it waits on the
      // decider's row if the COMMIT is still running.
      asio::post(self->core_->slow_path, [self, lost] {
        Status fenced = self->core_->log->Decide(self->Record(Decision::kAbort));
        asio::post(self->core_->io, [self, lost, fenced] { self->OnSettled(lost, fenced); });
      });
    });
  }

  void OnSettled(const Status& lost, const Status& fenced) {
    BranchState* d = decider_;
    if (fenced.IsConflict()) {  // the COMMIT row is there: committed
      d->completed = true;
      EndStep(Status::OK());
      EnterCompleting();
      return Complete();
    }
    if (fenced.ok()) {  // our fence won: nothing committed
      d->vote = BranchVote::kRefused;
      std::string what = fmt::format("{}: settled by a fence at {}, nothing was committed", lost.message(),
                                     d->name());
      Status cause = lost.IsTimedOut() ? Status::TimedOut(std::move(what)) : Status::Unavailable(std::move(what));
      return Abort(std::move(cause.WithParticipant(d->name())));
    }
    LogWith(LogLevel::kError,
            {.event = "decision_in_doubt", .gtrid = txn_->gtrid, .participant = d->name(),
             .sqlstate = fenced.sqlstate(), .phase = "decide"},
            "twopc: the COMMIT of {} at its decider {} was lost, and fencing failed ({}); "
            "Coordinator::OutcomeOf settles it later",
            txn_->gtrid, d->name(), fenced.ToString());
    InDoubt(d, lost);
  }

  // Read-only, or committed in one phase: nothing left to complete.
  void Committed() {
    core_->committed++;
    Advance(txn_->phase.Finish(), "Finish");
    ReleaseBranches();
    Report(Status::OK());
  }

  // The COMMIT record is durable: the decision is over, recovery no longer
  // takes the transaction for deciding, and leaves phase 2 to this process.
  void EnterCompleting() {
    // The guard first: WaitForCompletions counts guards, and must never see
    // none while a transaction is completing.
    guard_ = std::make_unique<CoordinatorImpl::OpGuard>(core_);
    Advance(txn_->phase.BeginComplete(), "BeginComplete");
  }

  void Complete() {
    core_->committed++;
    StartStep(TracePhase::kComplete);
    if (txn_->options.early_ack) {
      Report(Status::OK());
    } else {
      // The caller waits for phase 2, but not past its deadline: after that
      // it hears "committed" and completion goes on in the background.
      report_timer_.expires_at(txn_->deadline);
      report_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->Report(Status::OK());
      });
    }
    // The join is owned by the branches' callbacks only, never by this
    // operation: a member would close a cycle (operation -> join -> `then`
    // -> operation) and leak both, and the TxnState with them.
    auto self = shared_from_this();
    auto join = std::make_shared<Join>(to_complete_.size(), [self] { self->Forget(); });
    for (BranchState* b : to_complete_) CompleteBranch(b, join, 0, Clock::now());
  }

  void CompleteBranch(BranchState* b, std::shared_ptr<Join> join, int attempt,
                      Clock::time_point first_try) {
    auto self = shared_from_this();
    auto span = BranchSpan(core_->tracer(), TracePhase::kComplete, txn_->gtrid, b->name(), b->gid, attempt);
    auto on_done = [self, b, join, attempt, first_try, span](const Status& s) {
      EndSpan(span, s);
      if (s.ok()) return self->Completed(b, join);
      // Gone: committed by an earlier try whose answer was lost -- or rolled
      // back by hand. Only PostgreSQL can tell which.
      if (s.IsNotFound()) return self->CheckGone(b, join, attempt, first_try);
      self->RetryComplete(b, join, attempt, first_try, s);
    };
    Deadline deadline = Clock::now() + core_->options.default_deadline;
    // On the branch's own connection while it works: it saves a pool round
    // trip, and MariaDB answers a prepared branch only there while that
    // session lives (docs/protocol.md, "MariaDB participants").
    if (b->branch != nullptr && b->branch->session() == 0) {
      b->branch->CommitPrepared(b->gid, deadline, std::move(on_done));
    } else {
      b->participant->CommitPrepared(b->gid, deadline, std::move(on_done));
    }
  }

  void Completed(BranchState* b, const std::shared_ptr<Join>& join) {
    b->completed = true;
    TWOPC_SYNC_POINT("after_commit_prepared", ++completed_);
    join->Arrive();
  }

  // COMMIT PREPARED found no such branch. txid_status() of the id kept in
  // the COMMIT record says whether it committed (an earlier try did it) or
  // was rolled back behind the log's back: a mixed outcome, recorded and
  // reported, never counted as done (docs/protocol.md).
  void CheckGone(BranchState* b, std::shared_ptr<Join> join, int attempt, Clock::time_point first_try) {
    if (b->txid == 0) {
      // A MariaDB branch: MariaDB keeps no outcome of a finished XA branch,
      // so a gone one cannot be told committed from rolled back by hand
      // (docs/protocol.md, "MariaDB participants").
      LogWith(LogLevel::kWarn,
              {.event = "branch_gone", .gtrid = txn_->gtrid, .gid = b->gid, .participant = b->name(),
               .phase = "complete"},
              "twopc: {} on {} is gone and its server cannot say what became of it; taking it as committed",
              b->gid, b->name());
      return Completed(b, join);
    }
    auto self = shared_from_this();
    Deadline deadline = Clock::now() + core_->options.default_deadline;
    b->participant->TransactionStatus(
        b->txid, deadline, [self, b, join, attempt, first_try](Result<TxidOutcome> r) {
          if (!r.ok()) return self->RetryComplete(b, join, attempt, first_try, r.status());
          switch (*r) {
            case TxidOutcome::kCommitted:
              return self->Completed(b, join);
            case TxidOutcome::kAborted:
              self->RecordMixed(b);
              return self->Completed(b, join);
            case TxidOutcome::kInProgress:
              // Another session is committing it right now (recovery).
              return self->RetryComplete(
                  b, join, attempt, first_try,
                  Status::Unavailable("branch not prepared but its transaction is in progress"),
                  /*participant_failed=*/false);
            case TxidOutcome::kUnknown:
              LogWith(LogLevel::kWarn,
                      {.event = "branch_gone", .gtrid = self->txn_->gtrid, .gid = b->gid,
                       .participant = b->name(), .phase = "complete"},
                      "twopc: {} on {} is gone and its transaction id {} is too old for txid_status(); "
                      "taking it as committed",
                      b->gid, b->name(), b->txid);
              return self->Completed(b, join);
          }
        });
  }

  // A branch of a committed transaction was rolled back by someone else.
  // The heuristic record is forced before END can be written, so the mixed
  // outcome outlives this process; the caller hears HeuristicMixed.
  void RecordMixed(BranchState* b) {
    HeuristicRecord h;
    h.gtrid = txn_->gtrid;
    h.gid = b->gid;
    h.participant = b->name();
    h.action = Decision::kAbort;
    h.logged = Decision::kCommit;
    h.note = fmt::format("found rolled back at completion: txid_status({}) = aborted", b->txid);
    // Blocks this I/O thread for one forced write; it happens only when an
    // operator or another tool broke the transaction.
    Status s = core_->log->RecordHeuristic(h);
    core_->metrics.HeuristicOutcome();
    LogWith(LogLevel::kError,
            {.event = "heuristic_mixed", .gtrid = txn_->gtrid, .gid = b->gid, .participant = b->name(),
             .phase = "complete"},
            "twopc: {} on {} was rolled back behind the coordinator's back although {} is committed: "
            "mixed outcome{}",
            b->gid, b->name(), txn_->gtrid,
            s.ok() ? " (recorded in the decision log)" : ", NOT recorded: " + s.ToString());
    core_->heuristic_mixed++;
    MutexLock lock(mutex_);
    mixed_.push_back(b->name());
  }

  // `participant_failed`: `s` is the participant's answer (counted as its
  // error), not a conclusion of the coordinator's.
  void RetryComplete(BranchState* b, std::shared_ptr<Join> join, int attempt,
                     Clock::time_point first_try, const Status& s, bool participant_failed = true) {
    const auto& o = core_->options;
    if (participant_failed) core_->metrics.ParticipantError(b->name(), s);
    if (Clock::now() - first_try >= o.complete_retry_for) {
      LogWith(LogLevel::kError,
              {.event = "phase2_gave_up", .gtrid = txn_->gtrid, .gid = b->gid, .participant = b->name(),
               .sqlstate = s.sqlstate(), .phase = "complete",
               .duration_seconds = std::chrono::duration<double>(Clock::now() - first_try).count()},
              "twopc: COMMIT PREPARED of {} on {} still failing after {} tries ({}); leaving it to recovery",
              b->gid, b->name(), attempt + 1, s.ToString());
      return join->Arrive();
    }
    LogWith(LogLevel::kWarn,
            {.event = "phase2_retry", .gtrid = txn_->gtrid, .gid = b->gid, .participant = b->name(),
             .sqlstate = s.sqlstate(), .phase = "complete",
             .duration_seconds = std::chrono::duration<double>(Clock::now() - first_try).count()},
            "twopc: COMMIT PREPARED of {} on {} failed ({}); retrying", b->gid, b->name(), s.ToString());
    core_->metrics.Phase2Retry(b->name());
    // Full jitter: every branch on a restarting server fails at once, and a
    // fixed schedule would bring them all back at the same instant.
    auto backoff = internal::Backoff({o.complete_retry_initial, o.complete_retry_max}, attempt + 1);
    auto timer = std::make_shared<asio::steady_timer>(core_->io, backoff);
    auto self = shared_from_this();
    timer->async_wait([self, timer, b, join, attempt, first_try](const boost::system::error_code&) {
      self->CompleteBranch(b, join, attempt + 1, first_try);
    });
  }

  void Forget() {
    bool all = true;
    for (BranchState* b : to_complete_) all = all && b->completed;
    if (all) {
      TWOPC_SYNC_POINT("before_end", 0);
      core_->log->End(txn_->gtrid);
    }
    Advance(txn_->phase.Finish(), "Finish");
    ReleaseBranches();
    report_timer_.cancel();
    std::vector<std::string> mixed;
    {
      MutexLock lock(mutex_);
      mixed = mixed_;
    }
    // Phase 2 ends OK when every branch completed; what recovery is left
    // with is Unavailable.
    EndStep(all ? Status::OK() : Status::Unavailable("phase 2 left to recovery"));
    if (mixed.empty()) {
      Report(Status::OK());
    } else {
      Report(std::move(Status::HeuristicMixed(fmt::format(
                 "{} is committed, but its branch on {} was found rolled back (someone ran "
                 "ROLLBACK PREPARED): mixed outcome, recorded in the decision log; see `twopc "
                 "status`", txn_->gtrid, fmt::join(mixed, ", ")))
                 .WithParticipant(mixed.front())));
    }
    guard_.reset();
  }

  // Rolls back whatever exists of the transaction, then reports `cause`.
  // Nothing is written to the log: presumed abort.
  void Abort(Status cause) {
    Advance(txn_->phase.BeginAbort(), "BeginAbort");
    EndStep(cause);
    StartStep(TracePhase::kAbort);
    auto self = shared_from_this();
    std::vector<BranchState*> to_undo;
    for (auto& b : txn_->branches) if (b->branch != nullptr || b->vote == BranchVote::kUnknown) to_undo.push_back(b.get());
    auto join = std::make_shared<Join>(to_undo.size(), [self, cause] {
      self->EndStep(Status::OK());
      self->core_->aborted++;
      self->Advance(self->txn_->phase.Finish(), "Finish");
      self->ReleaseBranches();
      self->Report(cause);
    });
    for (BranchState* b : to_undo) {
      auto warn = [self, b, join](const Status& s) {
        if (!s.ok() && !s.IsNotFound()) {
          self->core_->metrics.ParticipantError(b->name(), s);
          LogWith(LogLevel::kWarn,
                  {.event = "rollback_failed", .gtrid = self->txn_->gtrid, .gid = b->gid,
                   .participant = b->name(), .sqlstate = s.sqlstate(), .phase = "abort"},
                  "twopc: rolling back {} on {} failed ({}); recovery will resolve it", b->gid, b->name(),
                  s.ToString());
        }
        join->Arrive();
      };
      Deadline deadline = Clock::now() + core_->options.default_deadline;
      // A PREPARE that answered OK is undone with ROLLBACK PREPARED even when
      // the request failed after it: a plain ROLLBACK would find no
      // transaction and leave the branch prepared.
      bool maybe_prepared = b->vote == BranchVote::kPrepared || b->vote == BranchVote::kUnknown ||
                            (b->branch != nullptr && b->branch->prepared());
      if (!maybe_prepared) {
        b->branch->Rollback(deadline, std::move(warn));
      } else if (b->branch != nullptr && b->branch->session() > 0) {
        // Timed out or cut off: its session may still run the PREPARE it
        // was sent. The branch is not gone until that session is -- and a
        // prepared MariaDB branch stays attached to it until then.
        int session = b->branch->session();
        b->participant->EndSession(session, deadline, [b, deadline, warn = std::move(warn)](const Status& s) mutable {
          if (!s.ok()) {
            LogWith(LogLevel::kWarn,
                    {.event = "end_session_failed", .gid = b->gid, .participant = b->name(),
                     .sqlstate = s.sqlstate(), .phase = "abort"},
                    "twopc: cannot end the session of {} on {} ({}); a late PREPARE is left to recovery",
                    b->gid, b->name(), s.ToString());
          }
          b->participant->RollbackPrepared(b->gid, deadline, std::move(warn));
        });
      } else if (b->branch != nullptr && b->branch->prepared() && b->branch->session() == 0) {
        // Its own connection still works: MariaDB answers a prepared XA
        // branch only there while that session lives.
        b->branch->RollbackPrepared(b->gid, deadline, std::move(warn));
      } else {
        b->participant->RollbackPrepared(b->gid, deadline, std::move(warn));
      }
    }
  }

  // `b` lost its connection while its one-phase COMMIT was in flight, or the
  // log cannot be written (b == nullptr): the outcome is not ours to know.
  void InDoubt(BranchState* b, const Status& s) {
    core_->in_doubt++;
    EndStep(s);
    // What Coordinator::OutcomeOf needs to settle it later.
    CoordinatorImpl::InDoubtTxn remembered;
    remembered.fence = Record(Decision::kAbort);
    if (b != nullptr) {
      remembered.participant = b->name();
      remembered.txid = b->txid != 0 ? b->txid : (b->branch != nullptr ? b->branch->txid() : 0);
      remembered.one_phase = b != decider_;
    }
    core_->RememberInDoubt(txn_->gtrid, std::move(remembered));
    Advance(txn_->phase.MarkInDoubt(), "MarkInDoubt");
    ReleaseBranches();
    std::string where = b != nullptr ? b->name() : "decision log";
    auto st = Status::InDoubt(fmt::format("outcome of {} unknown: {} ({})", txn_->gtrid, s.message(), where));
    if (b != nullptr) st.WithParticipant(b->name());
    Report(std::move(st));
  }

  // Each step moves the phase by the one transition the protocol allows
  // there; a refusal is a bug (docs/protocol.md, "Transaction phases").
  void Advance(bool made, const char* transition) {
    ExpectTransition(made, txn_->phase.Get(), transition);
  }

  void ReleaseBranches() {
    for (auto& b : txn_->branches) b->branch.reset();
  }

  void Report(Status s) {
    std::function<void(Status)> done;
    {
      MutexLock lock(mutex_);
      done = std::move(done_);
      done_ = nullptr;
    }
    if (!done) return;  // answered already (phase 2 outlasted the deadline)
    TxnOutcome outcome = s.ok() || s.IsHeuristicMixed() ? TxnOutcome::kCommitted
                         : s.IsInDoubt()                  ? TxnOutcome::kInDoubt
                                                          : TxnOutcome::kAborted;
    core_->metrics.TransactionEnded(outcome, path_, commit_span_.End(s));
    done(std::move(s));
  }

  std::shared_ptr<TxnState> txn_;
  CoordinatorImpl* core_;
  Mutex mutex_;
  std::function<void(Status)> done_ TWOPC_GUARDED_BY(mutex_);  // empty once reported
  asio::steady_timer report_timer_;
  std::vector<BranchState*> writes_, reads_;
  // The branches that prepare and complete: every write branch, or every
  // one but the decider when the decisions are inside PostgreSQL.
  std::vector<BranchState*> to_complete_;
  BranchState* decider_ = nullptr;  // store = "postgres", two or more write branches
  Status first_failure_ TWOPC_GUARDED_BY(mutex_);
  std::vector<std::string> mixed_ TWOPC_GUARDED_BY(mutex_);  // branches found rolled back
  std::atomic<int> prepared_{0}, completed_{0};
  std::unique_ptr<CoordinatorImpl::OpGuard> guard_;
  // Ended by the one Report() caller that took `done`, after the lock.
  PhaseSpan commit_span_;
  PhaseSpan step_;
  TracePhase step_phase_ = TracePhase::kPrepare;
  CommitPath path_ = CommitPath::kReadOnly;
};

}  // namespace

void RunCommit(std::shared_ptr<TxnState> txn, std::function<void(Status)> done) {
  std::make_shared<CommitOperation>(std::move(txn), std::move(done))->Start();
}

void RunRollback(std::shared_ptr<TxnState> txn, std::function<void(Status)> done) {
  std::vector<BranchState*> open;
  for (auto& b : txn->branches) if (b->branch != nullptr) open.push_back(b.get());
  auto first_error = std::make_shared<Status>();
  auto mutex = std::make_shared<std::mutex>();
  auto span = std::make_shared<PhaseSpan>(txn->core->tracer(), TracePhase::kAbort, txn->gtrid);
  auto join = std::make_shared<Join>(open.size(), [txn, first_error, span, done = std::move(done)] {
    span->End(*first_error);
    ExpectTransition(txn->phase.Finish(), txn->phase.Get(), "Finish");
    for (auto& b : txn->branches) b->branch.reset();
    done(*first_error);
  });
  for (BranchState* b : open) {
    b->branch->Rollback(Clock::now() + txn->core->options.default_deadline,
                        [first_error, mutex, join](Status s) {
                          if (!s.ok()) {
                            std::lock_guard lock(*mutex);
                            if (first_error->ok()) *first_error = std::move(s);
                          }
                          join->Arrive();
                        });
  }
}

}  // namespace twopc::internal
