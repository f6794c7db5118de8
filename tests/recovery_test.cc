// The recovery pass against real servers: what it resolves, and -- just as
// important -- what it must leave alone.
#include <future>
#include <map>
#include <mutex>

#include "common/wait.h"
#include "coordinator/coordinator_impl.h"
#include "participants/pg_participant.h"

#include "testing/sync_point.h"
#include "tests/support/bank_fixture.h"
#include "twopc/gid.h"
#include "twopc/recovery.h"

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;

class RecoveryTest : public BankTest {
 protected:
  void TearDown() override {
    internal::ClearSyncPointCallbacks();
    BankTest::TearDown();
  }

  // Prepares a branch by hand, as a crashed coordinator would have left it.
  static void PrepareByHand(const std::string& db, int id, int64_t balance, const std::string& gid) {
    sandbox_->Exec(db, "BEGIN; UPDATE accounts SET balance = " + std::to_string(balance) +
                           " WHERE id = " + std::to_string(id) + "; PREPARE TRANSACTION '" + gid + "'");
  }

  static bool Has(const RecoveryReport& r, RecoveryActionKind kind, const std::string& gid) {
    for (const auto& a : r.actions) {
      if (a.kind == kind && (a.gid == gid || a.gtrid == gid)) return true;
    }
    return false;
  }
};

TEST_F(RecoveryTest, OrphanOfEarlierIncarnationIsFencedAndRolledBackAtOpen) {
  uint64_t old_incarnation;
  {
    auto log = OpenSqliteDecisionLog({log_dir_ + "/decisions.db"});
    ASSERT_TRUE(log.ok());
    old_incarnation = (*log)->incarnation();
  }
  // A process of that incarnation prepared two branches and died undecided.
  std::string g1 = EncodeGid({"sandbox", old_incarnation, 5, 1});
  std::string g2 = EncodeGid({"sandbox", old_incarnation, 5, 2});
  PrepareByHand("a", 1, 1, g1);
  PrepareByHand("b", 1, 2, g2);

  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(Balance("a", 1), kInitialBalance);  // rolled back, not committed
  EXPECT_EQ(Balance("b", 1), kInitialBalance);
  // Fenced: the log holds ABORT, so a late COMMIT from the dead process would
  // be refused.
  auto rec = coord->log().Lookup(EncodeGtrid("sandbox", old_incarnation, 5));
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->decision, Decision::kAbort);
  DecisionRecord late;
  late.gtrid = EncodeGtrid("sandbox", old_incarnation, 5);
  late.branches = {{"a", g1}, {"b", g2}};
  EXPECT_TRUE(coord->log().Decide(late).IsConflict());
}

TEST_F(RecoveryTest, ForeignPreparedTransactionsAreListedButNeverTouched) {
  const std::string java = "131077_dHgtMQ==_YnJhbmNoLTE=";  // pgjdbc: formatId 131077
  const std::string other = EncodeGid({"another-node", 1, 9, 1});
  PrepareByHand("a", 2, 3, java);
  PrepareByHand("b", 2, 4, other);
  PrepareByHand("c", 2, 5, "my-hand-made-txn");

  auto coord = Open(Options());  // its recovery pass must leave them alone
  ASSERT_NE(coord, nullptr);
  RecoveryReport r = coord->Recover();
  EXPECT_EQ(r.foreign, 3);
  EXPECT_TRUE(Has(r, RecoveryActionKind::kSkipForeign, java));
  EXPECT_EQ(PreparedEverywhere(), 3);

  ClassifiedGid c = ClassifyGid(java, "sandbox");
  EXPECT_EQ(c.kind, GidKind::kJavaXa);
  ASSERT_TRUE(c.xid.has_value());
  EXPECT_EQ(c.xid->format_id, 131077);
  EXPECT_EQ(c.xid->gtrid, "tx-1");
  EXPECT_EQ(c.xid->bqual, "branch-1");
  EXPECT_EQ(ClassifyGid(other, "sandbox").kind, GidKind::kOtherNode);
  EXPECT_EQ(ClassifyGid("my-hand-made-txn", "sandbox").kind, GidKind::kUnknown);
  EXPECT_EQ(ClassifyGid("citus_0_123_4_5", "sandbox").kind, GidKind::kCitus);

  sandbox_->Exec("a", "ROLLBACK PREPARED '" + java + "'");
  sandbox_->Exec("b", "ROLLBACK PREPARED '" + other + "'");
  sandbox_->Exec("c", "ROLLBACK PREPARED 'my-hand-made-txn'");
}

