// Wrappers that inject failures at the protocol's side effects: the decision
// log and the participants (DESIGN: every side effect behind an interface).
// Shared by the fault-injection and the metrics tests.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "coordinator/coordinator_impl.h"

namespace twopc::testing {

using namespace std::chrono_literals;
using internal::Branch;
using internal::Deadline;
using internal::Participant;
using internal::Query;
using internal::QueryResult;

// A decision log whose writes and reads can be made to fail.
class FaultyLog : public DecisionLog {
 public:
  explicit FaultyLog(std::unique_ptr<DecisionLog> real) : real_(std::move(real)) {}
  std::atomic<bool> fail_decide{false};
  std::atomic<bool> decide_in_doubt{false};  // "the fsync failed after the write"; nothing written
  std::atomic<bool> fail_lookup{false};

  uint64_t incarnation() const override { return real_->incarnation(); }
  void DecideAsync(DecisionRecord r, std::function<void(Status)> done) override {
    if (fail_decide) return done(Status::IOError("injected: disk full"));
    if (decide_in_doubt) return done(Status::InDoubt("injected: fsync failed after the write"));
    real_->DecideAsync(std::move(r), std::move(done));
  }
  void End(const std::string& g) override { real_->End(g); }
  Result<std::optional<DecisionRecord>> Lookup(const std::string& g) override {
    if (fail_lookup) return Status::IOError("injected: cannot read");
    return real_->Lookup(g);
  }
  Result<std::vector<DecisionRecord>> Unended() override { return real_->Unended(); }
  Result<std::vector<DecisionRecord>> All() override { return real_->All(); }
  Result<uint64_t> Compact() override { return real_->Compact(); }
  Status Flush() override { return real_->Flush(); }
  Status RecordHeuristic(const HeuristicRecord& h) override { return real_->RecordHeuristic(h); }
  Result<std::vector<HeuristicRecord>> Heuristics() override { return real_->Heuristics(); }
  Result<uint64_t> ForgetHeuristic(const std::string& k) override {
    return real_->ForgetHeuristic(k);
  }
  Result<std::vector<std::string>> Verify() override { return real_->Verify(); }
  LogStats stats() const override { return real_->stats(); }
  void SetFlushObserver(const FlushObserver& o) override { real_->SetFlushObserver(o); }

 private:
  std::unique_ptr<DecisionLog> real_;
};

// Counters shared by a FlakyParticipant and the test.
struct Faults {
  std::atomic<int> commit_prepared_failures{0};  // fail this many COMMIT PREPAREDs
  std::atomic<bool> fail_open{false};            // no connection for a new branch
  std::atomic<bool> lose_prepare_answer{false};  // PREPARE runs, its answer is "lost"
  std::atomic<bool> fail_after_prepare{false};   // PREPARE OK, then a statement fails
  std::atomic<bool> lose_commit_answer{false};   // one-phase COMMIT runs, its answer is "lost"
  std::atomic<bool> sessions_survive{false};     // a dead incarnation's session will not end
  std::atomic<bool> slow_register{false};        // Register takes a while to start
  std::atomic<int> registering{0};               // Register calls not answered yet
  std::atomic<int> max_registering{0};           // the most at once
  std::atomic<int> finish_many_calls{0};         // FinishPreparedMany calls
  std::atomic<size_t> finish_many_largest{0};    // the most statements in one
  std::string target;                            // participant to hurt
};

class FlakyBranch : public Branch {
 public:
  FlakyBranch(std::unique_ptr<Branch> real, Faults* f) : real_(std::move(real)), f_(f) {}
  void Execute(std::vector<Query> q, Deadline d, ExecDone done) override {
    real_->Execute(std::move(q), d, std::move(done));
  }
  bool wrote() const override { return real_->wrote(); }
  uint64_t txid() const override { return real_->txid(); }
  bool prepared() const override { return real_->prepared(); }
  int session() const override { return real_->session(); }
  void Prepare(std::vector<Query> q, const std::string& gid, Deadline d, Done done) override {
    if (f_->fail_after_prepare) {
      // A real server error after a real PREPARE answered OK, as a pipeline
      // with a statement after its PREPARE TRANSACTION would produce.
      return real_->Prepare(std::move(q), gid, d, [this, d, done](Status s) {
        if (!s.ok()) return done(s);
        real_->Execute({{"SELECT 1/0", {}}}, d, [done](Result<std::vector<QueryResult>> r) {
          done(r.ok() ? Status::OK() : r.status());
        });
      });
    }
    if (!f_->lose_prepare_answer) return real_->Prepare(std::move(q), gid, d, std::move(done));
    real_->Prepare(std::move(q), gid, d, [done](Status) {
      done(Status::Unavailable("injected: connection lost after PREPARE was sent"));
    });
  }
  void CommitOnePhase(std::vector<Query> q, Deadline d, Done done) override {
    if (!f_->lose_commit_answer) return real_->CommitOnePhase(std::move(q), d, std::move(done));
    real_->CommitOnePhase(std::move(q), d, [done](Status) {
      done(Status::Unavailable("injected: connection lost after COMMIT was sent"));
    });
  }
  void Rollback(Deadline d, Done done) override { real_->Rollback(d, std::move(done)); }
  void RollbackPrepared(const std::string& gid, Deadline d, Done done) override {
    real_->RollbackPrepared(gid, d, std::move(done));
  }
  void CommitPrepared(const std::string& gid, Deadline d, Done done) override {
    if (f_->commit_prepared_failures.fetch_sub(1) > 0) {
      return done(Status::Unavailable("injected: server restarting"));
    }
    real_->CommitPrepared(gid, d, std::move(done));
  }

