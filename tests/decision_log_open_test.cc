// Opening the embedded decision log: who may create one, what an empty file
// means, and the format migration (decision_log/sqlite_decision_log.cc,
// decision_log/sqlite_decision_table.cc).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "twopc/decision_log.h"

namespace twopc {
namespace {

namespace fs = std::filesystem;

class DecisionLogOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "twopc-log-open-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    options_.path = dir_ + "/decisions.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(options_.path.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error != nullptr ? error : "") << "\n"
        << sql;
    sqlite3_free(error);
    sqlite3_close(db);
  }

  int64_t UserVersion() {
    sqlite3* db = nullptr;
    int64_t version = -1;
    if (sqlite3_open_v2(options_.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK &&
          sqlite3_step(stmt) == SQLITE_ROW) {
        version = sqlite3_column_int64(stmt, 0);
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return version;
  }

  std::string dir_;
  LogOptions options_;
};

TEST_F(DecisionLogOpenTest, WithoutCreateIfMissingAMissingLogIsNotFoundAndNothingIsCreated) {
  options_.create_if_missing = false;
  auto log = OpenSqliteDecisionLog(options_);
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsNotFound()) << log.status().ToString();
  EXPECT_NE(log.status().message().find(options_.path + " does not exist"), std::string::npos)
      << log.status().ToString();
  EXPECT_FALSE(fs::exists(options_.path));
  EXPECT_FALSE(fs::exists(options_.path + ".lock"));

  options_.create_if_missing = true;  // the default: a coordinator's first start
  auto created = OpenSqliteDecisionLog(options_);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ((*created)->incarnation(), 1u);
}

TEST_F(DecisionLogOpenTest, EmptyFileIsNoLogYetEverywhere) {
  // What a first start leaves when it dies between creating the file and
  // committing the schema: the same as no file at all.
  std::ofstream(options_.path).close();
  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(reader.status().IsNotFound()) << reader.status().ToString();
  EXPECT_NE(reader.status().message().find(options_.path + " is empty"), std::string::npos)
      << reader.status().ToString();

  options_.create_if_missing = false;
  auto tool = OpenSqliteDecisionLog(options_);
  ASSERT_FALSE(tool.ok());
  EXPECT_TRUE(tool.status().IsNotFound()) << tool.status().ToString();
  EXPECT_NE(tool.status().message().find(options_.path + " is empty"), std::string::npos)
      << tool.status().ToString();
  EXPECT_EQ(fs::file_size(options_.path), 0u) << "the empty file was initialized";
  EXPECT_FALSE(fs::exists(options_.path + "-wal"));

  options_.create_if_missing = true;
  auto coordinator = OpenSqliteDecisionLog(options_);
  ASSERT_TRUE(coordinator.ok()) << coordinator.status().ToString();
  EXPECT_EQ((*coordinator)->incarnation(), 1u);
}

HeuristicRecord Forced(const std::string& gid) {
  HeuristicRecord h;
  h.gtrid = gid;
  h.gid = gid;
  h.participant = "orders";
  h.action = Decision::kAbort;
  h.note = "forced by an operator";
  return h;
}

TEST_F(DecisionLogOpenTest, ForgottenHeuristicsStayAsTheAuditTrail) {
  auto log = OpenSqliteDecisionLog(options_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_TRUE((*log)->RecordHeuristic(Forced("manual-1")).ok());
  ASSERT_TRUE((*log)->RecordHeuristic(Forced("manual-2")).ok());
  auto marked = (*log)->ForgetHeuristic("manual-1");
  ASSERT_TRUE(marked.ok()) << marked.status().ToString();
  EXPECT_EQ(*marked, 1u);
  auto again = (*log)->ForgetHeuristic("manual-1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u) << "forgotten twice";
  log->reset();

  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_FALSE((*reader)->ForgetHeuristic("manual-2").ok()) << "a read-only log wrote";
  auto all = (*reader)->Heuristics();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].gid, "manual-1");
  ASSERT_TRUE((*all)[0].forgotten_at_ms.has_value());
  EXPECT_GE(*(*all)[0].forgotten_at_ms, (*all)[0].at_ms);
  EXPECT_FALSE((*all)[1].forgotten_at_ms.has_value());
}

TEST_F(DecisionLogOpenTest, VersionOneLogIsReadAsItIsAndMigratedAtAWritableOpen) {
  { ASSERT_TRUE(OpenSqliteDecisionLog(options_).ok()); }
  ASSERT_EQ(UserVersion(), 2);
  // Back to what twopc wrote before `forget` existed.
  Sql("INSERT INTO heuristics(gtrid, gid, participant, action, logged, at_ms, note)"
      " VALUES ('manual-1', 'manual-1', 'orders', 'abort', NULL, 1, 'forced');"
      "ALTER TABLE heuristics DROP COLUMN forgotten_at_ms; PRAGMA user_version = 1;");
  ASSERT_EQ(UserVersion(), 1);

  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto old = (*reader)->Heuristics();
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  ASSERT_EQ(old->size(), 1u);
  EXPECT_FALSE((*old)[0].forgotten_at_ms.has_value());
  reader->reset();
  EXPECT_EQ(UserVersion(), 1) << "a read-only open migrated the log";

  auto log = OpenSqliteDecisionLog(options_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(UserVersion(), 2);
  auto marked = (*log)->ForgetHeuristic("manual-1");
  ASSERT_TRUE(marked.ok()) << marked.status().ToString();
  EXPECT_EQ(*marked, 1u);
}

}  // namespace
}  // namespace twopc
