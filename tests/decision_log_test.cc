// Tests of the embedded SQLite decision log (decision_log/sqlite_decision_log.cc).
//
// Fault injection: tests/support/fault_vfs.h, a SQLite VFS that wraps the
// default one, counts fsyncs of the WAL and can fail WAL writes (as a full
// disk does) or WAL fsyncs, the way LevelDB's fault_injection_test wraps its
// Env. The group-commit writer's fail-stop rule, shared with the saga log, is
// tested for both logs in tests/group_commit_test.cc.
#include "twopc/decision_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "decision_log/decision_writer.h"
#include "decision_log/sqlite_decision_log.h"
#include "decision_log/sqlite_decision_table.h"
#include "storage/sqlite_db.h"
#include "tests/support/fault_vfs.h"
#include "twopc/gid.h"

extern char** environ;

namespace twopc {
namespace {

using testing::g_fault;
using testing::kFaultVfs;
using testing::RegisterFaultVfs;

// --- Fixture ---------------------------------------------------------------

DecisionRecord Record(const std::string& gtrid, Decision decision = Decision::kCommit) {
  DecisionRecord r;
  r.gtrid = gtrid;
  r.decision = decision;
  r.branches = {{"orders", gtrid + "-b0"}, {"payments", gtrid + "-b1"}};
  return r;
}

class DecisionLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "twopc-log-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    options_.path = dir_ + "/decisions.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<DecisionLog> Open() {
    auto log = OpenSqliteDecisionLog(options_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }
  std::unique_ptr<DecisionLog> OpenWithFaultVfs() {
    RegisterFaultVfs();
    auto log = internal::OpenSqliteDecisionLogWithVfs(options_, kFaultVfs);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }

  std::string dir_;
  LogOptions options_;
};

std::vector<std::string> Gtrids(const std::vector<DecisionRecord>& records) {
  std::vector<std::string> gtrids;
  for (const auto& r : records) gtrids.push_back(r.gtrid);
  return gtrids;
}

// --- What is written is read back -------------------------------------------

TEST_F(DecisionLogTest, DecisionReadsBackWithAllFields) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  DecisionRecord written = Record("g1", Decision::kAbort);
  written.heuristic = true;
  int64_t before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ASSERT_TRUE(log->Decide(written).ok());

  auto found = log->Lookup("g1");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  const DecisionRecord& r = **found;
  EXPECT_EQ(r.gtrid, "g1");
  EXPECT_EQ(r.decision, Decision::kAbort);
  EXPECT_EQ(r.branches, written.branches);
  EXPECT_TRUE(r.heuristic);
  EXPECT_EQ(r.incarnation, log->incarnation());
  EXPECT_GE(r.decided_at_ms, before_ms);
  EXPECT_LE(r.decided_at_ms, before_ms + 60000);
  EXPECT_FALSE(r.ended_at_ms.has_value());

  auto missing = log->Lookup("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto all = log->All();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].branches, written.branches);
  EXPECT_TRUE((*all)[0].heuristic);
}

// The writer encodes plain branch lists itself and hands anything else to
// nlohmann: both must read back, and the stored text must be the same JSON
// either way, so that the format does not depend on which path wrote it.
TEST_F(DecisionLogTest, BranchesOfAnyTextReadBackInOneStoredFormat) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  DecisionRecord plain = Record("plain");
  DecisionRecord odd = Record("odd");
  odd.branches = {{"we\"ird\\ p\xc3\xa4rt\n", "odd-b0"}, {"payments", "odd-b1"}};
  DecisionRecord bad = Record("bad");
  bad.branches[0].participant = "\xff\xfe";  // not UTF-8: cannot be stored as JSON text
  ASSERT_TRUE(log->Decide(plain).ok());
  ASSERT_TRUE(log->Decide(odd).ok());
  Status refused = log->Decide(bad);
  EXPECT_TRUE(refused.IsInvalidArgument()) << refused.ToString();

