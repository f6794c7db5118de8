// The decision store inside PostgreSQL (store = "postgres"; docs/protocol.md,
// "Decisions inside PostgreSQL"), against three real servers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "testing/sync_point.h"
#include "tests/support/bank_fixture.h"
#include "twopc/gid.h"
#include "twopc/recovery.h"

namespace twopc::testing {
namespace {

class PgStoreTest : public BankTest {
 protected:
  void SetUp() override {
    BankTest::SetUp();
    for (const char* db : {"a", "b", "c"}) sandbox_->Exec(db, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS twopc CASCADE");
  }
  void TearDown() override {
    internal::ClearSyncPointCallbacks();
    BankTest::TearDown();
  }

  CoordinatorOptions StoreOptions() {
    CoordinatorOptions o = Options();
    o.log.store = LogStore::kPostgres;
    return o;
  }

  static int64_t DecisionRows() {
    int64_t n = 0;
    for (const char* db : {"a", "b", "c"}) {
      n += sandbox_->QueryInt(db, "SELECT CASE WHEN to_regclass('twopc.decisions') IS NULL THEN 0 "
                                  "ELSE (SELECT count(*) FROM twopc.decisions) END");
    }
    return n;
  }

  // Every prepared gid of transaction `gtrid`, as "participant gid".
  static std::vector<std::pair<std::string, std::string>> PreparedOf(const std::string& gtrid) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* db : {"a", "b", "c"}) {
      for (const auto& row : sandbox_->Query(db, "SELECT gid FROM pg_prepared_xacts")) {
        auto g = GtridOfGid(row[0]);
        if (g.ok() && *g == gtrid) out.emplace_back(db, row[0]);
      }
    }
    return out;
  }

  // At sync point `point`, does what recovery does to a coordinator it took
  // for gone: an ABORT fence in the decider's table, naming the prepared
  // branches. `*fenced` gets the answer.
  static void FenceAt(const std::string& point, DecisionLog& fencer, const std::string& gtrid,
                      Status* fenced) {
    internal::SetSyncPointCallback(point, [&fencer, gtrid, fenced](int) {
      DecisionRecord abort;
      abort.gtrid = gtrid;
      abort.decision = Decision::kAbort;
      for (const auto& [db, gid] : PreparedOf(gtrid)) abort.branches.push_back({db, gid, 0});
      *fenced = fencer.Decide(abort);
    });
  }

