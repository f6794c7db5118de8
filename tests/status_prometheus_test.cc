// StatusPrometheusText on hand-made reports: the rules no PostgreSQL sandbox
// can show (a MariaDB branch keeps no prepare time). The CLI end to end is in
// cli_prometheus_test.cc.
#include "cli/status_prometheus.h"

#include <gtest/gtest.h>

#include <string>

namespace twopc::cli {
namespace {

PreparedBranch Branch(const std::string& participant, const std::string& gid,
                      int64_t prepared_at_ms) {
  PreparedBranch b;
  b.participant = participant;
  b.database = participant;
  b.gid = gid;
  b.prepared_at_ms = prepared_at_ms;
  b.classified.kind = GidKind::kUnknown;
  return b;
}

CoordinatorOptions Options() {
  CoordinatorOptions options;
  for (const char* name : {"pg", "maria"}) {
    ParticipantOptions p;
    p.name = name;
    p.conninfo = "host=127.0.0.1 password=secret";
    options.participants.push_back(p);
  }
  return options;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(StatusPrometheusTest, MariaDbBranchWithoutPrepareTimeIsCountedButNotAged) {
  StatusReport report;
  report.now_ms = 1'000'000;
  report.listing.branches.push_back(Branch("pg", "x1", 1'000'000 - 90'500));
  report.listing.branches.push_back(Branch("maria", "x2", 0));
  std::string text = StatusPrometheusText(report, Options());
  EXPECT_TRUE(Has(text, R"(twopc_prepared_branches{participant="maria"} 1)")) << text;
  // Not 1970: a branch whose prepare time is unknown has no age.
  EXPECT_TRUE(Has(text, R"(twopc_oldest_prepared_age_seconds{participant="maria"} 0)")) << text;
  EXPECT_TRUE(Has(text, R"(twopc_oldest_prepared_age_seconds{participant="pg"} 90.5)")) << text;
  EXPECT_EQ(text.find("secret"), std::string::npos) << text;
}

TEST(StatusPrometheusTest, OldestOfSeveralBranchesAndOnlyUndecidedOnesOfThisNodeAreInDoubt) {
  StatusReport report;
  report.now_ms = 100'000;
  PreparedBranch mine = Branch("pg", "tpc1.x", 70'000);
  mine.classified.kind = GidKind::kThisNode;
  PreparedBranch decided = Branch("pg", "tpc1.y", 90'000);
  decided.classified.kind = GidKind::kThisNode;
  decided.decision = DecisionRecord{};
  report.listing.branches = {mine, decided, Branch("pg", "foreign", 95'000)};
  std::string text = StatusPrometheusText(report, Options());
  EXPECT_TRUE(Has(text, R"(twopc_prepared_branches{participant="pg"} 3)")) << text;
  EXPECT_TRUE(Has(text, R"(twopc_oldest_prepared_age_seconds{participant="pg"} 30)")) << text;
  EXPECT_TRUE(Has(text, R"(twopc_in_doubt_branches{participant="pg"} 1)")) << text;
}

TEST(StatusPrometheusTest, UnreadableLogLeavesOutWhatItWouldHaveSaid) {
  StatusReport report;
  report.log_errors.push_back(Status::IOError("disk gone"));
  std::string text = StatusPrometheusText(report, Options());
  EXPECT_TRUE(Has(text, "twopc_decision_log_readable 0")) << text;
  EXPECT_EQ(text.find("twopc_decisions_pending"), std::string::npos) << text;
  EXPECT_EQ(text.find("twopc_heuristics_unresolved"), std::string::npos) << text;
}

// With store = "postgres" a branch's decision is read at its decider; one
// whose decider could not be asked is not known to be in doubt (it may be
// committed), and the store counts as unreadable.
TEST(StatusPrometheusTest, ABranchWhoseDecisionCouldNotBeReadIsNotInDoubt) {
  StatusReport report;
  report.now_ms = 100'000;
  PreparedBranch unread = Branch("pg", "tpc2.x", 70'000);
  unread.classified.kind = GidKind::kThisNode;
  unread.decision_error = Status::Unavailable("decider orders unreachable");
  report.listing.branches = {unread};
  std::string text = StatusPrometheusText(report, Options());
  EXPECT_TRUE(Has(text, R"(twopc_in_doubt_branches{participant="pg"} 0)")) << text;
  EXPECT_TRUE(Has(text, "twopc_decision_log_readable 0")) << text;
}

}  // namespace
}  // namespace twopc::cli