  for (const DecisionRecord* r : {&plain, &odd}) {
    auto found = log->Lookup(r->gtrid);
    ASSERT_TRUE(found.ok() && found->has_value()) << r->gtrid;
    EXPECT_EQ((**found).branches, r->branches) << r->gtrid;
  }
  EXPECT_FALSE(log->Lookup("bad")->has_value());
  log.reset();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(options_.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT branches FROM decisions WHERE gtrid = 'plain'", -1,
                               &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  std::string stored = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  nlohmann::json expected = nlohmann::json::array();
  for (const BranchRef& b : plain.branches) {
    expected.push_back({{"participant", b.participant}, {"gid", b.gid}});
  }
  EXPECT_EQ(stored, expected.dump());
}

TEST_F(DecisionLogTest, EndRemovesFromUnendedOldestFirst) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  for (const char* g : {"g1", "g2", "g3"}) ASSERT_TRUE(log->Decide(Record(g)).ok());
  auto unended = log->Unended();
  ASSERT_TRUE(unended.ok());
  EXPECT_EQ(Gtrids(*unended), (std::vector<std::string>{"g1", "g2", "g3"}));

  log->End("g2");
  ASSERT_TRUE(log->Flush().ok());
  unended = log->Unended();
  ASSERT_TRUE(unended.ok());
  EXPECT_EQ(Gtrids(*unended), (std::vector<std::string>{"g1", "g3"}));
  auto g2 = log->Lookup("g2");
  ASSERT_TRUE(g2.ok() && g2->has_value());
  EXPECT_TRUE((*g2)->ended_at_ms.has_value());
  auto all = log->All();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Gtrids(*all), (std::vector<std::string>{"g1", "g2", "g3"}));
}

TEST_F(DecisionLogTest, CompactDeletesEndedRecordsOnly) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  for (const char* g : {"g1", "g2", "g3", "g4"}) ASSERT_TRUE(log->Decide(Record(g)).ok());
  log->End("g1");
  log->End("g3");
  auto deleted = log->Compact();  // queued after the ENDs: they are written first
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, 2u);
  auto all = log->All();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Gtrids(*all), (std::vector<std::string>{"g2", "g4"}));
  deleted = log->Compact();
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 0u);
}

// Compaction must not delete a fence that a live process could contradict:
// the ABORT that recovery wrote for a transaction of the running incarnation
// (live grace) stays, so that incarnation's late COMMIT is still refused. The
// next incarnation (the old process is gone) may delete it.
TEST_F(DecisionLogTest, CompactKeepsFencesOfTheLiveIncarnation) {
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(log->Decide(Record("fenced", Decision::kAbort)).ok());
    ASSERT_TRUE(log->Decide(Record("committed")).ok());
    log->End("fenced");
    log->End("committed");
    auto deleted = log->Compact();
    ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
    EXPECT_EQ(*deleted, 1u);  // the COMMIT only
    EXPECT_TRUE(log->Decide(Record("fenced")).IsConflict());
  }
  auto next = Open();  // a new incarnation: the fence's writer is gone
  ASSERT_NE(next, nullptr);
  auto deleted = next->Compact();
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1u);
  auto all = next->All();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

// --- Fencing ------------------------------------------------------------------

TEST_F(DecisionLogTest, FirstDecisionWins) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Decide(Record("g1", Decision::kCommit)).ok());
  Status late = log->Decide(Record("g1", Decision::kAbort));
  EXPECT_TRUE(late.IsConflict()) << late.ToString();
  auto found = log->Lookup("g1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->decision, Decision::kCommit);

  Status again = log->Decide(Record("g1", Decision::kCommit));
  EXPECT_TRUE(again.ok()) << again.ToString();
}

TEST_F(DecisionLogTest, ConflictFailsOnlyItsOwnRecordInABatch) {
  options_.group_commit_window = std::chrono::milliseconds(300);
  auto log = Open();
  ASSERT_NE(log, nullptr);
  std::vector<std::promise<Status>> answers(3);
  auto answer = [&](int i) { return [&answers, i](Status s) { answers[i].set_value(s); }; };
  log->DecideAsync(Record("g1", Decision::kCommit), answer(0));
  log->DecideAsync(Record("g1", Decision::kAbort), answer(1));
  log->DecideAsync(Record("g2", Decision::kCommit), answer(2));
  EXPECT_TRUE(answers[0].get_future().get().ok());
  EXPECT_TRUE(answers[1].get_future().get().IsConflict());
  EXPECT_TRUE(answers[2].get_future().get().ok());
  EXPECT_EQ(log->stats().forces, 1u);  // the window put all three in one batch
  EXPECT_EQ(log->stats().records_forced, 2u);
  auto g1 = log->Lookup("g1");
  ASSERT_TRUE(g1.ok() && g1->has_value());
  EXPECT_EQ((*g1)->decision, Decision::kCommit);
}