 private:
  std::unique_ptr<Branch> real_;
  Faults* f_;
};

class FlakyParticipant : public Participant {
 public:
  FlakyParticipant(std::unique_ptr<Participant> real, Faults* f) : real_(std::move(real)), f_(f) {}
  const std::string& name() const override { return real_->name(); }
  internal::PoolStats pool_stats() const override { return real_->pool_stats(); }
  void Open(const TransactionOptions& o, const std::string& gid, Deadline d,
            std::function<void(Result<std::unique_ptr<Branch>>)> done) override {
    if (f_->fail_open) return done(Status::Unavailable("injected: connection refused"));
    Faults* f = f_;
    real_->Open(o, gid, d, [f, done](Result<std::unique_ptr<Branch>> r) {
      if (!r.ok()) return done(std::move(r));
      done(std::unique_ptr<Branch>(new FlakyBranch(std::move(r.value()), f)));
    });
  }
  void CommitPrepared(const std::string& gid, Deadline d, std::function<void(Status)> done) override {
    if (f_->commit_prepared_failures.fetch_sub(1) > 0) {
      return done(Status::Unavailable("injected: server restarting"));
    }
    real_->CommitPrepared(gid, d, std::move(done));
  }
  void RollbackPrepared(const std::string& gid, Deadline d, std::function<void(Status)> done) override {
    real_->RollbackPrepared(gid, d, std::move(done));
  }
  void FinishPreparedMany(std::vector<internal::PreparedEnd> ends, Deadline d,
                          std::function<void(std::vector<Status>)> done) override {
    f_->finish_many_calls++;
    for (size_t max = f_->finish_many_largest; ends.size() > max &&
                                               !f_->finish_many_largest.compare_exchange_weak(max, ends.size());) {
    }
    real_->FinishPreparedMany(std::move(ends), d, std::move(done));
  }
  void Recover(Deadline d, std::function<void(Result<std::vector<internal::PreparedXact>>)> done) override {
    real_->Recover(d, std::move(done));
  }
  void CheckReady(Deadline d, std::function<void(Status)> done) override {
    real_->CheckReady(d, std::move(done));
  }
  void TransactionStatus(uint64_t txid, Deadline d,
                         std::function<void(Result<internal::TxidOutcome>)> done) override {
    real_->TransactionStatus(txid, d, std::move(done));
  }
  void EndSession(int session, Deadline d, std::function<void(Status)> done) override {
    real_->EndSession(session, d, std::move(done));
  }
  void EndSessions(const std::string& node_id, internal::IncarnationRange live, Deadline d,
                   std::function<void(Result<internal::EndedSessions>)> done) override {
    if (f_->sessions_survive) return done(internal::EndedSessions{0, 1});
    real_->EndSessions(node_id, live, d, std::move(done));
  }
  void Register(const std::string& node_id, uint64_t incarnation, Deadline d,
                std::function<void(Status)> done) override {
    if (!f_->slow_register) return real_->Register(node_id, incarnation, d, std::move(done));
    int now = ++f_->registering;
    for (int max = f_->max_registering; now > max && !f_->max_registering.compare_exchange_weak(max, now);) {
    }
    std::this_thread::sleep_for(50ms);  // on the caller's thread, as a slow connect would be
    Faults* f = f_;
    real_->Register(node_id, incarnation, d, [f, done = std::move(done)](Status s) {
      --f->registering;
      done(std::move(s));
    });
  }
  void Inspect(Query q, Deadline d,
               std::function<void(Result<std::vector<QueryResult>>)> done) override {
    real_->Inspect(std::move(q), d, std::move(done));
  }

 private:
  std::unique_ptr<Participant> real_;
  Faults* f_;
};

}  // namespace twopc::testing