  // A transfer of 1 from a:1 to b:1 and c:1's balance touched, all queued:
  // three write branches.
  static Status QueueTransfer(Transaction& tx, int id) {
    for (const auto& [db, delta] : std::vector<std::pair<const char*, int>>{{"a", -2}, {"b", 1}, {"c", 1}}) {
      Status s = tx.Queue(db, "UPDATE accounts SET balance = balance + $1 WHERE id = $2", {delta, id});
      if (!s.ok()) return s;
    }
    return Status::OK();
  }
};

TEST_F(PgStoreTest, CommitsWithNoFileAndDeletesTheRowsOnceDone) {
  auto coord = Open(StoreOptions());
  ASSERT_NE(coord, nullptr);
  EXPECT_GT(coord->incarnation(), 0u);
  for (int i = 0; i < 20; ++i) {
    Transaction tx = coord->Begin();
    ASSERT_TRUE(QueueTransfer(tx, 1 + i % kAccountsPerDb).ok());
    Status s = tx.Commit();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(Total(), 3 * kAccountsPerDb * kInitialBalance);
  EXPECT_EQ(Balance("a", 1), kInitialBalance - 2 * 2);
  EXPECT_EQ(Balance("b", 1), kInitialBalance + 2);
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(coord->stats().committed, 20u);
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_EQ(DecisionRows(), 0) << "COMMIT rows are deleted once every branch committed";
  EXPECT_FALSE(std::filesystem::exists(log_dir_ + "/decisions.db"));
}

TEST_F(PgStoreTest, TheDeciderIsNeverPreparedAndEveryOtherGidNamesIt) {
  auto coord = Open(StoreOptions());
  ASSERT_NE(coord, nullptr);
  std::mutex mu;
  std::string current;
  std::set<std::string> deciders;
  std::vector<std::string> problems;
  internal::SetSyncPointCallback("before_decision", [&](int) {
    std::lock_guard lock(mu);
    auto prepared = PreparedOf(current);
    if (prepared.size() != 2) problems.push_back(current + ": " + std::to_string(prepared.size()) + " prepared");
    std::set<std::string> named, holders;
    for (const auto& [db, gid] : prepared) {
      auto parts = DecodeGid(gid);
      if (!parts.ok()) {
        problems.push_back(gid + " does not decode");
        continue;
      }
      named.insert(parts->decider);
      holders.insert(db);
    }
    if (named.size() != 1) {
      problems.push_back(current + ": the gids name " + std::to_string(named.size()) + " deciders");
      return;
    }
    if (holders.count(*named.begin())) problems.push_back(current + ": the decider is prepared");
    deciders.insert(*named.begin());
  });
  for (int i = 0; i < 40; ++i) {
    Transaction tx = coord->Begin();
    {
      std::lock_guard lock(mu);
      current = tx.gtrid();
    }
    // Half queued only (the decider runs its statements first), half run
    // at once.
    if (i % 2 == 0) {
      ASSERT_TRUE(QueueTransfer(tx, 1).ok());
    } else {
      for (const char* db : {"a", "b", "c"}) {
        ASSERT_TRUE(tx.Execute(db, "UPDATE accounts SET balance = balance WHERE id = 2").ok());
      }
    }
    Status s = tx.Commit();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
  EXPECT_GE(deciders.size(), 2u) << "deciders must be spread over the participants";
  EXPECT_EQ(PreparedEverywhere(), 0);
}

TEST_F(PgStoreTest, AFenceWrittenFirstMakesTheLateCommitFailAndNothingIsHalfCommitted) {
  auto coord = Open(StoreOptions());
  ASSERT_NE(coord, nullptr);
  auto fencer = OpenPgDecisionLogForOperator(StoreOptions());
  ASSERT_TRUE(fencer.ok()) << fencer.status().ToString();
  Transaction tx = coord->Begin();
  const std::string gtrid = tx.gtrid();
  ASSERT_TRUE(QueueTransfer(tx, 3).ok());
  Status fenced;
  FenceAt("before_decision", **fencer, gtrid, &fenced);
  Status s = tx.Commit();
  ASSERT_TRUE(fenced.ok()) << fenced.ToString();
  EXPECT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_NE(s.message().find("fence"), std::string::npos) << s.ToString();
  EXPECT_EQ(Balance("a", 3), kInitialBalance);
  EXPECT_EQ(Balance("b", 3), kInitialBalance);
  EXPECT_EQ(Balance("c", 3), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
  auto rec = (*fencer)->Lookup(gtrid);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->decision, Decision::kAbort);
}

TEST_F(PgStoreTest, AFenceAfterTheDecidersCommitLosesAndTheCommitStands) {
  auto coord = Open(StoreOptions());
  ASSERT_NE(coord, nullptr);
  auto fencer = OpenPgDecisionLogForOperator(StoreOptions());
  ASSERT_TRUE(fencer.ok()) << fencer.status().ToString();
  Transaction tx = coord->Begin();
  const std::string gtrid = tx.gtrid();
  ASSERT_TRUE(QueueTransfer(tx, 4).ok());
  Status fenced;
  FenceAt("after_decision_forced", **fencer, gtrid, &fenced);
  Status s = tx.Commit();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(fenced.IsConflict()) << fenced.ToString();
  EXPECT_EQ(Balance("a", 4), kInitialBalance - 2);
  EXPECT_EQ(Balance("c", 4), kInitialBalance + 1);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

// Rows are deleted as the load goes on, not left to pile up until a pass:
// under sustained load the tables stay small, and empty once it stops.
TEST_F(PgStoreTest, LazyDeletionKeepsTheDecisionTablesSmallUnderLoad) {
  auto coord = Open(StoreOptions());
  ASSERT_NE(coord, nullptr);
  constexpr int kThreads = 4, kPerThread = 150;
  std::atomic<bool> done{false};
  std::atomic<int64_t> most{0};
  std::thread sampler([&] {
    while (!done) {
      most = std::max<int64_t>(most, DecisionRows());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Transaction tx = coord->Begin();
        if (!QueueTransfer(tx, 1 + t).ok() || !tx.Commit().ok()) failures++;
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  sampler.join();
  EXPECT_EQ(failures.load(), 0);
  // A row lives from its decider's COMMIT until the next batch delete: at
  // most the transactions in flight plus one batch's worth, far below the
  // 600 committed.
  EXPECT_LE(most.load(), 200) << "rows pile up instead of being deleted as the load goes on";
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_EQ(DecisionRows(), 0);
  EXPECT_EQ(Total(), 3 * kAccountsPerDb * kInitialBalance);
  std::cout << "most decision rows seen during the run: " << most.load() << "\n";
}

// The decider's server stops (immediate shutdown, as a crash) right when its
// COMMIT is due: the answer is lost, the fence that would settle it cannot
// be written either, so Commit says InDoubt. Once the server is back,
// OutcomeOf gives the known answer, and recovery leaves nothing prepared.
TEST_F(PgStoreTest, ADecidersServerCrashingAtItsCommitIsSettledOnceItIsBack) {
  CoordinatorOptions o = StoreOptions();
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.default_deadline = std::chrono::milliseconds(5000);
  auto coord = Open(o);
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  const std::string gtrid = tx.gtrid();
  ASSERT_TRUE(QueueTransfer(tx, 10).ok());
  std::string decider;
  internal::SetSyncPointCallback("before_decision", [&](int) {
    auto prepared = PreparedOf(gtrid);
    if (prepared.empty()) return;
    decider = DecodeGid(prepared.front().second)->decider;
    sandbox_->CrashServerOf(decider);
  });
  Status s = tx.Commit();
  internal::ClearSyncPointCallbacks();
  ASSERT_FALSE(decider.empty());
  EXPECT_TRUE(s.IsInDoubt()) << s.ToString();
  EXPECT_EQ(s.participant(), decider);
  ASSERT_TRUE(sandbox_->RestartServerOf(decider));
  auto outcome = coord->OutcomeOf(gtrid);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  // The server died before the COMMIT ran: the decider's transaction, and
  // with it the decision, never committed.
  EXPECT_EQ(*outcome, TransactionOutcome::kAborted);
  RecoveryReport r = coord->Recover();
  EXPECT_EQ(r.in_doubt_remaining, 0);
  EXPECT_EQ(PreparedEverywhere(), 0);
  for (const char* db : {"a", "b", "c"}) EXPECT_EQ(Balance(db, 10), kInitialBalance) << db;
  EXPECT_FALSE(coord->OutcomeOf("tpc2.nobody.1.1").ok());
}

// Prepared branches of processes that never existed here stand for gone
// coordinators: nobody holds their registration.
TEST_F(PgStoreTest, AnyProcessResolvesTheTransactionsOfAGoneCoordinator) {
  auto coord = Open(StoreOptions());
  ASSERT_NE(coord, nullptr);
  const std::string node = coord->options().node_id;
  // Undecided: prepared on b and c, no row at the decider a.
  const std::string undecided_b = EncodeGid({node, 900001, 1, 2, "a"});
  const std::string undecided_c = EncodeGid({node, 900001, 1, 3, "a"});
  sandbox_->Exec("b", "BEGIN; UPDATE accounts SET balance = balance + 5 WHERE id = 5; PREPARE TRANSACTION '" +
                          undecided_b + "'");
  sandbox_->Exec("c", "BEGIN; UPDATE accounts SET balance = balance + 5 WHERE id = 5; PREPARE TRANSACTION '" +
                          undecided_c + "'");
  // Decided: prepared on b, its COMMIT row at c (the decider committed).
  const std::string decided_b = EncodeGid({node, 900002, 1, 2, "c"});
  sandbox_->Exec("b", "BEGIN; UPDATE accounts SET balance = balance + 7 WHERE id = 6; PREPARE TRANSACTION '" +
                          decided_b + "'");
  sandbox_->Exec("c", "INSERT INTO twopc.decisions (gtrid, decision, incarnation, coordinator, branches) "
                      "VALUES ('" + GtridOfGid(decided_b).value() + "', 'commit', 900002, 'test', "
                      "'[{\"participant\":\"b\",\"gid\":\"" + decided_b + "\",\"txid\":0}]')");
  RecoveryReport r = coord->Recover();
  EXPECT_EQ(r.in_doubt_remaining, 0) << ::testing::PrintToString(r.actions.size());
  EXPECT_EQ(PreparedEverywhere(), 0);
  EXPECT_EQ(Balance("b", 5), kInitialBalance);
  EXPECT_EQ(Balance("c", 5), kInitialBalance);
  EXPECT_EQ(Balance("b", 6), kInitialBalance + 7);
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_EQ(DecisionRows(), 0) << "the COMMIT row and the fence go once done";
}

TEST_F(PgStoreTest, ALiveReplicasUndecidedTransactionIsLeftAlone) {
  auto replica = Open(StoreOptions());
  auto other = Open(StoreOptions());
  ASSERT_NE(replica, nullptr);
  ASSERT_NE(other, nullptr);
  EXPECT_NE(replica->incarnation(), other->incarnation());
  // A branch of the live replica's incarnation, prepared and undecided (as
  // in the middle of its commit).
  const std::string gid = EncodeGid({replica->options().node_id, replica->incarnation(), 999, 2, "a"});
  sandbox_->Exec("b", "BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = 7; PREPARE TRANSACTION '" +
                          gid + "'");
  RecoveryReport r = other->Recover();
  EXPECT_EQ(sandbox_->PreparedCount("b"), 1) << "another live process's transaction was fenced";
  bool skipped = false;
  for (const auto& a : r.actions) skipped = skipped || (a.kind == RecoveryActionKind::kSkipLive && a.gid == gid);
  EXPECT_TRUE(skipped);
  // Once that replica is gone, the other resolves it.
  replica.reset();
  r = other->Recover();
  EXPECT_EQ(sandbox_->PreparedCount("b"), 0);
  EXPECT_EQ(Balance("b", 7), kInitialBalance);
}

TEST_F(PgStoreTest, ReplicasOnOneConfigCommitConcurrently) {
  auto first = Open(StoreOptions());
  auto second = Open(StoreOptions());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  std::atomic<int> failures{0};
  auto run = [&](Coordinator& c, int id) {
    for (int i = 0; i < 25; ++i) {
      Transaction tx = c.Begin();
      if (!QueueTransfer(tx, id).ok() || !tx.Commit().ok()) failures++;
    }
  };
  std::thread t1(run, std::ref(*first), 8);
  std::thread t2(run, std::ref(*second), 9);
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Total(), 3 * kAccountsPerDb * kInitialBalance);
  EXPECT_EQ(Balance("a", 8), kInitialBalance - 50);
  EXPECT_EQ(Balance("a", 9), kInitialBalance - 50);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

// Recovery's fences go in together, one statement per decider
// (docs/protocol.md, "Recovery of a backlog"), and each answers as it would
// alone: a COMMIT row wins, an earlier fence is the same decision.
TEST_F(PgStoreTest, FencesWrittenTogetherAnswerEachAsAlone) {
  auto coord = Open(StoreOptions());  // creates the schema everywhere
  ASSERT_NE(coord, nullptr);
  auto fencer = OpenPgDecisionLogForOperator(StoreOptions());
  ASSERT_TRUE(fencer.ok()) << fencer.status().ToString();
  const std::string node = coord->options().node_id;
  auto fence = [&](uint64_t txn, const char* prepared_at, const char* decider) {
    DecisionRecord r;
    r.decision = Decision::kAbort;
    std::string gid = EncodeGid({node, 900003, txn, 2, decider});
    r.gtrid = GtridOfGid(gid).value();
    r.branches = {{prepared_at, gid, 0}};
    return r;
  };
  std::vector<DecisionRecord> records = {fence(1, "b", "c"), fence(2, "b", "a"), fence(3, "b", "a"),
                                         fence(4, "a", "b"), fence(5, "c", "a")};
  sandbox_->Exec("c", "INSERT INTO twopc.decisions (gtrid, decision, incarnation, coordinator, branches) "
                      "VALUES ('" + records[0].gtrid + "', 'commit', 900003, 'test', '[]')");
  ASSERT_TRUE((*fencer)->Decide(records[1]).ok());
  DecisionRecord commit = records[4];
  commit.decision = Decision::kCommit;
  records.push_back(commit);

  LogStats before = (*fencer)->stats();
  std::vector<Status> s = (*fencer)->DecideMany(records);
  LogStats after = (*fencer)->stats();
  // Three new fences (two at a, one at b): two statements forced them.
  EXPECT_EQ(after.records_forced - before.records_forced, 3u);
  EXPECT_EQ(after.forces - before.forces, 2u);
  ASSERT_EQ(s.size(), records.size());
  EXPECT_TRUE(s[0].IsConflict()) << s[0].ToString();
  EXPECT_TRUE(s[1].ok()) << s[1].ToString();
  EXPECT_TRUE(s[2].ok()) << s[2].ToString();
  EXPECT_TRUE(s[3].ok()) << s[3].ToString();
  EXPECT_TRUE(s[4].ok()) << s[4].ToString();
  EXPECT_TRUE(s[5].IsInvalidArgument()) << "only the decider's transaction records COMMIT";
  EXPECT_EQ(sandbox_->QueryInt("c", "SELECT count(*) FROM twopc.decisions WHERE decision = 'commit'"), 1);
  EXPECT_EQ(sandbox_->QueryInt("a", "SELECT count(*) FROM twopc.decisions WHERE decision = 'abort'"), 3);
  EXPECT_EQ(sandbox_->QueryInt("b", "SELECT count(*) FROM twopc.decisions WHERE decision = 'abort'"), 1);
  // The two new fences at a went in with one statement: one transaction.
  EXPECT_EQ(sandbox_->QueryInt("a", "SELECT count(DISTINCT xmin::text) FROM twopc.decisions WHERE gtrid IN ('" +
                                        records[2].gtrid + "', '" + records[4].gtrid + "')"),
            1);
}

TEST_F(PgStoreTest, ARoleThatMayNotCreateTheSchemaIsToldWhatToRun) {
  sandbox_->Exec("a", "DROP ROLE IF EXISTS twopc_weak; CREATE ROLE twopc_weak LOGIN;"
                      "GRANT ALL ON accounts TO twopc_weak");
  CoordinatorOptions o = StoreOptions();
  o.participants[0].conninfo += " user=twopc_weak";
  auto c = Coordinator::Open(o);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsInvalidArgument()) << c.status().ToString();
  EXPECT_NE(c.status().message().find("CREATE SCHEMA twopc AUTHORIZATION twopc_weak"), std::string::npos)
      << c.status().ToString();
  // Once the owner ran it, the role sets up the rest itself.
  sandbox_->Exec("a", "CREATE SCHEMA twopc AUTHORIZATION twopc_weak");
  auto again = Coordinator::Open(o);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  if (again.ok()) again.value().reset();
  sandbox_->Exec("a", "DROP SCHEMA twopc CASCADE; REVOKE ALL ON accounts FROM twopc_weak; DROP ROLE twopc_weak");
}

}  // namespace
}  // namespace twopc::testing
