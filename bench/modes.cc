// The modes that run on a plain twopc::Coordinator: local, none, 2pc and
// 2pc-early-ack. They share the client machinery (pool, pipelining, I/O
// thread), so their ratios measure the protocol, not the plumbing.
#include <latch>
#include <thread>

#include "bench/mode.h"
#include "twopc/retry.h"

namespace twopc::bench {
namespace {

// check_violation: the CHECK constraints of the order workload refuse a
// declined payment or missing stock.
constexpr char kCheckViolation[] = "23514";

void Classify(const Status& s, Outcome* out) {
  if (s.ok()) {
    out->kind = Outcome::Kind::kCommitted;
    return;
  }
  out->kind = s.IsInDoubt() ? Outcome::Kind::kInDoubt : Outcome::Kind::kAborted;
  out->business = s.sqlstate() == kCheckViolation;
  out->cause = s;
}

Status QueueAll(Transaction& tx, const Layout& layout, const std::vector<const Step*>& steps) {
  for (const Step* step : steps) {
    for (const Stmt& st : step->action) {
      if (Status s = tx.Queue(layout.participant(step->shard), st.sql, st.params); !s.ok()) {
        return s;
      }
    }
  }
  return Status::OK();
}

class CoordinatorRunner : public ModeRunner {
 public:
  CoordinatorRunner(Mode mode, const RunnerContext& ctx, std::unique_ptr<Coordinator> coordinator)
      : mode_(mode), layout_(ctx.layout), txn_(ctx.txn), coordinator_(std::move(coordinator)) {
    txn_.early_ack = mode == Mode::kTwoPcEarlyAck;
  }

  // local, 2pc and 2pc-early-ack: every step's statements in ONE global
  // transaction. With the colocated layout of `local` it has a single write
  // branch, which twopc commits in one phase: a plain local transaction.
  Outcome Run(const Operation& op) override {
    if (mode_ == Mode::kNone) return RunUnrelated(op);
    std::vector<const Step*> steps;
    for (const Step& s : op.steps) steps.push_back(&s);
    Outcome out;
    int attempts = 0;
    Status s = RunTransaction(
        *coordinator_,
        [&](Transaction& tx) {
          ++attempts;
          out.resolve_key = tx.gtrid();
          return QueueAll(tx, layout_, steps);
        },
        txn_);
    out.retries = std::max(0, attempts - 1);
    Classify(s, &out);
    return out;
  }

  Status Quiesce(std::chrono::milliseconds limit) override {
    coordinator_->WaitForCompletions();
    return WaitNoPrepared(*coordinator_, limit);
  }

  // Presumed abort: a transaction is committed exactly when the log holds its
  // COMMIT record. (A one-phase commit in doubt has no record; it is counted
  // as aborted, and the final check would show it if it did commit.)
  Outcome::Kind Resolve(const std::string& gtrid) override {
    auto rec = coordinator_->log().Lookup(gtrid);
    if (rec.ok() && rec.value().has_value() && rec.value()->decision == Decision::kCommit) {
      return Outcome::Kind::kCommitted;
    }
    return Outcome::Kind::kAborted;
  }

  RunnerCounters counters() const override {
    LogStats log = coordinator_->stats().log;
    RunnerCounters c;
    c.records_forced = log.records_forced;
    c.forces = log.forces;
    return c;
  }

  ~CoordinatorRunner() override {
    // Keeps the decision log small from one point to the next: records of
    // finished transactions are only history.
    (void)coordinator_->log().Compact();
  }

 private:
  // `none`: each step commits on its own, all in parallel (the best case for
  // doing nothing). Nothing ties them together: if one fails, the others
  // stay committed -- the final check shows what that costs.
  Outcome RunUnrelated(const Operation& op) {
    const size_t n = op.steps.size();
    std::vector<Status> results(n);
    std::vector<Transaction> txs;
    txs.reserve(n);
    std::latch done(static_cast<std::ptrdiff_t>(n));
    for (size_t i = 0; i < n; ++i) {
      txs.push_back(coordinator_->Begin(txn_));
      if (Status s = QueueAll(txs.back(), layout_, {&op.steps[i]}); !s.ok()) {
        results[i] = s;
        done.count_down();
        continue;
      }
      txs.back().CommitAsync([&results, &done, i](Status s) {
        results[i] = std::move(s);
        done.count_down();
      });
    }
    done.wait();
    Outcome out;
    Status first;
    for (size_t i = 0; i < n; ++i) {
      if (results[i].IsRetryableConflict() || results[i].sqlstate() == "55P03") {
        // Rerun just that commit, as an application would.
        results[i] = RunTransaction(
            *coordinator_,
            [&](Transaction& tx) {
              ++out.retries;
              return QueueAll(tx, layout_, {&op.steps[i]});
            },
            txn_);
      }
      if (!results[i].ok() && first.ok()) first = results[i];
    }
    Classify(first, &out);
    return out;
  }

  const Mode mode_;
  const Layout layout_;
  TransactionOptions txn_;
  std::unique_ptr<Coordinator> coordinator_;
};

}  // namespace

Status WaitNoPrepared(Coordinator& coordinator, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  RecoveryPassOptions pass;
  pass.pace = std::chrono::microseconds(0);
  RecoveryReport last;
  while (true) {
    last = coordinator.Recover(pass);
    bool unsettled = last.in_doubt_remaining > 0 || last.unreachable > 0;
    for (const auto& a : last.actions) {
      unsettled = unsettled || a.kind == RecoveryActionKind::kSkipUnstable ||
                  a.kind == RecoveryActionKind::kRetryLater ||
                  a.kind == RecoveryActionKind::kSkipLive;
    }
    // A pass that found nothing to do and nothing it had to leave: clean.
    if (!unsettled && last.resolved == 0) return Status::OK();
    if (std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::TimedOut("recovery still leaves " + std::to_string(last.in_doubt_remaining) +
                          " transactions in doubt and " + std::to_string(last.unreachable) +
                          " participants unreachable");
}

Result<std::unique_ptr<ModeRunner>> OpenCoordinatorRunner(Mode mode, const RunnerContext& ctx) {
  auto c = Coordinator::Open(ctx.options);
  if (!c.ok()) return c.TakeStatus();
  return std::unique_ptr<ModeRunner>(new CoordinatorRunner(mode, ctx, std::move(c.value())));
}

Result<std::unique_ptr<ModeRunner>> OpenRunner(Mode mode, const RunnerContext& ctx) {
  switch (mode) {
    case Mode::kNull:
      return OpenNullRunner(ctx);
    case Mode::kSaga:
      return OpenSagaRunner(ctx);
    case Mode::kSagaOutbox:
      return OpenOutboxRunner(ctx);
    default:
      return OpenCoordinatorRunner(mode, ctx);
  }
}

}  // namespace twopc::bench
