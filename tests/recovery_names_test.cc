// Every recovery action has a name of its own: `twopc recover` prints it and
// its --json output carries it, so a missing case ("?") reaches operators.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "twopc/recovery.h"

namespace twopc {
namespace {

TEST(RecoveryActionNameTest, EveryKindHasItsOwnName) {
  std::set<std::string> seen;
  const int last = static_cast<int>(RecoveryActionKind::kEndSessions);
  for (int i = 0; i <= last; ++i) {
    std::string name = RecoveryActionName(static_cast<RecoveryActionKind>(i));
    EXPECT_NE(name, "?") << "kind " << i;
    EXPECT_TRUE(seen.insert(name).second) << "kind " << i << " repeats " << name;
  }
  EXPECT_STREQ(RecoveryActionName(RecoveryActionKind::kEndSessions), "end-sessions");
}

}  // namespace
}  // namespace twopc
