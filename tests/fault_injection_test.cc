// Failures injected at the protocol's side effects: the decision log and the
// participants are wrapped (DESIGN: every side effect behind an interface).
#include <atomic>
#include <thread>

#include "coordinator/coordinator_impl.h"
#include "testing/sync_point.h"
#include "tests/support/bank_fixture.h"
#include "tests/support/fault_wrappers.h"
#include "twopc/gid.h"

namespace twopc::testing {
namespace {

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

  // Prepares `n` write branches on `db` that a coordinator of `incarnation`
  // left undecided: transactions first_txn.. (branch `branch`).
  static void PrepareOrphans(const std::string& db, uint64_t incarnation, int first_txn, int n, uint32_t branch) {
    std::string sql;
    for (int t = first_txn; t < first_txn + n; ++t) {
      sql += "BEGIN; SELECT txid_current(); PREPARE TRANSACTION '" +
             EncodeGid({"sandbox", incarnation, static_cast<uint64_t>(t), branch}) + "';";
    }
    sandbox_->Exec(db, sql);
  }

  static void RollbackAllPrepared() {
    for (const char* db : {"a", "b", "c"}) {
      for (auto& row : sandbox_->Query(db, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")) {
        sandbox_->Exec(db, "ROLLBACK PREPARED '" + row[0] + "'");
      }
    }
  }
};

// A dead coordinator's backlog (docs/protocol.md, "Recovery of a backlog"):
// the pass at Open writes its fences together and rolls the branches back
// in one pipeline per participant.
TEST_F(FaultInjectionTest, ABacklogIsFencedWithSharedForcesAndRolledBackInOnePipeline) {
  uint64_t dead = 0;
  {
    auto log = OpenSqliteDecisionLog(Options().log);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    dead = (*log)->incarnation();
  }
  constexpr int kOrphans = 30;
  PrepareOrphans("a", dead, 1, kOrphans, 1);
  PrepareOrphans("b", dead, 1, kOrphans, 2);
  ASSERT_EQ(PreparedEverywhere(), 2 * kOrphans);

  FaultyLog* log = nullptr;
  Faults faults;
  faults.target = "a";
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  EXPECT_EQ(PreparedEverywhere(), 0);
  for (int t = 1; t <= kOrphans; ++t) {
    auto rec = coord->log().Lookup(EncodeGtrid("sandbox", dead, static_cast<uint64_t>(t)));
    ASSERT_TRUE(rec.ok() && rec->has_value()) << "transaction " << t << " was not fenced";
    EXPECT_EQ((*rec)->decision, Decision::kAbort);
  }
  LogStats stats = log->stats();
  EXPECT_GE(stats.records_forced, static_cast<uint64_t>(kOrphans));
  EXPECT_LE(stats.forces, 10u) << "each fence forced on its own";
  EXPECT_EQ(faults.finish_many_largest.load(), static_cast<size_t>(kOrphans))
      << "a's rollbacks did not go out in one pipeline";
}

// With a transaction in flight the coordinator's pass yields to it: one
// statement at a time, paced.
TEST_F(FaultInjectionTest, APassPacesItselfWhileTransactionsAreInFlight) {
  FaultyLog* log = nullptr;
  Faults faults;
  faults.target = "a";
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  constexpr int kOrphans = 5;
  {
    Transaction live = coord->Begin();
    ASSERT_TRUE(live.Execute("a", "UPDATE accounts SET balance = balance WHERE id = 9").ok());
    PrepareOrphans("a", coord->incarnation() - 1, 1, kOrphans, 1);
    RecoveryReport r = coord->Recover();
    EXPECT_EQ(r.in_doubt_remaining, 0);
    EXPECT_EQ(faults.finish_many_largest.load(), 1u) << "the pass did not pace itself";
    EXPECT_EQ(faults.finish_many_calls.load(), kOrphans);
    ASSERT_TRUE(live.Rollback().ok());
  }  // released: no transaction in flight any more

  // Nothing in flight: the same backlog goes out in one pipeline.
  PrepareOrphans("a", coord->incarnation() - 1, 100, kOrphans, 1);
  RecoveryReport r = coord->Recover();
  EXPECT_EQ(r.in_doubt_remaining, 0);
  EXPECT_EQ(faults.finish_many_largest.load(), static_cast<size_t>(kOrphans));
  EXPECT_EQ(PreparedEverywhere(), 0);
}

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

// Issue 9 item 7: a PREPARE that answered OK followed by an error in the
// same request was undone with ROLLBACK, which finds no transaction: the
// branch stayed prepared (holding its locks) until a recovery pass.
TEST_F(FaultInjectionTest, PreparedBranchFailingAfterPrepareIsRolledBackPrepared) {
  FaultyLog* log = nullptr;
  Faults faults;
  faults.target = "b";
  faults.fail_after_prepare = true;
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 3 WHERE id = 8").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 3 WHERE id = 8").ok());
  Status s = tx.Commit();
  ASSERT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(s.sqlstate(), "22012");
  EXPECT_EQ(PreparedEverywhere(), 0) << "the prepared branch must be rolled back, not left";
  EXPECT_EQ(Balance("a", 8), kInitialBalance);
  EXPECT_EQ(Balance("b", 8), kInitialBalance);
}

