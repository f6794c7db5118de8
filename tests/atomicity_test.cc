// Ways a committed transaction could end half rolled back (issue 9, part A),
// and the resource traps around them, against real PostgreSQL servers. Each
// test here failed before the fix it names.
#include <future>
#include <thread>

#include <libpq-fe.h>

#include "testing/sync_point.h"
#include "tests/support/bank_fixture.h"
#include "tests/support/row_lock.h"
#include "twopc/gid.h"
#include "twopc/recovery.h"

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;

class AtomicityTest : public BankTest {
 protected:
  void TearDown() override {
    internal::ClearSyncPointCallbacks();
    BankTest::TearDown();
  }

  // Prepares a branch by hand, as a crashed coordinator would have left it,
  // and returns its transaction id (as txid_current()).
  static uint64_t PrepareByHand(const std::string& db, int id, int64_t delta, const std::string& gid) {
    PGconn* c = PQconnectdb(sandbox_->conninfo(db).c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    uint64_t txid = 0;
    for (const std::string& sql :
         {std::string("BEGIN"),
          "UPDATE accounts SET balance = balance + " + std::to_string(delta) + " WHERE id = " +
              std::to_string(id),
          std::string("SELECT txid_current()"), "PREPARE TRANSACTION '" + gid + "'"}) {
      PGresult* r = PQexec(c, sql.c_str());
      EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
          << sql << ": " << PQerrorMessage(c);
      if (PQresultStatus(r) == PGRES_TUPLES_OK) txid = std::stoull(PQgetvalue(r, 0, 0));
      PQclear(r);
    }
    PQfinish(c);
    return txid;
  }

  // Waits until `db` has `n` prepared transactions (or ~10 s passed).
  static bool WaitPrepared(const std::string& db, int64_t n) {
    for (int i = 0; i < 1000; ++i) {
      if (sandbox_->PreparedCount(db) == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

// Item 1: with live grace, recovery fences a slow transaction of the live
// process (ABORT record) and rolls back its prepared branch. Compaction then
// deleted that ended ABORT, the slow branch prepared at last, the COMMIT
// record was accepted -- and Commit() returned OK with branch a rolled back.
TEST_F(AtomicityTest, CompactionKeepsTheFenceOfALiveTransaction) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  RowLock lock(sandbox_->conninfo("b"), 5);

  TransactionOptions o;
  o.deadline = 60s;
  Transaction tx = coord->Begin(o);
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 100 WHERE id = 5").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 100 WHERE id = 5").ok());
  std::promise<Status> committed;
  tx.CommitAsync([&committed](Status s) { committed.set_value(std::move(s)); });
  ASSERT_TRUE(WaitPrepared("a", 1));  // a prepared, b waits on the lock

  std::this_thread::sleep_for(1500ms);  // older than the grace below
  RecoveryPassOptions pass;
  pass.live_grace = 1s;
  RecoveryReport r = coord->Recover(pass);
  EXPECT_EQ(sandbox_->PreparedCount("a"), 0) << "recovery should have fenced and rolled back a";
  auto deleted = coord->log().Compact();
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();

  lock.Release();  // b prepares; the COMMIT record must now be refused
  auto future = committed.get_future();
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready);
  Status s = future.get();
  EXPECT_TRUE(s.IsAborted()) << s.ToString();
  coord->WaitForCompletions();
  EXPECT_EQ(Balance("a", 5), kInitialBalance);
  EXPECT_EQ(Balance("b", 5), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

// Item 8: a commit's operation and transaction state were kept alive by a
// shared_ptr cycle through the phase-2 join: every two-phase commit leaked
// them, and the set of open transactions only grew.
TEST_F(AtomicityTest, CommitsReleaseTheirStateAndTheOpenSetEmpties) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  for (int i = 0; i < 20; ++i) {
    TransactionOptions o;
    o.early_ack = i % 2 == 1;
    Transaction tx = coord->Begin(o);
    ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 1 WHERE id = 1").ok());
    ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 1 WHERE id = 1").ok());
    Status s = tx.Commit();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  {  // an abort, a one-phase commit and a read-only one
    Transaction tx = coord->Begin();
    ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance + 1 WHERE id = 2").ok());
    ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance - 5000 WHERE id = 2").ok());
    EXPECT_TRUE(tx.Commit().IsAborted());
    Transaction one = coord->Begin();
    ASSERT_TRUE(one.Queue("c", "UPDATE accounts SET balance = balance WHERE id = 3").ok());
    EXPECT_TRUE(one.Commit().ok());
    Transaction ro = coord->Begin();
    ASSERT_TRUE(ro.Execute("c", "SELECT 1").ok());
    EXPECT_TRUE(ro.Commit().ok());
  }
  coord->WaitForCompletions();
  // Completion hands the state back from an I/O thread just after it
  // reports; give it a moment rather than racing it.
  for (int i = 0; i < 200 && coord->stats().transactions_open > 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(coord->stats().transactions_open, 0u);
  EXPECT_EQ(coord->stats().completions_pending, 0u);
  EXPECT_EQ(Total(), 3 * kAccountsPerDb * kInitialBalance);
}

// Item 4, in the coordinator: COMMIT PREPARED answering "does not exist" was
// taken as "an earlier try committed it". Here an operator rolled the branch
// back by hand between the decision and phase 2: the transaction is mixed,
// and the caller, the stats and the log must say so.
TEST_F(AtomicityTest, BranchRolledBackByHandAfterTheDecisionIsAMixedOutcome) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 7 WHERE id = 6").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 7 WHERE id = 6").ok());
  const std::string gid_b = tx.gtrid() + ".2";  // b is the second branch used
  internal::SetSyncPointCallback("after_decision_forced", [&](int) {
    sandbox_->Exec("b", "ROLLBACK PREPARED '" + gid_b + "'");
  });
  Status s = tx.Commit();
  EXPECT_TRUE(s.IsHeuristicMixed()) << s.ToString();
  EXPECT_EQ(s.participant(), "b");
  coord->WaitForCompletions();
  EXPECT_EQ(coord->stats().heuristic_mixed, 1u);
  EXPECT_EQ(Balance("a", 6), kInitialBalance - 7);
  EXPECT_EQ(Balance("b", 6), kInitialBalance);  // the money is gone: reported, not hidden
  auto heuristics = coord->log().Heuristics();
  ASSERT_TRUE(heuristics.ok());
  ASSERT_EQ(heuristics->size(), 1u);
  EXPECT_EQ((*heuristics)[0].gid, gid_b);
  RecoveryReport r = coord->Recover();
  EXPECT_EQ(r.mixed, 1);
  EXPECT_EQ(r.ExitCode(), 3);
}

// Item 4, in recovery: a COMMIT record left for recovery, one of whose
// branches was rolled back by hand. "commit completed on every branch, 0
// mixed" and exit 0 was the answer; txid_status() says otherwise.
TEST_F(AtomicityTest, RecoveryReportsABranchRolledBackBehindTheLogsBack) {
  uint64_t old_incarnation;
  std::string gtrid, g1, g2;
  {
    auto log = OpenSqliteDecisionLog({log_dir_ + "/decisions.db"});
    ASSERT_TRUE(log.ok());
    old_incarnation = (*log)->incarnation();
    gtrid = EncodeGtrid("sandbox", old_incarnation, 3);
    g1 = EncodeGid({"sandbox", old_incarnation, 3, 1});
    g2 = EncodeGid({"sandbox", old_incarnation, 3, 2});
    uint64_t x1 = PrepareByHand("a", 7, -5, g1);
    uint64_t x2 = PrepareByHand("b", 7, 5, g2);
    ASSERT_NE(x1, 0u);
    ASSERT_NE(x2, 0u);
    DecisionRecord commit;
    commit.gtrid = gtrid;
    commit.branches = {{"a", g1, x1}, {"b", g2, x2}};
    ASSERT_TRUE((*log)->Decide(commit).ok());
  }
  sandbox_->Exec("b", "ROLLBACK PREPARED '" + g2 + "'");  // the operator's hand

  auto coord = Open(Options());  // its pass commits a and finds b rolled back
  ASSERT_NE(coord, nullptr);
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(Balance("a", 7), kInitialBalance - 5);
  RecoveryReport r = coord->Recover();
  EXPECT_EQ(r.mixed, 1);
  EXPECT_EQ(r.ExitCode(), 3);
  auto heuristics = coord->log().Heuristics();
  ASSERT_TRUE(heuristics.ok());
  ASSERT_EQ(heuristics->size(), 1u);
  EXPECT_EQ((*heuristics)[0].gid, g2);
  EXPECT_EQ((*heuristics)[0].action, Decision::kAbort);
}

// Item 3: `twopc rollback GID` fenced and rolled back an undecided branch
// whose incarnation is newer than the log's -- one that `recover` refuses
// ("is another log in use for this node id?"). Both now ask one function.
TEST_F(AtomicityTest, ResolveRefusesWhatRecoveryRefuses) {
  uint64_t incarnation;
  {
    auto log = OpenSqliteDecisionLog({log_dir_ + "/decisions.db"});
    ASSERT_TRUE(log.ok());
    incarnation = (*log)->incarnation();
  }
  // From a process whose log is not this one: its incarnation is ahead.
  const std::string gid = EncodeGid({"sandbox", incarnation + 10, 1, 1});
  PrepareByHand("a", 8, -1, gid);
  auto manager = RecoveryManager::Open(Options());
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  ASSERT_TRUE((*manager)->holds_log_lock());
  RecoveryReport r = (*manager)->RunPass({});
  EXPECT_EQ(sandbox_->PreparedCount("a"), 1) << "recover must leave it alone";
  Status s = (*manager)->Resolve(gid, Decision::kAbort, /*force=*/false);
  EXPECT_TRUE(s.IsConflict()) << s.ToString();
  EXPECT_NE(s.message().find("newer than the log"), std::string::npos) << s.message();
  EXPECT_EQ(sandbox_->PreparedCount("a"), 1);
  sandbox_->Exec("a", "ROLLBACK PREPARED '" + gid + "'");

  // What recovery would roll back, rollback does: fence, roll back, and END
  // (no record left for `status` to call in doubt).
  const std::string orphan = EncodeGid({"sandbox", incarnation, 2, 1});
  PrepareByHand("a", 8, -1, orphan);
  Status ok = (*manager)->Resolve(orphan, Decision::kAbort, /*force=*/false);
  EXPECT_TRUE(ok.ok()) << ok.ToString();
  EXPECT_EQ(sandbox_->PreparedCount("a"), 0);
  ASSERT_TRUE((*manager)->log().Flush().ok());
  auto unended = (*manager)->log().Unended();
  ASSERT_TRUE(unended.ok());
  EXPECT_TRUE(unended->empty()) << "the fence of a rolled-back orphan needs its END";
}

// Issue 13: `twopc rollback` of this node's undecided branch runs the
// recovery pass itself, restricted to that one transaction. Its other
// branches (on other participants) are fenced and rolled back with it, as
// the pass would; another orphan, which the same pass run unrestricted
// would roll back too, is neither fenced nor touched.
TEST_F(AtomicityTest, OperatorRollbackIsThePassRestrictedToItsTransaction) {
  uint64_t incarnation;
  {
    auto log = OpenSqliteDecisionLog({log_dir_ + "/decisions.db"});
    ASSERT_TRUE(log.ok());
    incarnation = (*log)->incarnation();
  }
  // Two orphans of a dead incarnation: txn 3 on a and b, txn 4 on c.
  const std::string mine_a = EncodeGid({"sandbox", incarnation, 3, 1});
  const std::string mine_b = EncodeGid({"sandbox", incarnation, 3, 2});
  const std::string other = EncodeGid({"sandbox", incarnation, 4, 1});
  PrepareByHand("a", 9, -1, mine_a);
  PrepareByHand("b", 9, 1, mine_b);
  PrepareByHand("c", 9, 1, other);
  auto manager = RecoveryManager::Open(Options());
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  ASSERT_TRUE((*manager)->holds_log_lock());

  Status s = (*manager)->Resolve(mine_a, Decision::kAbort, /*force=*/false);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(sandbox_->PreparedCount("a"), 0);
  EXPECT_EQ(sandbox_->PreparedCount("b"), 0) << "the pass rolls back every branch of the fenced transaction";
  EXPECT_EQ(sandbox_->PreparedCount("c"), 1) << "another transaction's branch was touched";
  ASSERT_TRUE((*manager)->log().Flush().ok());
  const std::string other_gtrid = EncodeGtrid("sandbox", incarnation, 4);
  auto rec = (*manager)->log().Lookup(other_gtrid);
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  EXPECT_FALSE(rec->has_value()) << "another transaction was fenced";
  auto unended = (*manager)->log().Unended();
  ASSERT_TRUE(unended.ok());
  EXPECT_TRUE(unended->empty()) << "the rolled-back transaction needs its END";

  // The unrestricted pass (`twopc recover`) still finds the other orphan.
  RecoveryReport r = (*manager)->RunPass({});
  EXPECT_EQ(sandbox_->PreparedCount("c"), 0) << r.actions.size();
}

// Item 6: two replicas sharing one config but with their own logs (their
// own hosts) each believed the node id was theirs, and one's recovery rolled
// back the other's committed transactions. The second is refused, and told
// who holds the node id.
TEST_F(AtomicityTest, SecondLiveCoordinatorWithTheSameNodeIdIsRefused) {
  auto first = Open(Options());
  ASSERT_NE(first, nullptr);
  CoordinatorOptions other = Options();
  other.log.path = log_dir_ + "/replica-b.db";  // another replica's own log
  auto second = Coordinator::Open(other);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsConflict()) << second.status().ToString();
  EXPECT_NE(second.status().message().find("already in use"), std::string::npos);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(getpid())), std::string::npos)
      << second.status().message();
  // The operator's tool is refused the same way while the first one runs.
  {  // that replica's log exists (it ran before)
    auto log = OpenSqliteDecisionLog(other.log);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
  }
  auto manager = RecoveryManager::Open(other);
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  const std::string gid = EncodeGid({"sandbox", 1, 99, 1});  // undecided, old incarnation
  PrepareByHand("c", 9, -1, gid);
  RecoveryReport r = (*manager)->RunPass({});
  EXPECT_EQ(sandbox_->PreparedCount("c"), 1) << "fenced while another process holds the node id";
  manager->reset();
  first.reset();
  auto again = Coordinator::Open(other);  // the node id is free again
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(sandbox_->PreparedCount("c"), 0);
}

}  // namespace
}  // namespace twopc::testing
