// Transaction: the application's handle on one global transaction. The sync
// methods run the async ones and wait; all protocol work happens on the
// coordinator's I/O threads.
#include "common/wait.h"
#include "coordinator/transaction_control.h"
#include "coordinator/transaction_state.h"
#include "twopc/gid.h"

namespace twopc {

using internal::AwaitCallback;
using internal::BranchState;
using internal::CorePin;
using internal::Query;
using internal::TxnState;

namespace internal {

BranchState* TxnState::FindBranch(std::string_view participant) {
  for (auto& b : branches) if (b->name() == participant) return b.get();
  return nullptr;
}

BranchState* TxnState::AddBranch(Participant* participant) {
  auto b = std::make_unique<BranchState>();
  b->participant = participant;
  b->number = static_cast<uint32_t>(branches.size() + 1);
  // With the decisions inside PostgreSQL the gid names the decider, which is
  // chosen at commit (commit_protocol.cc): the gids are written then --
  // but for a MariaDB branch, named at XA START: the decider is chosen now,
  // among the PostgreSQL participants, and its branch added (empty) so that
  // the commit can make it the decider (docs/protocol.md, "MariaDB
  // participants").
  if (!core->log->shared()) {
    b->gid = EncodeGid({core->options.node_id, core->log->incarnation(), txn, b->number});
  } else if (participant->kind() == ParticipantKind::kMariaDb) {
    if (named_decider.empty()) named_decider = core->ChooseNamedDecider(gtrid);
    b->gid = EncodeGid({core->options.node_id, core->log->incarnation(), txn, b->number, named_decider});
  }
  branches.push_back(std::move(b));
  BranchState* added = branches.back().get();
  if (!named_decider.empty() && FindBranch(named_decider) == nullptr) {
    AddBranch(core->FindParticipant(named_decider));
  }
  return added;
}

}  // namespace internal

namespace {

Status NotActive(const TxnState& t) {
  return Status::InvalidArgument("transaction " + t.gtrid + " is no longer active");
}

Status CheckActive(const TxnState& t) { return t.phase.active() ? Status::OK() : NotActive(t); }

// What a call answers when it could not pin the coordinator: it is gone.
// A transaction it rolled back on its way says so; a finished one answers
// as any finished transaction (`finished` is that answer).
Status WithoutCoordinator(const TxnState& t, Status finished) {
  // Phase first: the coordinator marks `orphaned` before it ends the phase.
  if (t.phase.active() || t.orphaned) {
    return Status::Aborted("transaction " + t.gtrid +
                           " outlived its Coordinator, which rolled it back when it was "
                           "destroyed: nothing of it committed");
  }
  return finished;
}

// Transaction control belongs to Commit()/Rollback(): a COMMIT sent through
// Execute would commit this branch for good while the others may still
// abort. Refused before anything is sent, and the transaction is doomed: the
// caller's plan had a commit in the middle that cannot happen.
Status RefuseTransactionControl(TxnState& t, std::string_view participant,
                                const std::string& sql) {
  auto verb = internal::TransactionControlStatement(sql);
  if (!verb) return Status::OK();
  Status s = Status::InvalidArgument(
                 "statement refused, nothing of it was sent: " + *verb +
                 " would end or replace the branch's transaction, and transaction control is "
                 "twopc's job (Commit(), Rollback(), TransactionOptions); savepoints are "
                 "allowed. The transaction can only roll back now")
                 .WithParticipant(std::string(participant));
  if (t.failure.ok()) t.failure = s;
  return s;
}

// Hands `done` the answer after releasing `pin`, so that the coordinator's
// destructor, which waits for pins, never waits for the caller's callback.
template <class T>
std::function<void(T)> Unpinning(std::shared_ptr<CorePin> pin, std::function<void(T)> done) {
  return [pin = std::move(pin), done = std::move(done)](T value) {
    pin->Release();
    done(std::move(value));
  };
}

// Finds the branch for `participant`, creating its record if needed.
Result<BranchState*> BranchFor(TxnState& t, std::string_view participant) {
  if (BranchState* b = t.FindBranch(participant)) return b;
  internal::Participant* p = t.core->FindParticipant(participant);
  if (p == nullptr) {
    return Status::InvalidArgument("no participant named '" + std::string(participant) + "'");
  }
  return t.AddBranch(p);
}

void RunOnBranch(std::shared_ptr<TxnState> t, BranchState* b, Query q,
                 std::function<void(Result<Rows>)> done) {
  auto finish = [t, b, done](Result<std::vector<internal::QueryResult>> r) {
    if (!r.ok()) {
      // Any failed statement dooms the transaction: the server has aborted
      // the branch (or lost it), so committing the rest would not be atomic.
      if (t->failure.ok()) t->failure = r.status();
      t->core->metrics.ParticipantError(b->name(), r.status());
      done(r.TakeStatus());
      return;
    }
    auto& qr = r.value().front();
    done(Rows(std::move(qr.columns), std::move(qr.rows), qr.affected));
  };
  b->branch->Execute({std::move(q)}, t->deadline, std::move(finish));
}

}  // namespace

Transaction::Transaction(std::unique_ptr<TransactionImpl> impl) : impl_(std::move(impl)) {}
Transaction::Transaction(Transaction&&) noexcept = default;
Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    if (active()) RollbackAsync([](Status) {});
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Transaction::~Transaction() {
  // The rollback outlives this handle; it holds a pin, so the coordinator's
  // destructor waits for it. Without a coordinator there is nothing to do:
  // it rolled the transaction back itself.
  if (impl_ != nullptr && active()) RollbackAsync([](Status) {});
}

const std::string& Transaction::gtrid() const { return impl_->state->gtrid; }

bool Transaction::active() const {
  return impl_ != nullptr && impl_->state->phase.active();
}

void Transaction::ExecuteAsync(std::string_view participant, std::string sql,
                               std::vector<Param> params, std::function<void(Result<Rows>)> done) {
  auto t = impl_->state;
  auto pin = std::make_shared<CorePin>(t->link);
  if (!*pin) return done(WithoutCoordinator(*t, CheckActive(*t)));
  done = Unpinning(std::move(pin), std::move(done));
  if (Status s = CheckActive(*t); !s.ok()) return done(std::move(s));
  if (!t->failure.ok()) {
    return done(Status::SqlError("an earlier statement of this transaction failed (" +
                                 t->failure.ToString() + "); it can only roll back")
                    .WithParticipant(t->failure.participant())
                    .WithSqlState("25P02"));
  }
  if (Status s = RefuseTransactionControl(*t, participant, sql); !s.ok()) return done(std::move(s));
  auto branch = BranchFor(*t, participant);
  if (!branch.ok()) return done(branch.TakeStatus());
  BranchState* b = branch.value();
  Query q{std::move(sql), internal::ToTextParams(params)};
  if (b->branch != nullptr) return RunOnBranch(t, b, std::move(q), std::move(done));
  b->participant->Open(t->options, b->gid, t->deadline,
                       [t, b, q = std::move(q), done = std::move(done)](
                           Result<std::unique_ptr<internal::Branch>> r) mutable {
                         if (!r.ok()) {
                           if (t->failure.ok()) t->failure = r.status();
                           t->core->metrics.ParticipantError(b->name(), r.status());
                           return done(r.TakeStatus());
                         }
                         b->branch = std::move(r.value());
                         RunOnBranch(t, b, std::move(q), std::move(done));
                       });
}

Result<Rows> Transaction::Execute(std::string_view participant, std::string sql,
                                  std::vector<Param> params) {
  return AwaitCallback<Result<Rows>>([&](auto done) {
    ExecuteAsync(participant, std::move(sql), std::move(params), std::move(done));
  });
}

Status Transaction::Queue(std::string_view participant, std::string sql, std::vector<Param> params) {
  auto& t = *impl_->state;
  CorePin pin(t.link);
  if (!pin) return WithoutCoordinator(t, CheckActive(t));
  if (Status s = CheckActive(t); !s.ok()) return s;
  if (Status s = RefuseTransactionControl(t, participant, sql); !s.ok()) return s;
  auto branch = BranchFor(t, participant);
  if (!branch.ok()) return branch.TakeStatus();
  branch.value()->queued.push_back({std::move(sql), internal::ToTextParams(params)});
  return Status::OK();
}

void Transaction::CommitAsync(std::function<void(Status)> done) {
  auto t = impl_->state;
  auto pin = std::make_shared<CorePin>(t->link);
  if (!*pin) return done(WithoutCoordinator(*t, CheckActive(*t)));
  // A compare-and-swap: of two racing Commit()/Rollback() calls, one wins.
  if (!t->phase.BeginPrepare()) return done(NotActive(*t));
  internal::RunCommit(std::move(t), Unpinning(std::move(pin), std::move(done)));
}

Status Transaction::Commit() {
  return AwaitCallback<Status>([&](auto done) { CommitAsync(std::move(done)); });
}

void Transaction::RollbackAsync(std::function<void(Status)> done) {
  auto t = impl_->state;
  auto pin = std::make_shared<CorePin>(t->link);
  if (!*pin) return done(WithoutCoordinator(*t, Status::OK()));
  if (!t->phase.BeginRollback()) return done(Status::OK());  // idempotent
  internal::RunRollback(std::move(t), Unpinning(std::move(pin), std::move(done)));
}

Status Transaction::Rollback() {
  return AwaitCallback<Status>([&](auto done) { RollbackAsync(std::move(done)); });
}

std::shared_ptr<TxnState> internal::NewTxnState(CoordinatorImpl* core,
                                                const TransactionOptions& options) {
  auto t = std::make_shared<TxnState>();
  t->core = core;
  t->link = core->link;
  t->options = options;
  t->deadline = core->DeadlineFor(options);
  t->txn = core->next_txn.fetch_add(1);
  t->gtrid = EncodeGtrid(core->options.node_id, core->log->incarnation(), t->txn,
                         core->log->shared() ? 2 : 1);
  core->txns.Add(t);
  return t;
}

}  // namespace twopc
