// `saga-outbox` mode: each operation as a choreographed saga over
// transactional outboxes (twopc::OutboxBus). Step 0 runs in Publish(), in the
// same local transaction as its event; every later step runs in the handler
// of the event the previous step emitted, on its own participant. A refused
// step emits "undo" events that walk back over the completed steps.
//
// The event payload carries the whole operation (statements and
// parameters), so handlers need no state of this process: after a crash, the
// restarted relays finish every chain from the outboxes alone.
//
// The client waits for its chain to end (closed loop, like the other modes),
// so latency is end to end: relay polling and hops included.
#include <nlohmann/json.hpp>

#include <map>
#include <thread>

#include "bench/mode.h"
#include "common/thread_annotations.h"
#include "twopc/outbox.h"

namespace twopc::bench {
namespace {

using nlohmann::json;

constexpr char kStepEvent[] = "bench.step";
constexpr char kUndoEvent[] = "bench.undo";
// A client gives up waiting for its chain after this long; the outcome is
// then settled after the drain (Resolve).
constexpr auto kChainTimeout = std::chrono::seconds(60);

json StmtsJson(const std::vector<Stmt>& stmts) {
  json arr = json::array();
  for (const auto& s : stmts) {
    json params = json::array();
    for (const auto& p : s.params) params.push_back(p.is_null() ? json() : json(*p.text()));
    arr.push_back({{"sql", s.sql}, {"params", params}});
  }
  return arr;
}

json OperationJson(const Operation& op, const Layout& layout) {
  json steps = json::array();
  for (const auto& s : op.steps) {
    steps.push_back({{"participant", layout.participant(s.shard)},
                     {"action", StmtsJson(s.guarded)},
                     {"undo", StmtsJson(s.compensation)},
                     {"refusable", s.refusable}});
  }
  return {{"op", op.id}, {"steps", steps}};
}

std::vector<Param> ParamsOf(const json& params) {
  std::vector<Param> out;
  for (const auto& p : params)
    out.push_back(p.is_null() ? Param(nullptr) : Param(p.get<std::string>()));
  return out;
}

// Runs a step's statements in `tx`. A refusable first statement is executed
// now and its row count read; the rest are queued (sent with the commit).
// Sets *refused when the first statement matched nothing.
Status RunStatements(Transaction& tx, const std::string& participant, const json& stmts,
                     bool refusable, bool* refused) {
  *refused = false;
  for (size_t i = 0; i < stmts.size(); ++i) {
    const json& st = stmts[i];
    std::vector<Param> params = ParamsOf(st["params"]);
    if (i == 0 && refusable) {
      auto rows = tx.Execute(participant, st["sql"].get<std::string>(), std::move(params));
      if (!rows.ok()) return rows.TakeStatus();
      if (rows->affected() == 0) {
        *refused = true;
        return Status::OK();
      }
      continue;
    }
    if (Status s = tx.Queue(participant, st["sql"].get<std::string>(), std::move(params));
        !s.ok()) {
      return s;
    }
  }
  return Status::OK();
}

EmitEvent Next(const char* event, json payload, int step, int compensations) {
  payload["step"] = step;
  payload["compensations"] = compensations;
  std::string target = payload["steps"][step]["participant"].get<std::string>();
  return {event, target, payload.dump()};
}

class OutboxRunner : public ModeRunner {
 public:
  OutboxRunner(std::unique_ptr<Coordinator> c, Layout layout)
      : coordinator_(std::move(c)), layout_(std::move(layout)) {}

  ~OutboxRunner() override {
    bus_.reset();  // stops the relays before the coordinator goes
    (void)coordinator_->log().Compact();
  }

  Status Start(const OutboxOptions& options) {
    auto bus = OutboxBus::Open(*coordinator_, options);
    if (!bus.ok()) return bus.TakeStatus();
    bus_ = std::move(bus.value());
    for (const auto& p : layout_.Participants()) {
      bus_->On(p, kStepEvent,
               [this](Transaction& tx, const OutboxEvent& e) { return OnStep(tx, e); });
      bus_->On(p, kUndoEvent,
               [this](Transaction& tx, const OutboxEvent& e) { return OnUndo(tx, e); });
    }
    bus_->StartRelays();
    return Status::OK();
  }

