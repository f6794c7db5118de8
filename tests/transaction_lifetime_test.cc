// A Transaction that outlives its Coordinator (issue 9, item 9): every call
// fails cleanly and its destructor does nothing harmful. These tests also run
// under valgrind (ctest api_test_lifetime_valgrind), which is what shows the
// use-after-free they guard against: without valgrind or ASan a read of
// freed memory may go unnoticed.
#include <chrono>
#include <thread>

#include "tests/support/bank_fixture.h"

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;

class TransactionLifetimeTest : public BankTest {
 protected:
  // True when nobody holds a lock on accounts(id) of `db`: an update of that
  // row by another session does not have to wait.
  static bool RowIsFree(const std::string& db, int id) {
    std::string error;
    bool ok = sandbox_->TryExec(db,
                                "SET lock_timeout = '2s'; UPDATE accounts SET balance = balance "
                                "WHERE id = " + std::to_string(id),
                                &error);
    if (!ok) ADD_FAILURE() << "row " << id << " of " << db << " is still locked: " << error;
    return ok;
  }

  static void ExpectOrphaned(const Status& s, const char* call) {
    EXPECT_TRUE(s.IsAborted()) << call << ": " << s.ToString();
    EXPECT_NE(s.message().find("Coordinator"), std::string::npos) << call << ": " << s.ToString();
  }
};

TEST_F(TransactionLifetimeTest, CallsAfterTheCoordinatorIsDestroyedFailCleanly) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 1 WHERE id = 1").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = 1 WHERE id = 1").ok());
  const std::string gtrid = tx.gtrid();

  coord.reset();

  // The Coordinator rolled the open branch back as it went: nothing of the
  // transaction is visible and its row lock is gone.
  EXPECT_EQ(Balance("a", 1), kInitialBalance);
  EXPECT_TRUE(RowIsFree("a", 1));
  EXPECT_FALSE(tx.active());
  EXPECT_EQ(tx.gtrid(), gtrid);

  auto rows = tx.Execute("a", "SELECT 1");
  ASSERT_FALSE(rows.ok());
  ExpectOrphaned(rows.status(), "Execute");
  ExpectOrphaned(tx.Queue("c", "SELECT 1"), "Queue");
  ExpectOrphaned(tx.Commit(), "Commit");
  ExpectOrphaned(tx.Rollback(), "Rollback");

  EXPECT_EQ(Balance("a", 1), kInitialBalance);
  EXPECT_EQ(Balance("b", 1), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
}  // ~Transaction after ~Coordinator: must not touch the freed coordinator

TEST_F(TransactionLifetimeTest, DestroyingTheTransactionAfterTheCoordinatorIsHarmless) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  auto tx = std::make_unique<Transaction>(coord->Begin());
  ASSERT_TRUE(tx->Execute("a", "UPDATE accounts SET balance = 2 WHERE id = 2").ok());
  ASSERT_TRUE(tx->Execute("b", "UPDATE accounts SET balance = 2 WHERE id = 2").ok());
  Transaction never_used = coord->Begin();
  coord.reset();
  tx.reset();
  // Moving onto an orphan rolls back nothing and touches nothing either.
  Transaction other = std::move(never_used);
  EXPECT_FALSE(other.active());
  EXPECT_EQ(Balance("a", 2), kInitialBalance);
  EXPECT_EQ(Balance("b", 2), kInitialBalance);
  EXPECT_TRUE(RowIsFree("a", 2));
  EXPECT_TRUE(RowIsFree("b", 2));
}

// The contract for threads: destroying the Coordinator while another thread
// is inside a call of one of its Transactions waits for that call; the calls
// after it fail cleanly.
TEST_F(TransactionLifetimeTest, CoordinatorDestroyedDuringACallWaitsForIt) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 3 WHERE id = 3").ok());
  Status during;
  std::thread caller([&] {
    auto r = tx.Execute("b", "SELECT pg_sleep(1) AS lifetime_test_sleep");
    during = r.ok() ? Status::OK() : r.status();
  });
  // Destroy the coordinator only once the statement runs on b (under
  // valgrind getting there takes a while).
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (sandbox_->QueryInt("b", "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                                 " AND query LIKE '%lifetime_test_sleep%'"
                                 " AND pid <> pg_backend_pid()") == 0 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
  }
  coord.reset();
  caller.join();
  EXPECT_TRUE(during.ok()) << during.ToString();
  ExpectOrphaned(tx.Commit(), "Commit");
  EXPECT_EQ(Balance("a", 3), kInitialBalance);
  EXPECT_TRUE(RowIsFree("a", 3));
}

// A transaction that committed before the Coordinator went away stays
// committed, and its handle behaves as any finished transaction's.
TEST_F(TransactionLifetimeTest, FinishedTransactionOutlivingItsCoordinatorKeepsItsOutcome) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = 4 WHERE id = 4").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = 4 WHERE id = 4").ok());
  ASSERT_TRUE(tx.Commit().ok());
  coord.reset();
  EXPECT_FALSE(tx.active());
  EXPECT_TRUE(tx.Rollback().ok());  // idempotent, as after any commit
  EXPECT_TRUE(tx.Commit().IsInvalidArgument());
  EXPECT_EQ(Balance("a", 4), 4);
  EXPECT_EQ(Balance("b", 4), 4);
}

}  // namespace
}  // namespace twopc::testing