// --- Batched statements ---------------------------------------------------------
//
// The writer thread writes a group-commit batch's COMMIT/ABORT records with
// one multi-row INSERT and its END records with one UPDATE (per
// DecisionWrites::kMaxRowsPerStatement rows), not a statement per record
// (docs/benchmarks.md, "Profile: where the time goes"). These tests drive
// internal::DecisionWriter directly, on a connection they trace, with a
// window long enough that everything queued lands in one batch.

// Counts the statements run on a connection that write the decisions table.
struct StatementCounts {
  std::atomic<int> inserts{0};
  std::atomic<int> updates{0};
};

int CountStatement(unsigned type, void* context, void* stmt, void* /*elapsed_ns*/) {
  if (type != SQLITE_TRACE_PROFILE) return 0;
  auto* counts = static_cast<StatementCounts*>(context);
  std::string_view sql = sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
  if (sql.starts_with("INSERT INTO decisions")) ++counts->inserts;
  if (sql.starts_with("UPDATE decisions")) ++counts->updates;
  return 0;
}

class DecisionBatchTest : public DecisionLogTest {
 protected:
  // A writer on a new log whose statements are counted in counts_.
  std::unique_ptr<internal::DecisionWriter> StartWriter() {
    auto db = internal::SqliteDb::Open(options_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                       nullptr);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) return nullptr;
    auto incarnation = internal::InitializeLog(db->get(), /*create_if_missing=*/true);
    EXPECT_TRUE(incarnation.ok()) << incarnation.status().ToString();
    sqlite3_trace_v2((*db)->handle(), SQLITE_TRACE_PROFILE, CountStatement, &counts_);
    auto writer = internal::DecisionWriter::Start(std::move(db).value(), options_);
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    return writer.ok() ? std::move(writer).value() : nullptr;
  }

  // Queues `record`; its answer goes to answers_[index].
  void Decide(internal::DecisionWriter* writer, DecisionRecord record, size_t index) {
    writer->Decide(std::move(record), [this, index](Status s) {
      std::lock_guard<std::mutex> lock(mu_);
      answers_[index] = std::move(s);
    });
  }

  Status Answer(size_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    return answers_.at(index);
  }

  // Every record in the log, read after the writer is gone.
  std::map<std::string, DecisionRecord> ReadBack() {
    std::map<std::string, DecisionRecord> records;
    auto db = internal::SqliteDb::Open(options_.path, SQLITE_OPEN_READONLY, nullptr);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) return records;
    auto reads = internal::DecisionReads::Prepare(db->get());
    EXPECT_TRUE(reads.ok()) << reads.status().ToString();
    if (!reads.ok()) return records;
    auto all = (*reads)->All();
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    if (!all.ok()) return records;
    for (DecisionRecord& r : *all) records[r.gtrid] = std::move(r);
    return records;
  }

  StatementCounts counts_;
  std::mutex mu_;
  std::map<size_t, Status> answers_;
};

DecisionRecord Stamped(const std::string& gtrid, Decision decision = Decision::kCommit) {
  DecisionRecord r = Record(gtrid, decision);
  r.incarnation = 1;
  r.decided_at_ms = 1000;
  return r;
}

