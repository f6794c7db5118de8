// The commit state machine of DESIGN.md §2 (presumed abort):
//
//   prepare   all write branches PREPARE in parallel, read-only ones commit
//   decide    COMMIT record forced to the decision log -- the commit point
//   complete  COMMIT PREPARED on every branch, retried with backoff
//   forget    END record (not forced)
//
// Each step is one method of CommitOperation; every callback that ends a
// parallel step goes through a Join so the next step starts exactly once.
#include <fmt/format.h>
#include "coordinator/logging.h"

#include <atomic>
#include <random>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "coordinator/sync_point.h"
#include "coordinator/transaction_state.h"

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
    if (!txn_->failure.ok()) {
      Abort(Status::Aborted("an earlier statement failed: " + txn_->failure.ToString())
                .WithParticipant(txn_->failure.participant())
                .WithSqlState(txn_->failure.sqlstate()));
      return;
    }
    OpenQueuedBranches();
  }

 private:
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
      b->participant->Open(txn_->options, txn_->deadline,
                           [b, i, failures, join](Result<std::unique_ptr<Branch>> r) {
                             if (r.ok()) {
                               b->branch = std::move(r.value());
                             } else {
                               (*failures)[i] = AbortCause(*b, r.status(), "start");
                             }
                             join->Arrive();
                           });
    }
  }

  void Classify() {
    for (auto& b : txn_->branches) (b->is_write() ? writes_ : reads_).push_back(b.get());
    if (writes_.size() >= 2) return Prepare();
    if (writes_.size() == 1) return VoteReadOnly([self = shared_from_this()] { self->CommitOnePhase(); });
    VoteReadOnly([self = shared_from_this()] {
      self->core_->committed_read_only++;
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
      b->branch->CommitOnePhase({}, txn_->deadline, [self, b, join](Status s) {
        self->RecordVote(b, s, BranchVote::kReadOnly, "commit");
        join->Arrive();
      });
    }
  }

  // A single write branch: its own COMMIT is the decision, no log record.
  void CommitOnePhase() {
    BranchState* b = writes_.front();
    auto self = shared_from_this();
    b->branch->CommitOnePhase(std::move(b->queued), txn_->deadline, [self, b](Status s) {
      if (s.ok()) {
        self->core_->committed_one_phase++;
        return self->Committed();
      }
      if (OutcomeUnknown(s)) return self->InDoubt(b, s);
      b->vote = BranchVote::kRefused;
      self->Abort(AbortCause(*b, s, "commit"));
    });
  }

  void Prepare() {
    TWOPC_SYNC_POINT("before_prepare", 0);
    auto self = shared_from_this();
    auto join = std::make_shared<Join>(writes_.size() + reads_.size(), [self] {
      if (Status cause = self->FirstFailure(); !cause.ok()) return self->Abort(std::move(cause));
      self->Decide();
    });
    for (BranchState* b : writes_) {
      b->branch->Prepare(std::move(b->queued), b->gid, txn_->deadline, [self, b, join](Status s) {
        self->RecordVote(b, s, BranchVote::kPrepared, "prepare");
        if (s.ok()) TWOPC_SYNC_POINT("after_prepare", ++self->prepared_);
        join->Arrive();
      });
    }
    for (BranchState* b : reads_) {
      b->branch->CommitOnePhase({}, txn_->deadline, [self, b, join](Status s) {
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
    std::lock_guard lock(mutex_);
    if (first_failure_.ok()) first_failure_ = AbortCause(*b, s, step);
  }

  Status FirstFailure() {
    std::lock_guard lock(mutex_);
    return first_failure_;
  }

  DecisionRecord Record(Decision d) const {
    DecisionRecord r;
    r.gtrid = txn_->gtrid;
    r.decision = d;
    for (BranchState* b : writes_) r.branches.push_back({b->name(), b->gid});
    return r;
  }

  // The commit point: the transaction is committed exactly when this record
  // is durable. A crash before it leaves prepared branches with no decision,
  // which recovery rolls back (presumed abort).
  void Decide() {
    TWOPC_SYNC_POINT("before_decision", 0);
    auto self = shared_from_this();
    core_->log->DecideAsync(Record(Decision::kCommit), [self](Status s) {
      // Called on the log's writer thread: continue on an I/O thread.
      asio::post(self->core_->io, [self, s = std::move(s)]() mutable { self->OnDecided(std::move(s)); });
    });
  }

  void OnDecided(Status s) {
    if (s.ok()) {
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
    twopc::internal::Log().error("twopc: forcing the COMMIT record of {} failed: {}", txn_->gtrid, s.ToString());
    auto found = core_->log->Lookup(txn_->gtrid);
    if (!found.ok()) {
      // Neither written nor readable: the branches stay prepared and
      // recovery decides once the log is back.
      return InDoubt(nullptr, Status::IOError("decision log unusable: " + s.message() + "; " +
                                              found.status().message()));
    }
    if (found.value().has_value() && found.value()->decision == Decision::kCommit) return Complete();
    Abort(std::move(Status::Aborted("cannot force the COMMIT record: " + s.message()))
              .WithParticipant("decision log"));
  }

  void Committed() {
    core_->committed++;
    txn_->phase = TxnPhase::kFinished;
    ReleaseBranches();
    Report(Status::OK());
  }

  void Complete() {
    core_->committed++;
    core_->BeginCompleting(txn_->gtrid);
    guard_ = std::make_unique<CoordinatorImpl::OpGuard>(core_);
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
    auto self = shared_from_this();
    complete_join_ = std::make_shared<Join>(writes_.size(), [self] { self->Forget(); });
    for (BranchState* b : writes_) CompleteBranch(b, 0, Clock::now());
  }

  void CompleteBranch(BranchState* b, int attempt, Clock::time_point first_try) {
    auto self = shared_from_this();
    auto on_done = [self, b, attempt, first_try](Status s) {
      // NotFound: an earlier try (whose answer was lost) already committed it.
      if (s.ok() || s.IsNotFound()) {
        b->completed = true;
        TWOPC_SYNC_POINT("after_commit_prepared", ++self->completed_);
        return self->complete_join_->Arrive();
      }
      self->RetryComplete(b, attempt, first_try, s);
    };
    Deadline deadline = Clock::now() + core_->options.default_deadline;
    if (attempt == 0 && b->branch != nullptr) {
      b->branch->CommitPrepared(b->gid, deadline, std::move(on_done));
    } else {
      b->participant->CommitPrepared(b->gid, deadline, std::move(on_done));
    }
  }

  void RetryComplete(BranchState* b, int attempt, Clock::time_point first_try, const Status& s) {
    const auto& o = core_->options;
    if (Clock::now() - first_try >= o.complete_retry_for) {
      twopc::internal::Log().error("twopc: COMMIT PREPARED of {} on {} still failing after {} tries ({}); "
                    "leaving it to recovery", b->gid, b->name(), attempt + 1, s.ToString());
      return complete_join_->Arrive();
    }
    twopc::internal::Log().warn("twopc: COMMIT PREPARED of {} on {} failed ({}); retrying", b->gid, b->name(),
                 s.ToString());
    auto backoff = std::min<std::chrono::milliseconds>(
        o.complete_retry_max, o.complete_retry_initial * (1LL << std::min(attempt, 16)));
    thread_local std::minstd_rand rng{std::random_device{}()};
    backoff = backoff / 2 + std::chrono::milliseconds(rng() % (backoff.count() / 2 + 1));
    auto timer = std::make_shared<asio::steady_timer>(core_->io, backoff);
    auto self = shared_from_this();
    timer->async_wait([self, timer, b, attempt, first_try](const boost::system::error_code&) {
      self->CompleteBranch(b, attempt + 1, first_try);
    });
  }

  void Forget() {
    bool all = true;
    for (BranchState* b : writes_) all = all && b->completed;
    if (all) {
      TWOPC_SYNC_POINT("before_end", 0);
      core_->log->End(txn_->gtrid);
    }
    core_->EndCompleting(txn_->gtrid);
    txn_->phase = TxnPhase::kFinished;
    ReleaseBranches();
    report_timer_.cancel();
    Report(Status::OK());
    guard_.reset();
  }

  // Rolls back whatever exists of the transaction, then reports `cause`.
  // Nothing is written to the log: presumed abort.
  void Abort(Status cause) {
    auto self = shared_from_this();
    std::vector<BranchState*> to_undo;
    for (auto& b : txn_->branches) if (b->branch != nullptr || b->vote == BranchVote::kUnknown) to_undo.push_back(b.get());
    auto join = std::make_shared<Join>(to_undo.size(), [self, cause] {
      self->core_->aborted++;
      self->txn_->phase = TxnPhase::kFinished;
      self->ReleaseBranches();
      self->Report(cause);
    });
    for (BranchState* b : to_undo) {
      auto warn = [b, join](Status s) {
        if (!s.ok() && !s.IsNotFound()) {
          twopc::internal::Log().warn("twopc: rolling back {} on {} failed ({}); recovery will resolve it",
                       b->gid, b->name(), s.ToString());
        }
        join->Arrive();
      };
      if (b->vote == BranchVote::kPrepared || b->vote == BranchVote::kUnknown) {
        b->participant->RollbackPrepared(b->gid, Clock::now() + core_->options.default_deadline,
                                         std::move(warn));
      } else {
        b->branch->Rollback(Clock::now() + core_->options.default_deadline, std::move(warn));
      }
    }
  }

  // `b` lost its connection while its one-phase COMMIT was in flight, or the
  // log cannot be written (b == nullptr): the outcome is not ours to know.
  void InDoubt(BranchState* b, const Status& s) {
    core_->in_doubt++;
    txn_->phase = TxnPhase::kFinished;
    ReleaseBranches();
    std::string where = b != nullptr ? b->name() : "decision log";
    auto st = Status::InDoubt(fmt::format("outcome of {} unknown: {} ({})", txn_->gtrid, s.message(), where));
    if (b != nullptr) st.WithParticipant(b->name());
    Report(std::move(st));
  }

  void ReleaseBranches() {
    for (auto& b : txn_->branches) b->branch.reset();
  }

  void Report(Status s) {
    std::function<void(Status)> done;
    {
      std::lock_guard lock(mutex_);
      done = std::move(done_);
      done_ = nullptr;
    }
    if (done) done(std::move(s));
  }

  std::shared_ptr<TxnState> txn_;
  CoordinatorImpl* core_;
  std::function<void(Status)> done_;  // GUARDED_BY(mutex_); empty once reported
  asio::steady_timer report_timer_;
  std::vector<BranchState*> writes_, reads_;
  std::mutex mutex_;
  Status first_failure_;  // GUARDED_BY(mutex_)
  std::atomic<int> prepared_{0}, completed_{0};
  std::shared_ptr<Join> complete_join_;
  std::unique_ptr<CoordinatorImpl::OpGuard> guard_;
};

}  // namespace

void RunCommit(std::shared_ptr<TxnState> txn, std::function<void(Status)> done) {
  txn->phase = TxnPhase::kCommitting;
  std::make_shared<CommitOperation>(std::move(txn), std::move(done))->Start();
}

void RunRollback(std::shared_ptr<TxnState> txn, std::function<void(Status)> done) {
  txn->phase = TxnPhase::kFinished;
  std::vector<BranchState*> open;
  for (auto& b : txn->branches) if (b->branch != nullptr) open.push_back(b.get());
  auto first_error = std::make_shared<Status>();
  auto mutex = std::make_shared<std::mutex>();
  auto join = std::make_shared<Join>(open.size(), [txn, first_error, done = std::move(done)] {
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
