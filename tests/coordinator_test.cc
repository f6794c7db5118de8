// The protocol's outcomes against real PostgreSQL servers.
#include <chrono>

#include "tests/support/bank_fixture.h"
#include "twopc/gid.h"
#include "twopc/retry.h"

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;

class CoordinatorTest : public BankTest {};

Status Transfer(Transaction& tx, const std::string& from_db, int from, const std::string& to_db,
                int to, int64_t amount) {
  if (Status s = tx.Queue(from_db, "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
                          {amount, from});
      !s.ok()) {
    return s;
  }
  return tx.Queue(to_db, "UPDATE accounts SET balance = balance + $1 WHERE id = $2", {amount, to});
}

TEST_F(CoordinatorTest, CommitIsVisibleOnAllParticipants) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 30 WHERE id = 1").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 10 WHERE id = 1").ok());
  ASSERT_TRUE(tx.Queue("c", "UPDATE accounts SET balance = balance + 20 WHERE id = 1").ok());
  Status s = tx.Commit();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(tx.active());

  EXPECT_EQ(Balance("a", 1), 970);
  EXPECT_EQ(Balance("b", 1), 1010);
  EXPECT_EQ(Balance("c", 1), 1020);
  EXPECT_EQ(PreparedEverywhere(), 0);

  // One COMMIT record, with its three branches, and an END.
  ASSERT_TRUE(coord->log().Flush().ok());
  auto all = coord->log().All();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].gtrid, tx.gtrid());
  EXPECT_EQ((*all)[0].decision, Decision::kCommit);
  EXPECT_EQ((*all)[0].branches.size(), 3u);
  EXPECT_TRUE((*all)[0].ended_at_ms.has_value());
  EXPECT_EQ(coord->stats().committed, 1u);
}

TEST_F(CoordinatorTest, ExecuteReturnsRowsAndSeesOwnWrites) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  auto upd = tx.Execute("a", "UPDATE accounts SET balance = 5 WHERE id = $1", {2});
  ASSERT_TRUE(upd.ok()) << upd.status().ToString();
  EXPECT_EQ(upd->affected(), 1u);
  auto rows = tx.Execute("a", "SELECT id, balance FROM accounts WHERE id = $1", {2});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->columns()[1], "balance");
  EXPECT_EQ(rows->Int(0, 1), 5);
  ASSERT_TRUE(tx.Execute("b", "UPDATE accounts SET balance = 6 WHERE id = $1", {2}).ok());
  ASSERT_TRUE(tx.Commit().ok());
  EXPECT_EQ(Balance("a", 2), 5);
  EXPECT_EQ(Balance("b", 2), 6);
}

TEST_F(CoordinatorTest, SqlErrorInSecondBranchRollsBackFirst) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance + 1 WHERE id = 3").ok());
  // Violates CHECK (balance >= 0) on b: SQLSTATE 23514, found at prepare time.
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance - 5000 WHERE id = 3").ok());
  Status s = tx.Commit();
  ASSERT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(s.participant(), "b");
  EXPECT_EQ(s.sqlstate(), "23514");
  EXPECT_EQ(Balance("a", 3), kInitialBalance);
  EXPECT_EQ(Balance("b", 3), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
  // Presumed abort: an abort writes nothing.
  auto all = coord->log().All();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  EXPECT_EQ(coord->stats().aborted, 1u);
}

TEST_F(CoordinatorTest, FailedExecuteDoomsTheTransaction) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 1 WHERE id = 4").ok());
  auto dup = tx.Execute("b", "INSERT INTO accounts VALUES (4, 1)");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().sqlstate(), "23505");
  EXPECT_EQ(dup.status().participant(), "b");
  // Further statements are refused, and Commit aborts with the first cause.
  EXPECT_FALSE(tx.Execute("c", "SELECT 1").ok());
  Status s = tx.Commit();
  ASSERT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(s.sqlstate(), "23505");
  EXPECT_EQ(Balance("a", 4), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

TEST_F(CoordinatorTest, ReadOnlyTransactionWritesNoLogRecord) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Execute("a", "SELECT balance FROM accounts WHERE id = 1").ok());
  ASSERT_TRUE(tx.Execute("b", "SELECT balance FROM accounts WHERE id = 1").ok());
  ASSERT_TRUE(tx.Commit().ok());
  EXPECT_EQ(coord->stats().committed_read_only, 1u);
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_TRUE(coord->log().All()->empty());
  EXPECT_EQ(coord->stats().log.records_forced, 0u);
}