// 134 decisions and 134 ENDs, interleaved in one batch: three INSERTs (64 +
// 64 + 6 rows) instead of 134, and two UPDATEs of 64 rows plus one for each
// of the 6 ENDs left (too few to repay a multi-row statement), every END
// with its own time. A statement per record was a third of the writer's
// work in the profile.
TEST_F(DecisionBatchTest, OneStatementPerKindForAWholeBatch) {
  constexpr size_t kRecords = 134;
  static_assert(kRecords == 2 * internal::DecisionWrites::kMaxRowsPerStatement + 6);
  static_assert(6 < internal::DecisionWrites::kMinRowsPerEndStatement);
  options_.max_batch = 4096;
  {
    auto writer = StartWriter();
    ASSERT_NE(writer, nullptr);
    for (size_t i = 0; i < kRecords; ++i) {
      Decide(writer.get(), Stamped("old" + std::to_string(i)), i);
    }
    ASSERT_TRUE(writer->Flush().ok());
    counts_.inserts = 0;
    counts_.updates = 0;

    options_.group_commit_window = std::chrono::milliseconds(300);
    writer.reset();
    writer = StartWriter();
    ASSERT_NE(writer, nullptr);
    for (size_t i = 0; i < kRecords; ++i) {
      writer->End("old" + std::to_string(i), 5000 + static_cast<int64_t>(i));
      Decide(writer.get(), Stamped("new" + std::to_string(i)), kRecords + i);
    }
    ASSERT_TRUE(writer->Flush().ok());  // queued last: the same batch
    EXPECT_EQ(writer->stats().forces, 1u);
    EXPECT_EQ(writer->stats().records_forced, kRecords);
  }
  EXPECT_EQ(counts_.inserts, 3);
  EXPECT_EQ(counts_.updates, 2 + 6);
  for (size_t i = 0; i < 2 * kRecords; ++i) EXPECT_TRUE(Answer(i).ok()) << i;
  auto records = ReadBack();
  ASSERT_EQ(records.size(), 2 * kRecords);
  for (size_t i = 0; i < kRecords; ++i) {
    const DecisionRecord& old = records["old" + std::to_string(i)];
    EXPECT_EQ(old.ended_at_ms, std::optional<int64_t>(5000 + static_cast<int64_t>(i))) << i;
    const DecisionRecord& fresh = records["new" + std::to_string(i)];
    EXPECT_EQ(fresh.branches, Stamped("new" + std::to_string(i)).branches) << i;
    EXPECT_FALSE(fresh.ended_at_ms.has_value()) << i;
  }
}

// What one batch stores and answers is what writing its records one by one,
// in order, did: first decision wins also inside a batch and across the
// statements' row limit, a refused record fails alone, an END finds the
// decision queued before it but not one queued after it, and a second END
// leaves the first one's time.
TEST_F(DecisionBatchTest, BatchAnswersAndStoresAsRecordByRecord) {
  options_.group_commit_window = std::chrono::milliseconds(300);
  options_.max_batch = 4096;
  constexpr size_t kFs = internal::DecisionWrites::kMaxRowsPerStatement + 10;
  {
    auto writer = StartWriter();
    ASSERT_NE(writer, nullptr);
    size_t i = 0;
    Decide(writer.get(), Stamped("a"), i++);                    // 0: inserted
    Decide(writer.get(), Stamped("a", Decision::kAbort), i++);  // 1: Conflict
    Decide(writer.get(), Stamped("a"), i++);                    // 2: the same decision: OK
    Decide(writer.get(), Stamped(""), i++);                     // 3: InvalidArgument
    writer->End("c", 7);                                        // before c's decision
    Decide(writer.get(), Stamped("c"), i++);                    // 4: stays unended
    Decide(writer.get(), Stamped("d"), i++);                    // 5
    writer->End("d", 8);                                        // after d's decision
    writer->End("d", 9);                                        // the first END stands
    writer->End("c", 10);                                       // now c is there
    for (; i < kFs; ++i) Decide(writer.get(), Stamped("f" + std::to_string(i)), i);
    // Past the first statement's rows: a conflict with a row of the first.
    Decide(writer.get(), Stamped("f10", Decision::kAbort), i++);
    Decide(writer.get(), Stamped("b"), i++);
    ASSERT_TRUE(writer->Flush().ok());
    EXPECT_EQ(writer->stats().forces, 1u);
  }
  EXPECT_TRUE(Answer(0).ok()) << Answer(0).ToString();
  EXPECT_TRUE(Answer(1).IsConflict()) << Answer(1).ToString();
  EXPECT_TRUE(Answer(2).ok()) << Answer(2).ToString();
  EXPECT_TRUE(Answer(3).IsInvalidArgument()) << Answer(3).ToString();
  for (size_t i = 4; i < kFs; ++i) EXPECT_TRUE(Answer(i).ok()) << i << Answer(i).ToString();
  EXPECT_TRUE(Answer(kFs).IsConflict()) << Answer(kFs).ToString();
  EXPECT_TRUE(Answer(kFs + 1).ok()) << Answer(kFs + 1).ToString();

  auto records = ReadBack();
  EXPECT_EQ(records.size(), 3 + (kFs - 6) + 1);  // a, c, d, the f's, b
  EXPECT_EQ(records["a"].decision, Decision::kCommit);
  EXPECT_EQ(records["f10"].decision, Decision::kCommit);
  EXPECT_EQ(records["c"].ended_at_ms, std::optional<int64_t>(10));
  EXPECT_EQ(records["d"].ended_at_ms, std::optional<int64_t>(8));
  EXPECT_FALSE(records["b"].ended_at_ms.has_value());
}

