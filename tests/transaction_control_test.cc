// Transaction control through Execute/Queue (issue 9, item 10): a statement
// that would end a branch's transaction (COMMIT, ROLLBACK, PREPARE
// TRANSACTION...) is refused before it is sent, and a branch that still
// finds itself outside its transaction after a statement fails the
// transaction with an honest error instead of committing half of it.
#include <chrono>
#include <future>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "coordinator/coordinator_impl.h"
#include "tests/support/bank_fixture.h"

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;

class TransactionControlTest : public BankTest {
 protected:
  static void ExpectRefused(const Status& s, const std::string& participant,
                            const std::string& sql) {
    EXPECT_TRUE(s.IsInvalidArgument()) << sql << ": " << s.ToString();
    EXPECT_EQ(s.participant(), participant) << sql;
    EXPECT_NE(s.message().find("transaction control is twopc's job"), std::string::npos)
        << sql << ": " << s.ToString();
  }
};

TEST_F(TransactionControlTest, ExecuteCommitIsRefusedAndTheTransactionCommitsNowhere) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 7 WHERE id = 2").ok());
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = 8 WHERE id = 3").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = 7 WHERE id = 2").ok());

  auto r = tx.Execute("a", "COMMIT");
  ASSERT_FALSE(r.ok());
  ExpectRefused(r.status(), "a", "COMMIT");

  Status s = tx.Commit();
  EXPECT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(s.participant(), "a");
  // Nothing of it anywhere: neither the executed nor the queued statements.
  EXPECT_EQ(Balance("a", 2), kInitialBalance);
  EXPECT_EQ(Balance("a", 3), kInitialBalance);
  EXPECT_EQ(Balance("b", 2), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

TEST_F(TransactionControlTest, QueuedTransactionControlIsRefusedAndTheTransactionCommitsNowhere) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = 7 WHERE id = 4").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = 7 WHERE id = 4").ok());
  ExpectRefused(tx.Queue("b", "  -- done\n /* now */ commit;"), "b", "commit");
  Status s = tx.Commit();
  EXPECT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(Balance("a", 4), kInitialBalance);
  EXPECT_EQ(Balance("b", 4), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

TEST_F(TransactionControlTest, EveryTransactionControlStatementIsRefused) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  for (const char* sql :
       {"COMMIT", "commit work", "END", "END TRANSACTION", "COMMIT AND CHAIN", "ROLLBACK",
        "rollback and chain", "ABORT", "BEGIN", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'", "ROLLBACK PREPARED 'x'",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"}) {
    Transaction tx = coord->Begin();
    ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 5 WHERE id = 5").ok());
    auto r = tx.Execute("a", sql);
    ASSERT_FALSE(r.ok()) << sql;
    ExpectRefused(r.status(), "a", sql);
    EXPECT_TRUE(tx.Commit().IsAborted()) << sql;
    EXPECT_EQ(Balance("a", 5), kInitialBalance) << sql;
  }
}

// A string of several statements goes out as one extended-protocol query,
// which PostgreSQL refuses (42601) before running any of it: the COMMIT
// hidden behind the UPDATE never runs.
TEST_F(TransactionControlTest, CommitHiddenInAMultiStatementStringNeverRuns) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  {
    Transaction tx = coord->Begin();
    ASSERT_TRUE(tx.Execute("b", "UPDATE accounts SET balance = 6 WHERE id = 6").ok());
    auto r = tx.Execute("a", "UPDATE accounts SET balance = 6 WHERE id = 6; COMMIT");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().sqlstate(), "42601") << r.status().ToString();
    EXPECT_TRUE(tx.Commit().IsAborted());
  }
  {
    Transaction tx = coord->Begin();
    ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = 6 WHERE id = 6").ok());
    ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = 6 WHERE id = 6; COMMIT").ok());
    Status s = tx.Commit();
    EXPECT_TRUE(s.IsAborted()) << s.ToString();
    EXPECT_EQ(s.sqlstate(), "42601") << s.ToString();
  }
  EXPECT_EQ(Balance("a", 6), kInitialBalance);
  EXPECT_EQ(Balance("b", 6), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

// Savepoints keep the branch inside its transaction, so they are allowed:
// ROLLBACK TO SAVEPOINT undoes part of a branch, the rest commits
// atomically with the other branches.
TEST_F(TransactionControlTest, SavepointsWorkAndCommitAtomically) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 11 WHERE id = 7").ok());
  ASSERT_TRUE(tx.Execute("a", "SAVEPOINT before_mistake").ok());
  ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = 0 WHERE id = 7").ok());
  auto undone = tx.Execute("a", "ROLLBACK TO SAVEPOINT before_mistake");
  ASSERT_TRUE(undone.ok()) << undone.status().ToString();
  ASSERT_TRUE(tx.Execute("a", "RELEASE SAVEPOINT before_mistake").ok());
  ASSERT_TRUE(tx.Queue("b", "SAVEPOINT s1").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = 0 WHERE id = 7").ok());
  ASSERT_TRUE(tx.Queue("b", "rollback work to s1").ok());
  ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = 12 WHERE id = 7").ok());
  ASSERT_TRUE(tx.Queue("b", "SET TRANSACTION READ WRITE").ok());
  Status s = tx.Commit();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Balance("a", 7), 11);
  EXPECT_EQ(Balance("b", 7), 12);
  // Two write branches: this was a real two-phase commit.
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_EQ(coord->log().All()->size(), 1u);
}

