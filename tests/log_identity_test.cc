// A coordinator must not run on a decision log that is not its node's real
// one (recovery/incarnation_check.h): against real servers.
#include "tests/support/bank_fixture.h"
#include "twopc/gid.h"

namespace twopc::testing {
namespace {

class LogIdentityTest : public BankTest {
 protected:
  static void PrepareByHand(const std::string& db, int id, const std::string& gid) {
    sandbox_->Exec(db, "BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = " +
                           std::to_string(id) + "; PREPARE TRANSACTION '" + gid + "'");
  }
};

TEST_F(LogIdentityTest, FreshLogIsRefusedWhileABranchOfItsNodeHasANewerIncarnation) {
  // Another log of node "sandbox" reached incarnation 1 and prepared a
  // branch (its COMMIT may be durable there). A fresh log opens at
  // incarnation 1 too: its recovery would fence and roll the branch back.
  const std::string gid = EncodeGid({"sandbox", 1, 7, 1});
  PrepareByHand("a", 3, gid);

  auto coord = Coordinator::Open(Options());
  ASSERT_FALSE(coord.ok()) << "started on a log that is not the node's real one";
  const std::string message = coord.status().message();
  EXPECT_TRUE(coord.status().IsInvalidArgument()) << coord.status().ToString();
  EXPECT_NE(message.find("participant a holds prepared branch " + gid), std::string::npos)
      << message;
  EXPECT_NE(message.find("node sandbox incarnation 1, newer than this log's incarnation 1"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(log_dir_ + "/decisions.db"), std::string::npos) << message;
  EXPECT_NE(message.find("is another log in use for node sandbox?"), std::string::npos) << message;
  EXPECT_EQ(sandbox_->PreparedCount("a"), 1) << "the branch was touched";

  // A newer incarnation still, after the refused log was opened again.
  const std::string newer = EncodeGid({"sandbox", 9, 8, 1});
  PrepareByHand("b", 3, newer);
  auto again = Coordinator::Open(Options());
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(PreparedEverywhere(), 2);

  sandbox_->Exec("a", "ROLLBACK PREPARED '" + gid + "'");
  sandbox_->Exec("b", "ROLLBACK PREPARED '" + newer + "'");
  EXPECT_EQ(Balance("a", 3), kInitialBalance);
}

TEST_F(LogIdentityTest, BranchesOfEarlierIncarnationsAndOtherNodesDoNotStopTheStart) {
  uint64_t incarnation = 0;
  {
    auto log = OpenSqliteDecisionLog({log_dir_ + "/decisions.db"});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    incarnation = (*log)->incarnation();
  }
  const std::string other_node = EncodeGid({"another-node", 50, 1, 1});
  PrepareByHand("c", 4, other_node);
  PrepareByHand("a", 4, EncodeGid({"sandbox", incarnation, 2, 1}));  // an orphan of this log

  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  EXPECT_EQ(PreparedEverywhere(), 1) << "the orphan is rolled back, the foreign branch stays";
  sandbox_->Exec("c", "ROLLBACK PREPARED '" + other_node + "'");
}

}  // namespace
}  // namespace twopc::testing