// Issue 9 item 4: a one-phase commit whose answer was lost was reported
// InDoubt although PostgreSQL knows the outcome: txid_status() of the
// branch's transaction id, which now reaches the client before the COMMIT.
TEST_F(FaultInjectionTest, LostOnePhaseCommitAnswerIsSettled) {
  FaultyLog* log = nullptr;
  Faults faults;
  faults.target = "b";
  faults.lose_commit_answer = true;
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 11 WHERE id = 9").ok());
  Status s = tx.Commit();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(coord->stats().committed_one_phase, 1u);
  EXPECT_EQ(coord->stats().in_doubt, 0u);
  EXPECT_EQ(Balance("b", 9), kInitialBalance + 11);

  // A COMMIT that the server refused (a deferred unique constraint), its
  // answer lost too: txid_status() says aborted, and the caller hears the
  // loss (Unavailable) with the outcome known: nothing committed.
  sandbox_->Exec("b", "DROP TABLE IF EXISTS deferred_ids;"
                      "CREATE TABLE deferred_ids(id int UNIQUE DEFERRABLE INITIALLY DEFERRED)");
  Transaction bad = coord->Begin();
  ASSERT_TRUE(bad.Queue("b", "UPDATE accounts SET balance = balance + 1 WHERE id = 9").ok());
  ASSERT_TRUE(bad.Queue("b", "INSERT INTO deferred_ids VALUES (1), (1)").ok());
  s = bad.Commit();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("nothing was committed"), std::string::npos) << s.message();
  EXPECT_EQ(coord->stats().in_doubt, 0u);
  EXPECT_EQ(Balance("b", 9), kInitialBalance + 11);
}

// Issue 9 item 5: a dead incarnation's session that cannot be ended may
// still PREPARE on that participant later, even though nothing is prepared
// there now: the pass must not report success (exit 0).
TEST_F(FaultInjectionTest, SurvivingDeadSessionKeepsThePassFromSucceeding) {
  FaultyLog* log = nullptr;
  Faults faults;
  faults.target = "b";
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  EXPECT_EQ(coord->Recover().ExitCode(), 0);
  faults.sessions_survive = true;
  RecoveryReport r = coord->Recover();
  EXPECT_EQ(r.ExitCode(), 1);
  bool retry_on_b = false;
  for (const auto& a : r.actions) {
    retry_on_b = retry_on_b || (a.kind == RecoveryActionKind::kRetryLater && a.participant == "b");
  }
  EXPECT_TRUE(retry_on_b);
}

// The registration's connection serves one request at a time: two passes
// re-registering at once (the background one and Coordinator::Recover, or
// two application threads) must not both use it.
TEST_F(FaultInjectionTest, ConcurrentPassesRegisterOneAtATime) {
  FaultyLog* log = nullptr;
  Faults faults;
  faults.target = "a";
  auto coord = OpenWith(&log, &faults);
  ASSERT_NE(coord, nullptr);
  faults.slow_register = true;
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&] { coord->Recover(); });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(faults.max_registering.load(), 1);
  EXPECT_EQ(faults.registering.load(), 0);
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
