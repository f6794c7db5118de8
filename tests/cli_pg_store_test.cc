// The `twopc` CLI with [log] store = "postgres": the decisions are rows of
// the participants' twopc.decisions tables, each kept by the transaction's
// decider (named by its tpc2 gid). Real processes against real PostgreSQL
// servers; the fixture is in cli_fixture.h.
#include <sstream>

#include "tests/cli_fixture.h"
#include "twopc/config.h"

namespace twopc::clitest {
namespace {

class CliPgStoreTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (HasFatalFailure()) return;
    std::ofstream out(config_path_);
    out << "node_id = \"" << sandbox_->options().node_id << "\"\n"
        << "[log]\nstore = \"postgres\"\n";
    for (const char* db : {"a", "b"}) {
      out << "\n[[participants]]\nname = \"" << db << "\"\nconninfo = \"" << sandbox_->conninfo(db)
          << "\"\n";
    }
    out.close();
    // Opening the store once creates the twopc schema in both participants
    // (and draws an incarnation, released again right away).
    auto options = LoadConfigFile(config_path_);
    ASSERT_TRUE(options.ok()) << options.status().ToString();
    auto store = OpenPgDecisionLog(*options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store->reset();
    for (const char* db : {"a", "b"}) {
      sandbox_->Exec(db, "DELETE FROM twopc.decisions");
      sandbox_->Exec(db, "DELETE FROM twopc.heuristics");
    }
  }

  void TearDown() override {
    CliTest::TearDown();
    if (sandbox_ == nullptr) return;
    for (const char* db : {"a", "b"}) sandbox_->Exec(db, "DELETE FROM twopc.decisions");
  }

  // A version 2 gid of this node: its decision is kept by `decider`.
  std::string Gid2(uint64_t incarnation, uint32_t branch, const std::string& decider) {
    return EncodeGid({sandbox_->options().node_id, incarnation, 1, branch, decider});
  }

  // A decision row for the transaction of `gid` in `table_of`'s
  // twopc.decisions, as the decider's commit (or a recovery fence) writes it.
  void InsertDecision(const std::string& table_of, const std::string& gid,
                      const std::string& participant, const std::string& decision) {
    std::string gtrid = GtridOfGid(gid).value();
    std::string branches =
        R"([{"participant":")" + participant + R"(","gid":")" + gid + R"(","txid":0}])";
    std::string fence_xmax =
        decision == "abort" ? "pg_snapshot_xmax(pg_current_snapshot())::text::bigint" : "NULL";
    sandbox_->Exec(table_of,
                   "INSERT INTO twopc.decisions (gtrid, decision, incarnation, coordinator, "
                   "branches, fence_xmax) VALUES ('" +
                       gtrid + "', '" + decision + "', " +
                       std::to_string(DecodeGid(gid)->incarnation) + ", 'test', '" + branches +
                       "', " + fence_xmax + ")");
  }

  int64_t DecisionRows(const std::string& db) {
    return sandbox_->QueryInt(db, "SELECT count(*) FROM twopc.decisions");
  }

  int64_t PreparedCount(const std::string& db) {
    return sandbox_->QueryInt(
        db, "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()");
  }
};

// The whitespace-separated words of the first line of `text` that contains
// `what`.
std::vector<std::string> WordsOfLineWith(const std::string& text, const std::string& what) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(what) == std::string::npos) continue;
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    return words;
  }
  return {};
}

TEST_F(CliPgStoreTest, StatusShowsEachBranchsDeciderAndWhatItsRowSays) {
  // Committed: prepared on b, the COMMIT row at its decider a.
  const std::string committed = Gid2(900002, 2, "a");
  PrepareBranch("b", committed, 301);
  InsertDecision("a", committed, "b", "commit");
  // Undecided: prepared on b, no row at its decider a. A stray COMMIT row for
  // it at b must not count: only the decider's table holds its decision.
  const std::string undecided = Gid2(900001, 2, "a");
  PrepareBranch("b", undecided, 302);
  InsertDecision("b", undecided, "b", "commit");
  // Fenced: prepared on a, an ABORT fence at its decider b.
  const std::string fenced = Gid2(900003, 1, "b");
  PrepareBranch("a", fenced, 303);
  InsertDecision("b", fenced, "a", "abort");

  CliResult r = Twopc({"status", "--json"});
  ASSERT_EQ(r.exit_code, 1) << Show(r);
  nlohmann::json doc = ParseJson(r);
  EXPECT_EQ(doc["decision_log"]["store"], "postgres") << doc.dump(2);
  EXPECT_TRUE(doc["decision_log"]["path"].is_null()) << doc.dump(2);
  EXPECT_TRUE(doc["decision_log"]["incarnation"].is_null()) << doc.dump(2);

  nlohmann::json c = FindBy(doc["prepared"], "gid", committed);
  ASSERT_FALSE(c.is_null()) << doc.dump(2);
  EXPECT_EQ(c["twopc"]["decider"], "a");
  EXPECT_EQ(c["decision"], "commit");
  EXPECT_EQ(c["decision_record"]["decider"], "a");
  EXPECT_EQ(c["decision_record"]["fence"], false);

  nlohmann::json u = FindBy(doc["prepared"], "gid", undecided);
  ASSERT_FALSE(u.is_null()) << doc.dump(2);
  EXPECT_EQ(u["twopc"]["decider"], "a");
  EXPECT_EQ(u["decision"], "none") << "the stray row outside the decider counted";
  EXPECT_TRUE(u["decision_record"].is_null());
  EXPECT_TRUE(u["decision_error"].is_null());

  nlohmann::json f = FindBy(doc["prepared"], "gid", fenced);
  ASSERT_FALSE(f.is_null()) << doc.dump(2);
  EXPECT_EQ(f["twopc"]["decider"], "b");
  EXPECT_EQ(f["decision"], "abort");
  EXPECT_EQ(f["decision_record"]["decider"], "b");
  EXPECT_EQ(f["decision_record"]["fence"], true);

  // The table: a DECIDER column, and no SQLite path or incarnation 0.
  r = Twopc({"status"});
  ASSERT_EQ(r.exit_code, 1) << Show(r);
  EXPECT_TRUE(Contains(r.out, "decision store postgres")) << r.out;
  EXPECT_FALSE(Contains(r.out, ".db")) << r.out;
  EXPECT_FALSE(Contains(r.out, "incarnation 0")) << r.out;
  EXPECT_TRUE(Contains(r.out, "DECIDER")) << r.out;
  std::vector<std::string> words = WordsOfLineWith(r.out, fenced);
  EXPECT_NE(std::find(words.begin(), words.end(), "(fence)"), words.end()) << r.out;
}