// --- One coordinator per log, incarnations ---------------------------------------

TEST_F(DecisionLogTest, SecondOpenerIsRefused) {
  auto first = Open();
  ASSERT_NE(first, nullptr);
  auto second = OpenSqliteDecisionLog(options_);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
  EXPECT_NE(second.status().message().find(options_.path), std::string::npos);
  EXPECT_NE(second.status().message().find("another coordinator"), std::string::npos);
  uint64_t first_incarnation = first->incarnation();

  first.reset();
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  EXPECT_GT(reopened->incarnation(), first_incarnation);
}

TEST_F(DecisionLogTest, IncarnationIncreasesAtEveryOpen) {
  for (uint64_t expected = 1; expected <= 5; ++expected) {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->incarnation(), expected);
    ASSERT_TRUE(log->Decide(Record("g" + std::to_string(expected))).ok());
    auto found = log->Lookup("g" + std::to_string(expected));
    ASSERT_TRUE(found.ok() && found->has_value());
    EXPECT_EQ((*found)->incarnation, expected);
  }
}

TEST_F(DecisionLogTest, FileModeIs0600) {
  mode_t old_umask = umask(0);  // SQLite's own default would then be 0644
  auto log = Open();
  umask(old_umask);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Decide(Record("g1")).ok());  // the -wal and -shm exist now
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) {
    struct stat st;
    std::string path = options_.path + suffix;
    ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
  }
}

// --- Group commit -------------------------------------------------------------

TEST_F(DecisionLogTest, GroupCommitBatches) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  constexpr int kThreads = 32;
  constexpr int kPerThread = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string gtrid = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!log->Decide(Record(gtrid)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  LogStats stats = log->stats();
  std::cout << "records_forced=" << stats.records_forced << " forces=" << stats.forces << "\n";
  EXPECT_EQ(stats.records_forced, uint64_t{kThreads * kPerThread});
  EXPECT_LT(stats.forces, stats.records_forced);
  auto all = log->All();
  ASSERT_TRUE(all.ok());
  std::vector<std::string> gtrids = Gtrids(*all);
  EXPECT_EQ(std::set<std::string>(gtrids.begin(), gtrids.end()).size(),
            size_t{kThreads * kPerThread});
}

TEST_F(DecisionLogTest, MaxBatchBoundsTheGroup) {
  options_.max_batch = 1;
  auto log = Open();
  ASSERT_NE(log, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(log->Decide(Record(std::to_string(t) + "-" + std::to_string(i))).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(log->stats().records_forced, 160u);
  EXPECT_EQ(log->stats().forces, 160u);
}

TEST_F(DecisionLogTest, DestructorAnswersEveryPendingDecision) {
  constexpr int kRecords = 500;
  std::atomic<int> ok{0};
  std::atomic<int> answered{0};
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < kRecords; ++i) {
      log->DecideAsync(Record("g" + std::to_string(i)), [&](Status s) {
        if (s.ok()) ++ok;
        ++answered;
      });
    }
  }
  EXPECT_EQ(answered, kRecords);
  EXPECT_EQ(ok, kRecords);
  auto log = Open();
  ASSERT_NE(log, nullptr);
  auto all = log->All();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), size_t{kRecords});
}

// --- Durability ---------------------------------------------------------------

TEST_F(DecisionLogTest, EveryAcknowledgedDecisionIsFsynced) {
  auto log = OpenWithFaultVfs();
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 10; ++i) {
    int syncs_before = g_fault.wal_syncs;
    ASSERT_TRUE(log->Decide(Record("g" + std::to_string(i))).ok());
    EXPECT_GT(g_fault.wal_syncs, syncs_before) << "record " << i << " acknowledged unsynced";
  }
}

TEST_F(DecisionLogTest, EndAloneIsNotForced) {
  auto log = OpenWithFaultVfs();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Decide(Record("g1")).ok());
  int syncs_before = g_fault.wal_syncs;
  log->End("g1");
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(g_fault.wal_syncs, syncs_before);
  auto unended = log->Unended();
  ASSERT_TRUE(unended.ok());
  EXPECT_TRUE(unended->empty());
  // The next decision is forced again, and with it the END before it.
  ASSERT_TRUE(log->Decide(Record("g2")).ok());
  EXPECT_GT(g_fault.wal_syncs, syncs_before);
}