  Outcome Run(const Operation& op) override {
    Outcome out;
    if (op.steps.size() < 2) {
      out.cause = Status::InvalidArgument("an outbox chain needs at least two steps");
      return out;
    }
    const Step& first = op.steps.front();
    json payload = OperationJson(op, layout_);
    std::string participant = layout_.participant(first.shard);
    bool refused = false;
    {
      internal::MutexLock lock(mutex_);
      waiting_[op.id] = std::nullopt;
    }
    Status s = bus_->Publish(
        participant, "op-" + std::to_string(op.id),
        [&](Transaction& tx) {
          Status st = RunStatements(tx, participant, payload["steps"][0]["action"], first.refusable,
                                    &refused);
          // A refused first step must not commit its event: no chain starts.
          return st.ok() && refused ? Status::Aborted("step 0 refused") : st;
        },
        Next(kStepEvent, payload, 1, 0));
    if (!s.ok() || refused) {
      internal::MutexLock lock(mutex_);
      waiting_.erase(op.id);
      out.kind = Outcome::Kind::kAborted;
      out.business = refused;
      out.cause = refused ? Status::Aborted("step 0 refused") : s;
      return out;
    }
    auto until = std::chrono::steady_clock::now() + kChainTimeout;
    internal::MutexLock lock(mutex_);
    while (!waiting_.at(op.id).has_value() && ended_cv_.WaitUntil(mutex_, until)) {
    }
    if (!waiting_.at(op.id).has_value()) {
      waiting_.erase(op.id);
      out.kind = Outcome::Kind::kInDoubt;
      out.resolve_key = std::to_string(op.id);
      return out;
    }
    out = *waiting_.at(op.id);
    waiting_.erase(op.id);
    return out;
  }

  Status Quiesce(std::chrono::milliseconds limit) override {
    auto until = std::chrono::steady_clock::now() + limit;
    while (true) {
      auto pending = bus_->Pending();
      if (pending.ok() && pending.value() == 0) return Status::OK();
      if (std::chrono::steady_clock::now() >= until) {
        return pending.ok() ? Status::TimedOut(std::to_string(pending.value()) +
                                               " outbox events still undelivered")
                            : pending.status();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  Outcome::Kind Resolve(const std::string& key) override {
    internal::MutexLock lock(mutex_);
    auto it = late_.find(std::stoull(key));
    return it != late_.end() && it->second ? Outcome::Kind::kCommitted : Outcome::Kind::kAborted;
  }

  RunnerCounters counters() const override {
    OutboxStats s = bus_->stats();
    RunnerCounters c;
    c.handler_errors = s.handler_errors + s.delivery_errors;
    c.duplicates = s.duplicates;
    return c;
  }

 private:
  Result<std::vector<EmitEvent>> OnStep(Transaction& tx, const OutboxEvent& e) {
    json payload = json::parse(e.payload);
    int step = payload["step"].get<int>();
    const json& st = payload["steps"][step];
    bool refused = false;
    Status s = RunStatements(tx, st["participant"].get<std::string>(), st["action"],
                             st["refusable"].get<bool>(), &refused);
    if (!s.ok()) return s;  // rolled back; the relay delivers the event again
    if (refused) return std::vector<EmitEvent>{Next(kUndoEvent, payload, step - 1, 0)};
    if (step + 1 < static_cast<int>(payload["steps"].size())) {
      return std::vector<EmitEvent>{Next(kStepEvent, payload, step + 1, 0)};
    }
    Finish(payload["op"].get<uint64_t>(), true, 0);
    return std::vector<EmitEvent>{};
  }

  Result<std::vector<EmitEvent>> OnUndo(Transaction& tx, const OutboxEvent& e) {
    json payload = json::parse(e.payload);
    int step = payload["step"].get<int>();
    int compensations = payload["compensations"].get<int>() + 1;
    const json& st = payload["steps"][step];
    bool refused = false;
    Status s = RunStatements(tx, st["participant"].get<std::string>(), st["undo"], false, &refused);
    if (!s.ok()) return s;
    if (step > 0) return std::vector<EmitEvent>{Next(kUndoEvent, payload, step - 1, compensations)};
    Finish(payload["op"].get<uint64_t>(), false, compensations);
    return std::vector<EmitEvent>{};
  }

  // The end of a chain, seen from the handler that ends it (just before its
  // local transaction commits).
  void Finish(uint64_t op, bool committed, int compensations) {
    internal::MutexLock lock(mutex_);
    auto it = waiting_.find(op);
    if (it == waiting_.end()) {
      late_[op] = committed;
      return;
    }
    if (it->second.has_value()) return;  // a redelivery of the last event
    Outcome out;
    out.kind = committed ? Outcome::Kind::kCommitted : Outcome::Kind::kAborted;
    out.business = !committed;
    out.compensations = compensations;
    it->second = out;
    ended_cv_.SignalAll();
  }

  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<OutboxBus> bus_;
  const Layout layout_;
  internal::Mutex mutex_;
  internal::CondVar ended_cv_;
  std::map<uint64_t, std::optional<Outcome>> waiting_ TWOPC_GUARDED_BY(mutex_);
  std::map<uint64_t, bool> late_ TWOPC_GUARDED_BY(mutex_);
};

}  // namespace

Result<std::unique_ptr<ModeRunner>> OpenOutboxRunner(const RunnerContext& ctx) {
  auto c = Coordinator::Open(ctx.options);
  if (!c.ok()) return c.TakeStatus();
  auto runner = std::make_unique<OutboxRunner>(std::move(c.value()), ctx.layout);
  OutboxOptions options;
  options.relays_per_participant = ctx.outbox_relays;
  if (Status s = runner->Start(options); !s.ok()) return s;
  return std::unique_ptr<ModeRunner>(std::move(runner));
}

}  // namespace twopc::bench