TEST_F(CliPgStoreTest, RecoverResolvesTheBranchesByTheirDecidersRows) {
  const std::string committed = Gid2(900002, 2, "a");
  PrepareBranch("b", committed, 311);
  InsertDecision("a", committed, "b", "commit");
  const std::string undecided = Gid2(900001, 2, "a");
  PrepareBranch("b", undecided, 312);

  CliResult r = Twopc({"recover", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Show(r);
  nlohmann::json doc = ParseJson(r);
  EXPECT_EQ(doc["decision_log"]["store"], "postgres") << doc.dump(2);
  EXPECT_TRUE(doc["decision_log"]["path"].is_null()) << doc.dump(2);
  EXPECT_EQ(PreparedCount("a") + PreparedCount("b"), 0);
  EXPECT_EQ(sandbox_->QueryInt("b", "SELECT count(*) FROM u WHERE id = 311"), 1)
      << "the decider's COMMIT row was not followed";
  EXPECT_EQ(sandbox_->QueryInt("b", "SELECT count(*) FROM u WHERE id = 312"), 0)
      << "the undecided branch was committed";

  r = Twopc({"status"});
  EXPECT_EQ(r.exit_code, 0) << Show(r);
  EXPECT_TRUE(Contains(r.out, "Prepared transactions: none")) << r.out;

  r = Twopc({"log", "verify"});
  EXPECT_EQ(r.exit_code, 0) << Show(r);
  EXPECT_TRUE(Contains(r.out, "decision store postgres")) << r.out;
  EXPECT_TRUE(Contains(r.out, "no problem found")) << r.out;

  // A fence nothing can contradict any more goes at `log compact`.
  InsertDecision("b", Gid2(900004, 1, "b"), "a", "abort");
  r = Twopc({"log", "compact"});
  EXPECT_EQ(r.exit_code, 0) << Show(r);
  EXPECT_TRUE(Contains(r.out, "ABORT fence")) << r.out;
  EXPECT_FALSE(Contains(r.out, "deleted 0")) << r.out;
  EXPECT_EQ(DecisionRows("a") + DecisionRows("b"), 0);
}

TEST_F(CliPgStoreTest, LogShowNamesTheDeciderOfEachRow) {
  const std::string committed = Gid2(900002, 2, "a");
  PrepareBranch("b", committed, 321);
  InsertDecision("a", committed, "b", "commit");
  const std::string fenced = Gid2(900003, 1, "b");
  InsertDecision("b", fenced, "a", "abort");
  const std::string committed_gtrid = GtridOfGid(committed).value();
  const std::string fenced_gtrid = GtridOfGid(fenced).value();

  CliResult r = Twopc({"log", "show", "--all", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Show(r);
  nlohmann::json doc = ParseJson(r);
  EXPECT_EQ(doc["store"], "postgres") << doc.dump(2);
  EXPECT_TRUE(doc["path"].is_null()) << doc.dump(2);
  EXPECT_EQ(FindBy(doc["records"], "gtrid", committed_gtrid)["decider"], "a") << doc.dump(2);
  EXPECT_EQ(FindBy(doc["records"], "gtrid", fenced_gtrid)["decider"], "b") << doc.dump(2);

  r = Twopc({"log", "show", "--all"});
  ASSERT_EQ(r.exit_code, 0) << Show(r);
  EXPECT_FALSE(Contains(r.out, ".db")) << r.out;
  EXPECT_TRUE(Contains(r.out, "DECIDER")) << r.out;
  std::vector<std::string> words = WordsOfLineWith(r.out, committed_gtrid);
  ASSERT_GE(words.size(), 2U) << r.out;
  EXPECT_EQ(words[1], "a") << r.out;
  words = WordsOfLineWith(r.out, fenced_gtrid);
  ASSERT_GE(words.size(), 2U) << r.out;
  EXPECT_EQ(words[1], "b") << r.out;
}

}  // namespace
}  // namespace twopc::clitest