TEST_F(CoordinatorTest, SingleWriteBranchCommitsInOnePhaseWithoutLogRecord) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Execute("b", "SELECT balance FROM accounts WHERE id = 5").ok());  // read-only
  ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 42 WHERE id = 5").ok());
  ASSERT_TRUE(tx.Commit().ok());
  EXPECT_EQ(Balance("a", 5), 42);
  EXPECT_EQ(coord->stats().committed_one_phase, 1u);
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_TRUE(coord->log().All()->empty());
  EXPECT_EQ(PreparedEverywhere(), 0);
}

TEST_F(CoordinatorTest, DestroyedTransactionRollsBack) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  {
    Transaction tx = coord->Begin();
    ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 7 WHERE id = 6").ok());
    ASSERT_TRUE(tx.Execute("b", "UPDATE accounts SET balance = 7 WHERE id = 6").ok());
  }
  coord.reset();  // waits for the rollback
  EXPECT_EQ(Balance("a", 6), kInitialBalance);
  EXPECT_EQ(Balance("b", 6), kInitialBalance);
}

TEST_F(CoordinatorTest, ExplicitRollbackUndoesEveryBranch) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 8 WHERE id = 7").ok());
  ASSERT_TRUE(tx.Execute("c", "UPDATE accounts SET balance = 8 WHERE id = 7").ok());
  ASSERT_TRUE(tx.Rollback().ok());
  ASSERT_TRUE(tx.Rollback().ok());  // idempotent
  EXPECT_TRUE(tx.Commit().IsInvalidArgument());
  EXPECT_EQ(Balance("a", 7), kInitialBalance);
  EXPECT_EQ(Balance("c", 7), kInitialBalance);
}

TEST_F(CoordinatorTest, UnknownParticipantIsAClearError) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  Status s = tx.Queue("nope", "SELECT 1");
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("nope"), std::string::npos);
}

TEST_F(CoordinatorTest, EarlyAckCompletesPhaseTwoInBackground) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  TransactionOptions to;
  to.early_ack = true;
  for (int i = 0; i < 20; ++i) {
    Transaction tx = coord->Begin(to);
    ASSERT_TRUE(Transfer(tx, "a", 8, "b", 8, 1).ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
  coord->WaitForCompletions();
  EXPECT_EQ(Balance("a", 8), kInitialBalance - 20);
  EXPECT_EQ(Balance("b", 8), kInitialBalance + 20);
  EXPECT_EQ(PreparedEverywhere(), 0);
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_TRUE(coord->log().Unended()->empty());
}

TEST_F(CoordinatorTest, IsolationLevelIsApplied) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  TransactionOptions to;
  to.isolation = IsolationLevel::kSerializable;
  Transaction tx = coord->Begin(to);
  auto r = tx.Execute("a", "SHOW transaction_isolation");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0][0].value_or(""), "serializable");
  ASSERT_TRUE(tx.Commit().ok());
}

TEST_F(CoordinatorTest, RetryHelperRerunsOnSerializationFailure) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  int attempts = 0;
  Status s = RunTransaction(*coord, [&](Transaction& tx) -> Status {
    ++attempts;
    if (attempts == 1) {
      // A real server-side 40001, as a serializable conflict would raise.
      auto r = tx.Execute("a", "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$");
      return r.status();
    }
    return Transfer(tx, "a", 9, "c", 9, 5);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(Balance("a", 9), kInitialBalance - 5);
  EXPECT_EQ(Balance("c", 9), kInitialBalance + 5);
}

TEST_F(CoordinatorTest, RetryHelperDoesNotRerunOtherFailures) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  int attempts = 0;
  Status s = RunTransaction(*coord, [&](Transaction& tx) -> Status {
    ++attempts;
    return tx.Execute("a", "INSERT INTO accounts VALUES (1, 1)").status();  // 23505
  });
  EXPECT_EQ(s.sqlstate(), "23505");
  EXPECT_EQ(attempts, 1);
}

TEST_F(CoordinatorTest, RealSerializationConflictIsRetriedToSuccess) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  TransactionOptions to;
  to.isolation = IsolationLevel::kRepeatableRead;
  // Two bodies update the same row; under REPEATABLE READ the later one gets
  // 40001 once the first commits, and RunTransaction reruns it.
  std::atomic<int> attempts{0};
  auto body = [&](Transaction& tx) -> Status {
    attempts++;
    auto r = tx.Execute("a", "SELECT balance FROM accounts WHERE id = 10");
    if (!r.ok()) return r.status();
    std::this_thread::sleep_for(50ms);
    if (auto u = tx.Execute("a", "UPDATE accounts SET balance = balance + 1 WHERE id = 10"); !u.ok()) {
      return u.status();
    }
    return tx.Queue("b", "UPDATE accounts SET balance = balance + 1 WHERE id = 10");
  };
  Status s1, s2;
  std::thread t1([&] { s1 = RunTransaction(*coord, body, to); });
  std::thread t2([&] { s2 = RunTransaction(*coord, body, to); });
  t1.join();
  t2.join();
  ASSERT_TRUE(s1.ok()) << s1.ToString();
  ASSERT_TRUE(s2.ok()) << s2.ToString();
  EXPECT_GE(attempts.load(), 3);
  EXPECT_EQ(Balance("a", 10), kInitialBalance + 2);
  EXPECT_EQ(Balance("b", 10), kInitialBalance + 2);
}

