// Tracing: a twopc::Tracer that turns the coordinator's protocol steps into
// spans and prints them as a tree with durations -- one transaction that
// commits, one whose branch refuses (CHECK violation) and is rolled back:
//
//   tx 7f3c...-1
//     commit                  4.10 ms  OK
//       prepare               2.31 ms  OK
//         prepare east        2.05 ms  OK
//         prepare west        2.12 ms  OK
//       decide                0.95 ms  OK
//       complete              0.71 ms  OK
//         complete east #0    0.60 ms  OK
//         ...
//
//   tracing_spans CONFIG
//
// CONFIG names at least two participants (e.g. the twopc.toml written by
// `scripts/pg-sandbox start DIR --databases "east west"`).
//
// Only the public API (twopc/config.h, coordinator.h, tracing.h) is used: this is
// how an application bridges twopc to OpenTelemetry (or any tracer) without
// twopc depending on it. The comments marked "OpenTelemetry:" show where a
// real span starts and ends.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/tracing.h"

namespace {

using Clock = std::chrono::steady_clock;

// What a finished span says.
struct Span {
  uint64_t seq = 0;  // start order, for steps that start in the same tick
  Clock::time_point start;
  twopc::TracePhase phase = twopc::TracePhase::kCommit;
  std::string participant;
  int attempt = 0;
  std::chrono::nanoseconds elapsed{0};
  std::string status = "(not ended)";
};

// Collects spans per transaction. The calls come from the coordinator's I/O
// threads, for many transactions and for the branches of one transaction in
// parallel, and must not block for long: a mutex held for a map insert is
// fine, printing here would not be.
class TreeTracer : public twopc::Tracer {
 public:
  void OnPhaseStart(const twopc::TraceEvent& e) override {
    // OpenTelemetry: span = tracer->StartSpan(twopc::TracePhaseName(e.phase),
    //     {{"twopc.gtrid", e.gtrid}, {"twopc.participant", e.participant},
    //      {"twopc.gid", e.gid}, {"twopc.attempt", e.attempt}},
    //     {.parent = the span of the transaction (e.participant empty) or of
    //      its step of the same phase (a branch)});
    // and keep `span` under the same key as below.
    std::lock_guard<std::mutex> lock(mu_);
    Span& s = open_[Key(e)];
    s.seq = next_seq_++;
    s.start = Clock::now();
    s.phase = e.phase;
    s.participant = std::string(e.participant);
    s.attempt = e.attempt;
  }

  void OnPhaseEnd(const twopc::TraceEvent& e, const twopc::Status& status,
                  std::chrono::nanoseconds elapsed) override {
    // OpenTelemetry: span->SetStatus(status.ok() ? kOk : kError,
    //     status.ToString()); span->End(); -- `elapsed` is what twopc
    //     measured, the span's own clock says the same.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(Key(e));
    if (it == open_.end()) return;  // the contract pairs them; be safe anyway
    Span s = std::move(it->second);
    open_.erase(it);
    s.elapsed = elapsed;
    s.status = status.ok() ? "OK" : status.ToString();
    done_[std::string(e.gtrid)].push_back(std::move(s));
  }

  // Prints every transaction's tree, in the order the transactions started.
  // Call once the coordinator is gone: then every span has ended.
  void Print() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::pair<std::string, std::vector<Span>>> txns(done_.begin(), done_.end());
    for (auto& [gtrid, spans] : txns) {
      std::sort(spans.begin(), spans.end(),
                [](const Span& a, const Span& b) { return a.seq < b.seq; });
    }
    std::sort(txns.begin(), txns.end(),
              [](const auto& a, const auto& b) { return a.second[0].seq < b.second[0].seq; });
    for (const auto& [gtrid, spans] : txns) {
      std::printf("tx %s\n", gtrid.c_str());
      for (const Span& s : spans) {
        std::string name = twopc::TracePhaseName(s.phase);
        if (!s.participant.empty()) name += " " + s.participant;
        if (s.phase == twopc::TracePhase::kComplete && !s.participant.empty()) {
          name += " #" + std::to_string(s.attempt);
        }
        std::string line = std::string(2 * (Depth(s, spans) + 1), ' ') + name;
        std::printf("%-32s %8.2f ms  %s\n", line.c_str(),
                    std::chrono::duration<double, std::milli>(s.elapsed).count(), s.status.c_str());
      }
    }
  }