TEST_F(RecoveryTest, LiveTransactionIsLeftAloneWhileItDecides) {
  // The callback below blocks one I/O thread; the pass needs another.
  CoordinatorOptions opts = Options();
  opts.io_threads = 2;
  auto coord = Open(opts);
  ASSERT_NE(coord, nullptr);
  std::promise<void> reached, release;
  auto released = release.get_future().share();
  internal::SetSyncPointCallback("before_decision", [&](int) {
    reached.set_value();
    released.wait();
  });
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 1 WHERE id = 3").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 1 WHERE id = 3").ok());
  auto commit = std::async(std::launch::async, [&] { return tx.Commit(); });
  reached.get_future().wait();

  // Both branches are prepared and undecided -- but in flight: hands off.
  EXPECT_EQ(PreparedEverywhere(), 2);
  RecoveryReport r = coord->Recover();
  EXPECT_TRUE(Has(r, RecoveryActionKind::kSkipLive, EncodeGid({"sandbox", coord->incarnation(), 1, 1})) ||
              r.in_doubt_remaining > 0);
  EXPECT_EQ(PreparedEverywhere(), 2);

  release.set_value();
  ASSERT_TRUE(commit.get().ok());
  EXPECT_EQ(Balance("a", 3), kInitialBalance - 1);
  EXPECT_EQ(Balance("b", 3), kInitialBalance + 1);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

// docs/protocol.md, "Transaction phases": the coordinator's registry -- what
// the recovery pass asks -- says "may be deciding" from the prepare until
// the COMMIT record is durable, and "completing", not deciding, after.
TEST_F(RecoveryTest, RegistrySaysMayBeDecidingFromPrepareUntilTheDecisionOnly) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  const internal::TxnRegistry& txns = internal::CoordinatorAccess::Impl(*coord).txns;
  Transaction tx = coord->Begin();
  const std::string gtrid = tx.gtrid();
  struct Seen {
    bool may_be_deciding, completing;
  };
  std::mutex mutex;
  std::map<std::string, Seen> seen;  // sync point -> what the registry said there
  auto ask = [&](const std::string& point) {
    Seen s{txns.MayBeDeciding(gtrid), txns.IsCompleting(gtrid)};
    std::lock_guard lock(mutex);
    seen[point] = s;
  };
  internal::SetSyncPointCallback("after_prepare", [&](int k) { ask("after_prepare:" + std::to_string(k)); });
  for (const char* point : {"before_decision", "after_decision_forced", "before_end"}) {
    internal::SetSyncPointCallback(point, [&, point](int) { ask(point); });
  }
  internal::SetSyncPointCallback("after_commit_prepared",
                                 [&](int k) { ask("after_commit_prepared:" + std::to_string(k)); });
  EXPECT_TRUE(txns.MayBeDeciding(gtrid));  // active: it may still decide
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 1 WHERE id = 7").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 1 WHERE id = 7").ok());
  ASSERT_TRUE(tx.Commit().ok());
  coord->WaitForCompletions();
  internal::ClearSyncPointCallbacks();

  std::lock_guard lock(mutex);
  for (const char* point : {"after_prepare:1", "after_prepare:2", "before_decision"}) {
    ASSERT_TRUE(seen.count(point)) << point;
    EXPECT_TRUE(seen[point].may_be_deciding) << point;
    EXPECT_FALSE(seen[point].completing) << point;
  }
  for (const char* point :
       {"after_decision_forced", "after_commit_prepared:1", "after_commit_prepared:2", "before_end"}) {
    ASSERT_TRUE(seen.count(point)) << point;
    EXPECT_FALSE(seen[point].may_be_deciding) << point;
    EXPECT_TRUE(seen[point].completing) << point;
  }
  EXPECT_FALSE(txns.MayBeDeciding(gtrid));
  EXPECT_FALSE(txns.IsCompleting(gtrid));
  EXPECT_EQ(txns.PhaseOf(gtrid), internal::TxnPhase::kFinished);
}