TEST_F(CoordinatorTest, UnreachableParticipantAbortsWithinDeadline) {
  ScopedBlackholeServer blackhole;
  CoordinatorOptions opts = Options();
  opts.connect_timeout = 300ms;
  opts.participants.push_back(
      {"hole", "host=127.0.0.1 port=" + std::to_string(blackhole.port()) +
                   " dbname=x user=postgres password=hunter2"});
  auto coord = Open(opts);  // unreachable at start: a warning, not an error
  ASSERT_NE(coord, nullptr);
  TransactionOptions to;
  to.deadline = 1000ms;
  Transaction tx = coord->Begin(to);
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = 0 WHERE id = 1").ok());
  ASSERT_TRUE(tx.Queue("hole", "UPDATE t SET x = 1").ok());
  auto start = std::chrono::steady_clock::now();
  Status s = tx.Commit();
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(s.participant(), "hole");
  EXPECT_EQ(s.message().find("hunter2"), std::string::npos);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(Balance("a", 1), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

TEST_F(CoordinatorTest, TimedOutBranchDoesNotPrepareLater) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  // Another session holds the row lock for 2 s.
  std::thread holder([] {
    sandbox_->Exec("a", "BEGIN; UPDATE accounts SET balance = balance WHERE id = 9; "
                        "SELECT pg_sleep(2); COMMIT");
  });
  std::this_thread::sleep_for(300ms);
  TransactionOptions to;
  to.deadline = 700ms;
  Transaction tx = coord->Begin(to);
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 1 WHERE id = 9").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 1 WHERE id = 9").ok());
  Status s = tx.Commit();
  EXPECT_TRUE(s.IsAborted()) << s.ToString();
  holder.join();
  // Had the waiting UPDATE been left running, the PREPARE pipelined behind it
  // would now have run: an orphan holding the row until recovery.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(Balance("a", 9), kInitialBalance);
  EXPECT_EQ(Balance("b", 9), kInitialBalance);
}

TEST_F(CoordinatorTest, CommitRecordLeftByEarlierRunIsCompletedAtOpen) {
  // An earlier incarnation decided COMMIT and died before COMMIT PREPARED.
  std::string g1, g2, gtrid;
  {
    auto log = OpenSqliteDecisionLog({log_dir_ + "/decisions.db"});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    gtrid = EncodeGtrid("sandbox", (*log)->incarnation(), 77);
    g1 = EncodeGid({"sandbox", (*log)->incarnation(), 77, 1});
    g2 = EncodeGid({"sandbox", (*log)->incarnation(), 77, 2});
    sandbox_->Exec("a", "BEGIN; UPDATE accounts SET balance = 1 WHERE id = 2; PREPARE TRANSACTION '" + g1 + "'");
    sandbox_->Exec("b", "BEGIN; UPDATE accounts SET balance = 2 WHERE id = 2; PREPARE TRANSACTION '" + g2 + "'");
    DecisionRecord rec;
    rec.gtrid = gtrid;
    rec.branches = {{"a", g1}, {"b", g2}};
    ASSERT_TRUE((*log)->Decide(rec).ok());
  }
  ASSERT_EQ(PreparedEverywhere(), 2);
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(Balance("a", 2), 1);
  EXPECT_EQ(Balance("b", 2), 2);
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_TRUE(coord->log().Unended()->empty());
  auto rec = coord->log().Lookup(gtrid);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_TRUE((*rec)->ended_at_ms.has_value());
}

TEST_F(CoordinatorTest, SecondCoordinatorOnSameLogIsRefused) {
  auto first = Open(Options());
  ASSERT_NE(first, nullptr);
  auto second = Coordinator::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
}

TEST(MaxPreparedTransactions, ZeroIsAClearErrorAtOpen) {
  SandboxOptions so;
  so.max_prepared = 0;
  auto sb = PgSandbox::Start({"z"}, so);
  ASSERT_NE(sb, nullptr);
  auto opts = LoadConfigFile(sb->config_path());
  ASSERT_TRUE(opts.ok());
  auto coord = Coordinator::Open(opts.value());
  ASSERT_FALSE(coord.ok());
  EXPECT_TRUE(coord.status().IsInvalidArgument());
  EXPECT_EQ(coord.status().participant(), "z");
  EXPECT_NE(coord.status().message().find("max_prepared_transactions"), std::string::npos);
}

}  // namespace
}  // namespace twopc::testing