TEST_F(DecisionLogTest, DiskFullIsAnIOErrorAndNothingIsDurable) {
  auto log = OpenWithFaultVfs();
  ASSERT_NE(log, nullptr);
  g_fault.fail_wal_writes = true;
  Status s = log->Decide(Record("lost"));
  g_fault.fail_wal_writes = false;
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("disk full"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find(options_.path), std::string::npos) << s.ToString();
  auto lost = log->Lookup("lost");
  ASSERT_TRUE(lost.ok());
  EXPECT_FALSE(lost->has_value());
  // Space came back: the log goes on.
  EXPECT_TRUE(log->Decide(Record("kept")).ok());

  log.reset();
  log = Open();
  ASSERT_NE(log, nullptr);
  lost = log->Lookup("lost");
  ASSERT_TRUE(lost.ok());
  EXPECT_FALSE(lost->has_value());
  auto kept = log->Lookup("kept");
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->has_value());
}

TEST_F(DecisionLogTest, FailedFsyncStopsAllWrites) {
  auto log = OpenWithFaultVfs();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Decide(Record("before")).ok());
  g_fault.fail_wal_syncs = true;
  Status s = log->Decide(Record("unknown"));
  g_fault.fail_wal_syncs = false;
  // The failed batch itself may or may not be durable: InDoubt.
  EXPECT_TRUE(s.IsInDoubt()) << s.ToString();
  // Whether "unknown" reached the disk is not known until the log is
  // reopened, so nothing more may be decided on top of it.
  Status after = log->Decide(Record("after"));
  EXPECT_TRUE(after.IsIOError()) << after.ToString();
  EXPECT_FALSE(log->Flush().ok());
  auto before = log->Lookup("before");
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->has_value());

  log.reset();
  log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->Decide(Record("after")).ok());
}

TEST_F(DecisionLogTest, CommitRecordSurvivesKill9) {
  constexpr size_t kAcknowledged = 200;
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  char* argv[] = {const_cast<char*>(CRASH_CHILD_PATH), options_.path.data(), nullptr};
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, CRASH_CHILD_PATH, &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);

  std::vector<std::string> acknowledged;
  std::string pending;
  char buf[4096];
  while (acknowledged.size() < kAcknowledged) {
    pollfd pfd{out[0], POLLIN, 0};
    if (poll(&pfd, 1, 30000) <= 0) break;
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;  // the child died: its stderr says why
    pending.append(buf, n);
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      acknowledged.push_back(pending.substr(0, nl));
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  close(out[0]);
  ASSERT_GE(acknowledged.size(), kAcknowledged) << "the child stopped acknowledging";
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  auto log = Open();  // the dead child's lock is gone with it
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->incarnation(), 2u);
  for (const std::string& gtrid : acknowledged) {
    auto found = log->Lookup(gtrid);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    ASSERT_TRUE(found->has_value()) << gtrid << " was acknowledged but is lost";
    EXPECT_EQ((*found)->decision, Decision::kCommit);
  }
}

// --- Read-only view ---------------------------------------------------------------

TEST_F(DecisionLogTest, ReadOnlyOpenSeesRecordsWhileWriterHoldsLock) {
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Decide(Record("g1")).ok());

  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->incarnation(), writer->incarnation());
  auto g1 = (*reader)->Lookup("g1");
  ASSERT_TRUE(g1.ok() && g1->has_value());

  // The writer is not blocked by the reader, and the reader sees new commits.
  ASSERT_TRUE(writer->Decide(Record("g2")).ok());
  auto unended = (*reader)->Unended();
  ASSERT_TRUE(unended.ok());
  EXPECT_EQ(Gtrids(*unended), (std::vector<std::string>{"g1", "g2"}));

  EXPECT_TRUE((*reader)->Decide(Record("g3")).IsInvalidArgument());
  EXPECT_TRUE((*reader)->Compact().status().IsInvalidArgument());
  auto g3 = writer->Lookup("g3");
  ASSERT_TRUE(g3.ok());
  EXPECT_FALSE(g3->has_value());

  reader->reset();
  writer.reset();
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->incarnation(), 2u);  // the read-only open did not bump it
}

TEST_F(DecisionLogTest, ReadOnlyOpenWorksWithNoWriter) {
  {
    auto writer = Open();
    ASSERT_NE(writer, nullptr);
    ASSERT_TRUE(writer->Decide(Record("g1")).ok());
  }
  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->incarnation(), 1u);
  auto all = (*reader)->All();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(Gtrids(*all), (std::vector<std::string>{"g1"}));
}