TEST_F(RecoveryTest, FenceAfterGracePeriodMakesTheLateCommitAbort) {
  CoordinatorOptions opts = Options();
  opts.io_threads = 2;  // the callback below blocks one I/O thread
  auto coord = Open(opts);
  ASSERT_NE(coord, nullptr);
  std::promise<void> reached, release;
  auto released = release.get_future().share();
  internal::SetSyncPointCallback("before_decision", [&](int) {
    reached.set_value();
    released.wait();
  });
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 7 WHERE id = 4").ok());
  ASSERT_TRUE(tx.Queue("c", "UPDATE accounts SET balance = balance + 7 WHERE id = 4").ok());
  auto commit = std::async(std::launch::async, [&] { return tx.Commit(); });
  reached.get_future().wait();

  // The transaction is stuck before its decision for longer than the grace
  // period: recovery fences it with ABORT and rolls the branches back.
  std::this_thread::sleep_for(1500ms);
  RecoveryPassOptions pass;
  pass.live_grace = 1s;
  RecoveryReport r = coord->Recover(pass);
  EXPECT_TRUE(Has(r, RecoveryActionKind::kFence, tx.gtrid()));
  EXPECT_EQ(PreparedEverywhere(), 0);

  // Its COMMIT record now loses against the ABORT: the caller hears Aborted.
  release.set_value();
  Status s = commit.get();
  EXPECT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(Balance("a", 4), kInitialBalance);
  EXPECT_EQ(Balance("c", 4), kInitialBalance);
}

TEST_F(RecoveryTest, DryRunReportsButChangesNothing) {
  uint64_t old_incarnation;
  {
    auto log = OpenSqliteDecisionLog({log_dir_ + "/decisions.db"});
    ASSERT_TRUE(log.ok());
    old_incarnation = (*log)->incarnation();
  }
  std::string g1 = EncodeGid({"sandbox", old_incarnation, 8, 1});
  PrepareByHand("a", 5, 1, g1);
  CoordinatorOptions opts = Options();
  auto manager = RecoveryManager::Open(opts);
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  EXPECT_TRUE((*manager)->holds_log_lock());
  RecoveryPassOptions dry;
  dry.dry_run = true;
  RecoveryReport r = (*manager)->RunPass(dry);
  EXPECT_TRUE(Has(r, RecoveryActionKind::kRollbackPrepared, g1));
  EXPECT_EQ(PreparedEverywhere(), 1);
  EXPECT_FALSE((*manager)->log().Lookup(EncodeGtrid("sandbox", old_incarnation, 8))->has_value());

  r = (*manager)->RunPass({});
  EXPECT_EQ(r.ExitCode(), 0);
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(Balance("a", 5), kInitialBalance);
}

TEST_F(RecoveryTest, OperatorToolDoesNotFenceWhileCoordinatorRuns) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  // An orphan of an earlier incarnation that appeared after the coordinator's
  // own pass at Open.
  std::string g = EncodeGid({"sandbox", coord->incarnation() - 1, 99, 1});
  PrepareByHand("b", 6, 1, g);
  auto manager = RecoveryManager::Open(Options());
  ASSERT_TRUE(manager.ok());
  EXPECT_FALSE((*manager)->holds_log_lock());
  RecoveryReport r = (*manager)->RunPass({});
  EXPECT_TRUE(Has(r, RecoveryActionKind::kSkipLive, g));
  EXPECT_EQ(r.ExitCode(), 1);
  EXPECT_EQ(PreparedEverywhere(), 1);
  // The coordinator's own pass may: it holds the lock.
  coord->Recover();
  EXPECT_EQ(PreparedEverywhere(), 0);
}

