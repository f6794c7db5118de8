// Failures injected at the protocol's side effects: the decision log and the
// participants are wrapped (DESIGN: every side effect behind an interface).
#include <atomic>

#include "coordinator/coordinator_impl.h"
#include "coordinator/sync_point.h"
#include "tests/support/bank_fixture.h"

namespace twopc::testing {
namespace {

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
  std::atomic<bool> fail_lookup{false};

  uint64_t incarnation() const override { return real_->incarnation(); }
  void DecideAsync(DecisionRecord r, std::function<void(Status)> done) override {
    if (fail_decide) return done(Status::IOError("injected: disk full"));
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

 private:
  std::unique_ptr<DecisionLog> real_;
};

// Counters shared by a FlakyParticipant and the test.
struct Faults {
  std::atomic<int> commit_prepared_failures{0};  // fail this many COMMIT PREPAREDs
  std::atomic<bool> lose_prepare_answer{false};  // PREPARE runs, its answer is "lost"
  std::string target;                            // participant to hurt
};

class FlakyBranch : public Branch {
 public:
  FlakyBranch(std::unique_ptr<Branch> real, Faults* f) : real_(std::move(real)), f_(f) {}
  void Execute(std::vector<Query> q, Deadline d, ExecDone done) override {
    real_->Execute(std::move(q), d, std::move(done));
  }
  bool wrote() const override { return real_->wrote(); }
  void Prepare(std::vector<Query> q, const std::string& gid, Deadline d, Done done) override {
    if (!f_->lose_prepare_answer) return real_->Prepare(std::move(q), gid, d, std::move(done));
    real_->Prepare(std::move(q), gid, d, [done](Status) {
      done(Status::Unavailable("injected: connection lost after PREPARE was sent"));
    });
  }
  void CommitOnePhase(std::vector<Query> q, Deadline d, Done done) override {
    real_->CommitOnePhase(std::move(q), d, std::move(done));
  }
  void Rollback(Deadline d, Done done) override { real_->Rollback(d, std::move(done)); }
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
  void Open(const TransactionOptions& o, Deadline d,
            std::function<void(Result<std::unique_ptr<Branch>>)> done) override {
    Faults* f = f_;
    real_->Open(o, d, [f, done](Result<std::unique_ptr<Branch>> r) {
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
  void Recover(Deadline d, std::function<void(Result<std::vector<internal::PreparedXact>>)> done) override {
    real_->Recover(d, std::move(done));
  }
  void CheckReady(Deadline d, std::function<void(Status)> done) override {
    real_->CheckReady(d, std::move(done));
  }
  void Inspect(Query q, Deadline d,
               std::function<void(Result<std::vector<QueryResult>>)> done) override {
    real_->Inspect(std::move(q), d, std::move(done));
  }

 private:
  std::unique_ptr<Participant> real_;
  Faults* f_;
};

class FaultInjectionTest : public BankTest {
 protected:
  std::unique_ptr<Coordinator> OpenWith(FaultyLog** log_out, Faults* faults) {
    CoordinatorOptions opts = Options();
    opts.complete_retry_initial = 5ms;
    auto real = OpenSqliteDecisionLog(opts.log);
    EXPECT_TRUE(real.ok()) << real.status().ToString();
    auto log = std::make_unique<FaultyLog>(std::move(real.value()));
    *log_out = log.get();
    auto factory = [faults](boost::asio::io_context& io, const ParticipantOptions& p,
                            std::chrono::milliseconds connect_timeout) {
      auto real = internal::MakePgParticipant(io, p, connect_timeout);
      if (p.name != faults->target) return real;
      return std::unique_ptr<Participant>(new FlakyParticipant(std::move(real), faults));
    };
    auto c = internal::OpenCoordinator(std::move(opts), std::move(log), factory);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c.value()) : nullptr;
  }

  static void QueueTransfer(Transaction& tx) {
    ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 10 WHERE id = 1").ok());
    ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 10 WHERE id = 1").ok());
  }

  static void RollbackAllPrepared() {
    for (const char* db : {"a", "b", "c"}) {
      for (auto& row : sandbox_->Query(db, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")) {
        sandbox_->Exec(db, "ROLLBACK PREPARED '" + row[0] + "'");
      }
    }
  }
};

TEST_F(FaultInjectionTest, FailedCommitRecordWriteAborts) {
  FaultyLog* log = nullptr;
  Faults faults;
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  log->fail_decide = true;
  Transaction tx = coord->Begin();
  QueueTransfer(tx);
  Status s = tx.Commit();
  ASSERT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_NE(s.message().find("disk full"), std::string::npos);
  EXPECT_EQ(Balance("a", 1), kInitialBalance);
  EXPECT_EQ(Balance("b", 1), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

TEST_F(FaultInjectionTest, UnusableLogLeavesTransactionInDoubtAndPrepared) {
  FaultyLog* log = nullptr;
  Faults faults;
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  log->fail_decide = true;
  log->fail_lookup = true;
  Transaction tx = coord->Begin();
  QueueTransfer(tx);
  Status s = tx.Commit();
  ASSERT_TRUE(s.IsInDoubt()) << s.ToString();
  // Not knowing the decision, the coordinator must not roll anything back.
  EXPECT_EQ(PreparedEverywhere(), 2);
  EXPECT_EQ(coord->stats().in_doubt, 1u);
  RollbackAllPrepared();
}

TEST_F(FaultInjectionTest, CommitPreparedIsRetriedUntilItSucceeds) {
  FaultyLog* log = nullptr;
  Faults faults;
  faults.target = "b";
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  faults.commit_prepared_failures = 3;
  Transaction tx = coord->Begin();
  QueueTransfer(tx);
  ASSERT_TRUE(tx.Commit().ok());
  EXPECT_LE(faults.commit_prepared_failures.load(), 0);
  EXPECT_EQ(Balance("a", 1), kInitialBalance - 10);
  EXPECT_EQ(Balance("b", 1), kInitialBalance + 10);
  EXPECT_EQ(PreparedEverywhere(), 0);
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_TRUE(coord->log().Unended()->empty());
}

TEST_F(FaultInjectionTest, LostPrepareAnswerIsRolledBackByGid) {
  FaultyLog* log = nullptr;
  Faults faults;
  faults.target = "b";
  faults.lose_prepare_answer = true;
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  QueueTransfer(tx);
  Status s = tx.Commit();
  ASSERT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(s.participant(), "b");
  // b really prepared; the coordinator did not know, and rolled it back by gid.
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(Balance("b", 1), kInitialBalance);
}

TEST_F(FaultInjectionTest, SyncPointsFireInProtocolOrder) {
  FaultyLog* log = nullptr;
  Faults faults;
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  std::mutex mu;
  std::vector<std::string> seen;
  for (const char* name : {"before_prepare", "after_prepare", "before_decision",
                           "after_decision_forced", "after_commit_prepared", "before_end"}) {
    internal::SetSyncPointCallback(name, [&, name](int k) {
      std::lock_guard lock(mu);
      seen.push_back(std::string(name) + (k > 0 ? ":" + std::to_string(k) : ""));
    });
  }
  internal::SetSyncPointCallback("after_decision_forced", [&](int) {
    {
      std::lock_guard lock(mu);
      seen.push_back("after_decision_forced");
    }
    // The decision is durable at this point: the log already holds it.
    auto rec = log->Lookup(coord->log().All()->front().gtrid);
    EXPECT_TRUE(rec.ok() && rec->has_value());
  });
  Transaction tx = coord->Begin();
  QueueTransfer(tx);
  ASSERT_TRUE(tx.Commit().ok());
  internal::ClearSyncPointCallbacks();
  std::vector<std::string> expected = {"before_prepare", "after_prepare:1", "after_prepare:2",
                                       "before_decision", "after_decision_forced",
                                       "after_commit_prepared:1", "after_commit_prepared:2",
                                       "before_end"};
  EXPECT_EQ(seen, expected);
}

}  // namespace
}  // namespace twopc::testing