// Below the refusal: a branch checks after every statement that it is still
// inside its transaction. Driven on the participant directly, since the
// Transaction API never lets such a statement through.
class BranchAfterCheckTest : public BankTest {
 protected:
  void SetUp() override {
    BankTest::SetUp();
    auto o = Options();
    for (const auto& p : o.participants) {
      if (p.name == "a") participant_ = internal::MakePgParticipant(io_, p, 5s);
    }
    ASSERT_NE(participant_, nullptr);
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    // As the coordinator does: pooled connections keep no handler pending,
    // so the I/O thread ends before the pool is destroyed.
    work_.reset();
    thread_.join();
    participant_.reset();
    BankTest::TearDown();
  }

  std::unique_ptr<internal::Branch> OpenBranch() {
    std::promise<Result<std::unique_ptr<internal::Branch>>> p;
    participant_->Open({}, "", Soon(), [&p](Result<std::unique_ptr<internal::Branch>> r) {
      p.set_value(std::move(r));
    });
    auto r = p.get_future().get();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r.value()) : nullptr;
  }
  static Status Execute(internal::Branch& b, std::vector<internal::Query> q) {
    std::promise<Status> p;
    b.Execute(std::move(q), Soon(), [&p](Result<std::vector<internal::QueryResult>> r) {
      p.set_value(r.ok() ? Status::OK() : r.status());
    });
    return p.get_future().get();
  }
  static Status Prepare(internal::Branch& b, std::vector<internal::Query> q) {
    std::promise<Status> p;
    b.Prepare(std::move(q), "twopc_after_check_test", Soon(),
              [&p](Status s) { p.set_value(std::move(s)); });
    return p.get_future().get();
  }
  static Status Rollback(internal::Branch& b) {
    std::promise<Status> p;
    b.Rollback(Soon(), [&p](Status s) { p.set_value(std::move(s)); });
    return p.get_future().get();
  }
  static internal::Deadline Soon() { return internal::Clock::now() + 10s; }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::unique_ptr<internal::Participant> participant_;
  std::thread thread_;
};

TEST_F(BranchAfterCheckTest, ExecutedCommitIsReportedHonestly) {
  auto branch = OpenBranch();
  ASSERT_NE(branch, nullptr);
  ASSERT_TRUE(Execute(*branch, {{"UPDATE accounts SET balance = 9 WHERE id = 8", {}}}).ok());
  Status s = Execute(*branch, {{"COMMIT", {}}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.participant(), "a");
  EXPECT_NE(s.message().find("ended the branch's transaction"), std::string::npos) << s.ToString();
  // It did commit what came before: the error says so, and it is true.
  EXPECT_NE(s.message().find("committed"), std::string::npos) << s.ToString();
  EXPECT_EQ(Balance("a", 8), 9);
  EXPECT_TRUE(Rollback(*branch).ok());
  branch.reset();
}

TEST_F(BranchAfterCheckTest, QueuedCommitBeforePrepareRollsBackWhatFollowsIt) {
  auto branch = OpenBranch();
  ASSERT_NE(branch, nullptr);
  Status s = Prepare(*branch, {{"UPDATE accounts SET balance = 9 WHERE id = 9", {}},
                               {"COMMIT", {}},
                               {"UPDATE accounts SET balance = 9 WHERE id = 10", {}}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.participant(), "a");
  EXPECT_NE(s.message().find("ended the branch's transaction"), std::string::npos) << s.ToString();
  EXPECT_EQ(Balance("a", 9), 9);  // committed by the stray COMMIT, for good
  EXPECT_EQ(Balance("a", 10), kInitialBalance);  // after it: never committed
  EXPECT_EQ(sandbox_->PreparedCount("a"), 0);
  EXPECT_TRUE(Rollback(*branch).ok());
  branch.reset();
}

}  // namespace
}  // namespace twopc::testing