TEST_F(RecoveryTest, StatusShowsLocksWaitersAndDecision) {
  uint64_t inc;
  std::string g;
  {
    auto log = OpenSqliteDecisionLog({log_dir_ + "/decisions.db"});
    ASSERT_TRUE(log.ok());
    inc = (*log)->incarnation();
    g = EncodeGid({"sandbox", inc, 3, 1});
    DecisionRecord rec;
    rec.gtrid = EncodeGtrid("sandbox", inc, 3);
    rec.branches = {{"a", g}};
    ASSERT_TRUE((*log)->Decide(rec).ok());
  }
  PrepareByHand("a", 7, 1, g);
  // A session that waits on the prepared transaction's row lock.
  std::thread waiter([] {
    std::string err;
    sandbox_->TryExec("a", "SET lock_timeout = '3s'; UPDATE accounts SET balance = 0 WHERE id = 7", &err);
  });
  std::this_thread::sleep_for(500ms);
  auto manager = RecoveryManager::Open(Options());
  ASSERT_TRUE(manager.ok());
  auto listing = (*manager)->ListPrepared(true);
  ASSERT_EQ(listing.branches.size(), 1u);
  const PreparedBranch& b = listing.branches[0];
  EXPECT_EQ(b.gid, g);
  EXPECT_EQ(b.classified.kind, GidKind::kThisNode);
  ASSERT_TRUE(b.decision.has_value());
  EXPECT_EQ(b.decision->decision, Decision::kCommit);
  EXPECT_EQ(b.locked_relations, std::vector<std::string>{"accounts"});
  EXPECT_EQ(b.waiting_sessions, 1);
  EXPECT_GE(b.xmin_age, 1);
  waiter.join();
  RecoveryReport r = (*manager)->RunPass({});
  EXPECT_EQ(r.ExitCode(), 0);
  EXPECT_EQ(Balance("a", 7), 1);  // the COMMIT decision was carried out
}

}  // namespace
}  // namespace twopc::testing

namespace twopc::testing {
namespace {

// The batch behind recovery of a backlog (docs/protocol.md, "Recovery of a
// backlog"), on the participant itself: one pipeline, and every statement
// answers on its own -- a gone gid does not fail the ones after it.
TEST_F(RecoveryTest, ManyPreparedEndsInOnePipelineAnswerEachOnItsOwn) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::unique_ptr<internal::Participant> a;
  for (const auto& p : Options().participants) {
    if (p.name == "a") a = internal::MakePgParticipant(io, p, 5s);
  }
  ASSERT_NE(a, nullptr);
  std::thread io_thread([&io] { io.run(); });
  PrepareByHand("a", 2, 222, "batch-commit");
  PrepareByHand("a", 3, 333, "batch-rollback");
  auto statuses = internal::AwaitCallback<std::vector<Status>>([&](auto done) {
    a->FinishPreparedMany({{"batch-commit", Decision::kCommit},
                           {"batch-gone", Decision::kAbort},
                           {"batch-rollback", Decision::kAbort},
                           {"batch-gone", Decision::kCommit}},
                          internal::Clock::now() + 10s, std::move(done));
  });
  ASSERT_EQ(statuses.size(), 4u);
  EXPECT_TRUE(statuses[0].ok()) << statuses[0].ToString();
  EXPECT_TRUE(statuses[1].IsNotFound()) << statuses[1].ToString();
  EXPECT_TRUE(statuses[2].ok()) << statuses[2].ToString();
  EXPECT_TRUE(statuses[3].IsNotFound()) << statuses[3].ToString();
  EXPECT_EQ(Balance("a", 2), 222);
  EXPECT_EQ(Balance("a", 3), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
  work.reset();
  io_thread.join();
  a.reset();
}

// A killed coordinator's pipelined PREPARE can finish on the server after
// the next coordinator's recovery at Open already ran; the background pass
// must pick it up.
TEST_F(RecoveryTest, BackgroundPassResolvesOrphanThatAppearsAfterOpen) {
  CoordinatorOptions opts = Options();
  opts.recovery.interval = 200ms;
  auto coord = Open(opts);
  ASSERT_NE(coord, nullptr);
  std::string g = EncodeGid({"sandbox", coord->incarnation() - 1, 42, 1});
  PrepareByHand("c", 8, 1, g);
  auto until = std::chrono::steady_clock::now() + 10s;
  while (PreparedEverywhere() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(Balance("c", 8), kInitialBalance);
}

}  // namespace
}  // namespace twopc::testing