TEST_F(DecisionLogTest, ReadOnlyOpenOfMissingLogIsNotFound) {
  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(reader.status().IsNotFound()) << reader.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(options_.path));
}

// --- Heuristic records ----------------------------------------------------------

HeuristicRecord Heuristic(const std::string& gid, Decision action) {
  HeuristicRecord h;
  h.gtrid = gid;
  h.gid = gid;
  h.participant = "orders";
  h.action = action;
  h.note = "forced by an operator";
  return h;
}

TEST_F(DecisionLogTest, HeuristicRecordsSurviveReopenOldestFirst) {
  HeuristicRecord first = Heuristic("131077_dGVzdA==_YnJhbmNo", Decision::kAbort);
  HeuristicRecord second = Heuristic("tpc1.n1.3.7.2", Decision::kCommit);
  second.gtrid = "tpc1.n1.3.7";
  second.logged = Decision::kAbort;
  {
    auto log = OpenWithFaultVfs();
    ASSERT_NE(log, nullptr);
    int syncs_before = g_fault.wal_syncs;
    ASSERT_TRUE(log->RecordHeuristic(first).ok());
    EXPECT_GT(g_fault.wal_syncs, syncs_before) << "heuristic record acknowledged unsynced";
    ASSERT_TRUE(log->RecordHeuristic(second).ok());
    // A compaction drops ended decisions, never the operators' audit trail.
    ASSERT_TRUE(log->Compact().ok());
  }
  auto log = Open();
  ASSERT_NE(log, nullptr);
  auto heuristics = log->Heuristics();
  ASSERT_TRUE(heuristics.ok()) << heuristics.status().ToString();
  ASSERT_EQ(heuristics->size(), 2u);
  const HeuristicRecord& a = (*heuristics)[0];
  EXPECT_EQ(a.gid, first.gid);
  EXPECT_EQ(a.gtrid, first.gtrid);
  EXPECT_EQ(a.participant, "orders");
  EXPECT_EQ(a.action, Decision::kAbort);
  EXPECT_FALSE(a.logged.has_value());
  EXPECT_EQ(a.note, "forced by an operator");
  EXPECT_GT(a.at_ms, 0);
  const HeuristicRecord& b = (*heuristics)[1];
  EXPECT_EQ(b.gtrid, "tpc1.n1.3.7");
  EXPECT_EQ(b.action, Decision::kCommit);
  ASSERT_TRUE(b.logged.has_value());
  EXPECT_EQ(*b.logged, Decision::kAbort);
  EXPECT_GE(b.at_ms, a.at_ms);
}

TEST_F(DecisionLogTest, ReadOnlyLogListsHeuristicsButRefusesToRecordThem) {
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->RecordHeuristic(Heuristic("my-manual-txn", Decision::kAbort)).ok());

  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Status refused = (*reader)->RecordHeuristic(Heuristic("other", Decision::kCommit));
  EXPECT_TRUE(refused.IsInvalidArgument()) << refused.ToString();
  auto heuristics = (*reader)->Heuristics();
  ASSERT_TRUE(heuristics.ok()) << heuristics.status().ToString();
  ASSERT_EQ(heuristics->size(), 1u);
  EXPECT_EQ((*heuristics)[0].gid, "my-manual-txn");
}

TEST_F(DecisionLogTest, LogWithoutHeuristicsTableListsNone) {
  // A version-1 log written before the table existed: the read-only view
  // (which never changes the schema) lists no heuristics instead of failing,
  // and the next writable open adds the table.
  { ASSERT_NE(Open(), nullptr); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options_.path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE heuristics", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto none = (*reader)->Heuristics();
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  reader->reset();

  auto log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->RecordHeuristic(Heuristic("g", Decision::kAbort)).ok());
}

// --- Verify ---------------------------------------------------------------------------

DecisionRecord TwopcRecord(uint64_t txn, Decision decision = Decision::kCommit) {
  DecisionRecord r;
  r.gtrid = EncodeGtrid("n1", 1, txn);
  r.decision = decision;
  r.branches = {{"orders", EncodeGid({"n1", 1, txn, 1})},
                {"payments", EncodeGid({"n1", 1, txn, 2})}};
  return r;
}

void CorruptWith(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error != nullptr ? error : "") << "\n"
      << sql;
  sqlite3_free(error);
  sqlite3_close(db);
}