  // How many spans with this phase ended, of branches (`branch`) or of
  // whole transactions.
  int Count(twopc::TracePhase phase, bool branch) const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [gtrid, spans] : done_) {
      for (const Span& s : spans) {
        if (s.phase == phase && s.participant.empty() != branch) ++n;
      }
    }
    return n;
  }

 private:
  // The pairing the Tracer contract promises: same gtrid, phase, participant
  // and attempt.
  using SpanKey = std::tuple<std::string, twopc::TracePhase, std::string, int>;
  static SpanKey Key(const twopc::TraceEvent& e) {
    return {std::string(e.gtrid), e.phase, std::string(e.participant), e.attempt};
  }
  // Commit() holds the transaction's steps; each step holds its branches'.
  // A branch step with no step of the whole transaction around it (the one
  // branch's local COMMIT of a one-phase commit) sits right under Commit().
  static int Depth(const Span& s, const std::vector<Span>& spans) {
    if (s.participant.empty()) return s.phase == twopc::TracePhase::kCommit ? 0 : 1;
    bool in_step = std::any_of(spans.begin(), spans.end(), [&](const Span& t) {
      return t.participant.empty() && t.phase == s.phase;
    });
    return in_step ? 2 : 1;
  }

  mutable std::mutex mu_;
  uint64_t next_seq_ = 0;
  std::map<SpanKey, Span> open_;
  std::map<std::string, std::vector<Span>> done_;
};

// Moves `amount` from account 1 of `from` to account 1 of `to`.
twopc::Status Transfer(twopc::Coordinator& c, const std::string& from, const std::string& to,
                       int64_t amount) {
  twopc::Transaction tx = c.Begin();
  twopc::Status s =
      tx.Queue(from, "UPDATE traced_accounts SET balance = balance - $1 WHERE id = 1", {amount});
  if (s.ok()) {
    s = tx.Queue(to, "UPDATE traced_accounts SET balance = balance + $1 WHERE id = 1", {amount});
  }
  return s.ok() ? tx.Commit() : s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
    return 2;
  }
  auto options = twopc::LoadConfigFile(argv[1]);
  if (!options.ok()) {
    std::fprintf(stderr, "%s\n", options.status().ToString().c_str());
    return 1;
  }
  if (options->participants.size() < 2) {
    std::fprintf(stderr, "the config must name at least two participants\n");
    return 2;
  }
  const std::string a = options->participants[0].name, b = options->participants[1].name;
  auto tracer = std::make_shared<TreeTracer>();
  options->tracer = tracer;

  {
    auto opened = twopc::Coordinator::Open(std::move(options.value()));
    if (!opened.ok()) {
      std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
      return 1;
    }
    twopc::Coordinator& c = **opened;
    for (const std::string& db : {a, b}) {
      twopc::Transaction setup = c.Begin();
      (void)setup.Queue(db, "DROP TABLE IF EXISTS traced_accounts");
      (void)setup.Queue(db,
                        "CREATE TABLE traced_accounts(id bigint PRIMARY KEY,"
                        " balance bigint NOT NULL CHECK (balance >= 0))");
      (void)setup.Queue(db, "INSERT INTO traced_accounts VALUES (1, 100)");
      if (twopc::Status s = setup.Commit(); !s.ok()) {
        std::fprintf(stderr, "setup of %s failed: %s\n", db.c_str(), s.ToString().c_str());
        return 1;
      }
    }
    twopc::Status committed = Transfer(c, a, b, 30);
    twopc::Status refused = Transfer(c, b, a, 500);  // overdraws: CHECK refuses the prepare
    std::printf("transfer 30 %s -> %s: %s\ntransfer 500 %s -> %s: %s\n\n", a.c_str(), b.c_str(),
                committed.ok() ? "COMMITTED" : committed.ToString().c_str(), b.c_str(), a.c_str(),
                refused.ToString().c_str());
    if (!committed.ok() || !refused.IsAborted()) return 1;
  }  // the coordinator is gone: every span has ended

  tracer->Print();
  // The tree this program exists to show: each commit has its branches'
  // prepares under it; the committed one completed both branches, the
  // refused one was rolled back.
  using twopc::TracePhase;
  bool shaped = tracer->Count(TracePhase::kPrepare, /*branch=*/true) >= 4 &&
                tracer->Count(TracePhase::kComplete, /*branch=*/true) >= 2 &&
                // The decider is a branch with store = "postgres".
                tracer->Count(TracePhase::kDecide, false) + tracer->Count(TracePhase::kDecide, true) >= 1 &&
                tracer->Count(TracePhase::kAbort, /*branch=*/false) >= 1;
  if (!shaped) {
    std::fprintf(stderr, "the spans do not have the shape of one commit and one abort\n");
    return 1;
  }
  return 0;
}
