// `saga` mode: each operation as an orchestrated saga (twopc::SagaOrchestrator)
// -- every step a local transaction with its compensation, the saga log forced
// before the first step and after each one. Business refusals use the
// guarded statements (zero rows = refused, require_rows), so a refused step
// is a clean "no" and the completed steps are compensated.
#include <thread>

#include "bench/mode.h"
#include "twopc/saga.h"

namespace twopc::bench {
namespace {

std::vector<SagaStatement> ToSaga(const std::vector<Stmt>& stmts) {
  std::vector<SagaStatement> out;
  for (const auto& s : stmts) out.push_back({s.sql, s.params});
  return out;
}

class SagaRunner : public ModeRunner {
 public:
  SagaRunner(std::unique_ptr<Coordinator> c, std::unique_ptr<SagaOrchestrator> o, Layout layout)
      : coordinator_(std::move(c)), orchestrator_(std::move(o)), layout_(std::move(layout)) {}

  ~SagaRunner() override {
    orchestrator_.reset();  // before the coordinator it runs on
    (void)coordinator_->log().Compact();
  }

  Outcome Run(const Operation& op) override {
    Saga saga;
    saga.name = "bench";
    for (const Step& s : op.steps) {
      SagaStep step;
      step.name = s.name;
      step.participant = layout_.participant(s.shard);
      step.action = ToSaga(s.guarded);
      step.compensation = ToSaga(s.compensation);
      step.require_rows = s.refusable;
      saga.steps.push_back(std::move(step));
    }
    SagaResult r = orchestrator_->Run(std::move(saga));
    Outcome out;
    out.retries = r.retries;
    out.compensations = r.compensations;
    out.resolve_key = r.saga_id;
    switch (r.state) {
      case SagaState::kCompleted:
        out.kind = Outcome::Kind::kCommitted;
        break;
      case SagaState::kCompensated:
      case SagaState::kParked:
        out.kind = Outcome::Kind::kAborted;
        // A refusal is a definite answer: require_rows (Aborted without
        // SQLSTATE) or an integrity error (class 23).
        out.business = r.state == SagaState::kCompensated &&
                       (r.cause.IsAborted() || r.cause.sqlstate().rfind("23", 0) == 0);
        out.cause = r.cause;
        break;
      default:
        // Run() returns only at the end of a saga; anything else is the
        // engine reporting a saga it could not finish here.
        out.kind = Outcome::Kind::kInDoubt;
        out.cause = r.cause;
        break;
    }
    return out;
  }

  // Sagas run synchronously in Run(); what can remain are sagas resumed at
  // Open (crash mode) or parked for an operator.
  Status Quiesce(std::chrono::milliseconds limit) override {
    auto until = std::chrono::steady_clock::now() + limit;
    while (true) {
      auto left = orchestrator_->Unfinished();
      if (!left.ok()) return left.TakeStatus();
      if (left->empty()) return Status::OK();
      bool all_parked = true;
      for (const auto& rec : *left) all_parked = all_parked && rec.state == SagaState::kParked;
      if (all_parked || std::chrono::steady_clock::now() >= until) {
        return Status::TimedOut(
            std::to_string(left->size()) + " sagas unfinished (first: " + left->front().saga_id +
            ", " + SagaStateName(left->front().state) + ": " + left->front().last_error + ")");
      }
      orchestrator_->ResumeUnfinished();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  RunnerCounters counters() const override {
    RunnerCounters c;
    c.parked = orchestrator_->stats().parked;
    return c;
  }

 private:
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<SagaOrchestrator> orchestrator_;
  const Layout layout_;
};

}  // namespace

Result<std::unique_ptr<ModeRunner>> OpenSagaRunner(const RunnerContext& ctx) {
  auto c = Coordinator::Open(ctx.options);
  if (!c.ok()) return c.TakeStatus();
  SagaOptions options;
  // One saga log per point: a point starts with no saga of an earlier one.
  // Crash mode's worker and its restart share the point, hence the log.
  options.log_path = ctx.work_dir + "/sagas-" + ctx.point_tag + ".db";
  auto o = SagaOrchestrator::Open(**c, options);
  if (!o.ok()) return o.TakeStatus();
  return std::unique_ptr<ModeRunner>(
      new SagaRunner(std::move(c.value()), std::move(o.value()), ctx.layout));
}

}  // namespace twopc::bench