bool AnyMentions(const std::vector<std::string>& problems, const std::string& gtrid,
                 const std::string& what) {
  for (const std::string& p : problems) {
    if (p.find(gtrid) != std::string::npos && p.find(what) != std::string::npos) return true;
  }
  return false;
}

TEST_F(DecisionLogTest, VerifyFindsNothingOnAGoodLog) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  for (uint64_t txn = 1; txn <= 3; ++txn) ASSERT_TRUE(log->Decide(TwopcRecord(txn)).ok());
  log->End(EncodeGtrid("n1", 1, 2));
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->RecordHeuristic(Heuristic("my-manual-txn", Decision::kAbort)).ok());
  auto problems = log->Verify();
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  EXPECT_TRUE(problems->empty()) << ::testing::PrintToString(*problems);

  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_TRUE(reader.ok());
  problems = (*reader)->Verify();
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  EXPECT_TRUE(problems->empty()) << ::testing::PrintToString(*problems);
}

TEST_F(DecisionLogTest, VerifyNamesEveryCorruptRecord) {
  std::vector<std::string> gtrids;
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    for (uint64_t txn = 1; txn <= 6; ++txn) {
      ASSERT_TRUE(log->Decide(TwopcRecord(txn)).ok());
      gtrids.push_back(EncodeGtrid("n1", 1, txn));
    }
  }
  auto update = [&](const std::string& set, int i) {
    CorruptWith(options_.path,
                "UPDATE decisions SET " + set + " WHERE gtrid = '" + gtrids[i] + "'");
  };
  update("branches = 'not json'", 0);
  update(R"(branches = '[{"participant": "orders", "gid": "tpc1.n1.1.99.1"}]')", 1);
  update(R"(branches = '[{"participant": "orders", "gid": "hand-made"}]')", 2);
  std::string gid = EncodeGid({"n1", 1, 4, 1});
  update(R"(branches = '[{"participant": "a", "gid": ")" + gid +
             R"("}, {"participant": "b", "gid": ")" + gid + R"("}]')",
         3);
  update("ended_at_ms = decided_at_ms - 1000", 4);
  // Record 5 stays good.

  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto problems = (*reader)->Verify();
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  std::string all = ::testing::PrintToString(*problems);
  EXPECT_EQ(problems->size(), 5u) << all;
  EXPECT_TRUE(AnyMentions(*problems, gtrids[0], "do not parse")) << all;
  EXPECT_TRUE(AnyMentions(*problems, gtrids[1], "belongs to gtrid 'tpc1.n1.1.99'")) << all;
  EXPECT_TRUE(AnyMentions(*problems, gtrids[2], "not a twopc gid")) << all;
  EXPECT_TRUE(AnyMentions(*problems, gtrids[3], "listed twice")) << all;
  EXPECT_TRUE(AnyMentions(*problems, gtrids[4], "before it was decided")) << all;
  EXPECT_FALSE(AnyMentions(*problems, gtrids[5], "")) << all;

  auto log = Open();  // the writable log checks the same way
  ASSERT_NE(log, nullptr);
  auto again = log->Verify();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *problems);
}

// --- Bad paths and foreign files -------------------------------------------------

TEST_F(DecisionLogTest, MissingDirectoryIsAnIOError) {
  options_.path = dir_ + "/no/such/dir/decisions.db";
  auto log = OpenSqliteDecisionLog(options_);
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsIOError()) << log.status().ToString();
  EXPECT_NE(log.status().message().find(options_.path), std::string::npos);
  EXPECT_NE(log.status().message().find("No such file or directory"), std::string::npos);
}

TEST_F(DecisionLogTest, FileThatIsNotADatabaseIsCorruption) {
  std::ofstream(options_.path) << std::string(8192, 'x');
  auto log = OpenSqliteDecisionLog(options_);
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsCorruption()) << log.status().ToString();
  EXPECT_NE(log.status().message().find(options_.path), std::string::npos);
}

TEST_F(DecisionLogTest, ForeignDatabaseIsRefusedUntouched) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options_.path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE accounts(id INTEGER)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto log = OpenSqliteDecisionLog(options_);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("not a twopc decision log"), std::string::npos)
      << log.status().ToString();
  auto reader = OpenSqliteDecisionLogReadOnly(options_.path);
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("not a twopc decision log"), std::string::npos);

  ASSERT_EQ(sqlite3_open(options_.path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "delete");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace
}  // namespace twopc
