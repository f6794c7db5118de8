// MariaDB XA participants beside PostgreSQL ones, against real servers
// (scripts/pg-sandbox, scripts/mariadb-sandbox): one global transaction
// across both kinds commits or aborts as one, and a prepared MariaDB branch
// left behind is resolved by recovery.
#include <gtest/gtest.h>
#include <mysql.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/cli_fixture.h"

#include "testing/mariadb_sandbox.h"
#include "testing/pg_sandbox.h"
#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/gid.h"
#include "twopc/recovery.h"
#include "twopc/retry.h"
#include "coordinator/coordinator_impl.h"
#include "participants/participant.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>

namespace twopc::testing {
namespace {

constexpr int64_t kInitial = 1000;

class MariaDbParticipantTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = PgSandbox::Start({"orders"}).release();
    ASSERT_NE(pg_, nullptr);
    maria_ = MariaDbSandbox::Start({"billing"}).release();
    ASSERT_NE(maria_, nullptr);
  }
  static void TearDownTestSuite() {
    delete maria_;
    maria_ = nullptr;
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_NE(maria_, nullptr);
    char tmpl[] = "/tmp/twopc-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    log_dir_ = tmpl;
    pg_->Exec("orders",
              "DROP TABLE IF EXISTS accounts; CREATE TABLE accounts(id bigint PRIMARY KEY,"
              " balance bigint NOT NULL CHECK (balance >= 0));"
              "INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 10) g");
    maria_->Exec("billing", "DROP TABLE IF EXISTS accounts");
    maria_->Exec("billing",
                 "CREATE TABLE accounts(id BIGINT PRIMARY KEY, balance BIGINT NOT NULL "
                 "CHECK (balance >= 0), note VARCHAR(200)) ENGINE=InnoDB");
    maria_->Exec("billing",
                 "INSERT INTO accounts(id, balance) VALUES (1,1000),(2,1000),(3,1000),(4,1000)");
    // Nothing prepared is left over from an earlier test.
    for (const auto& row : maria_->Query("billing", "XA RECOVER")) {
      maria_->TryExec("billing", "XA ROLLBACK X'" + Hex(row[3].substr(0, std::stoul(row[1]))) + "',X'" +
                                     Hex(row[3].substr(std::stoul(row[1]))) + "'," + row[0]);
    }
  }

  void TearDown() override { std::filesystem::remove_all(log_dir_); }

  static std::string internal_hex(const std::string& s) { return Hex(s); }
  static std::string Hex(const std::string& s) {
    static const char* kDigits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
    return out;
  }

  CoordinatorOptions Options() {
    auto o = LoadConfigFile(pg_->config_path());
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    CoordinatorOptions opts = o.value();
    opts.log.path = log_dir_ + "/decisions.db";
    opts.recovery.interval = std::chrono::milliseconds(0);
    ParticipantOptions billing;
    billing.name = "billing";
    billing.kind = ParticipantKind::kMariaDb;
    billing.conninfo = maria_->conninfo("billing");
    opts.participants.push_back(billing);
    return opts;
  }

  std::unique_ptr<Coordinator> Open(CoordinatorOptions opts) {
    auto c = Coordinator::Open(std::move(opts));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c.value()) : nullptr;
  }

  static int64_t PgBalance(int id) {
    return pg_->QueryInt("orders", "SELECT balance FROM accounts WHERE id = " + std::to_string(id));
  }
  static int64_t MariaBalance(int id) {
    return maria_->QueryInt("billing", "SELECT balance FROM accounts WHERE id = " + std::to_string(id));
  }
  static int64_t MariaPrepared() { return static_cast<int64_t>(maria_->Query("billing", "XA RECOVER").size()); }

  // XA PREPAREs a branch by hand, as a dead coordinator would leave it, and
  // disconnects: the branch stays.
  static void PrepareByHand(const Xid& xid, int account) {
    std::string x = "X'" + Hex(xid.gtrid) + "',X'" + Hex(xid.bqual) + "'," + std::to_string(xid.format_id);
    MYSQL* m = mysql_init(nullptr);
    ASSERT_NE(mysql_real_connect(m, "127.0.0.1", MariaDbSandbox::kUser, MariaDbSandbox::kPassword,
                                 "billing", maria_->port(1), nullptr, 0),
              nullptr) << mysql_error(m);
    for (const std::string& sql :
         {"XA START " + x, "UPDATE accounts SET balance = 1 WHERE id = " + std::to_string(account),
          "XA END " + x, "XA PREPARE " + x}) {
      ASSERT_EQ(mysql_query(m, sql.c_str()), 0) << sql << ": " << mysql_error(m);
    }
    mysql_close(m);
  }

  static inline PgSandbox* pg_ = nullptr;
  static inline MariaDbSandbox* maria_ = nullptr;
  std::string log_dir_;
};

TEST_F(MariaDbParticipantTest, TransferAcrossBothKindsCommits) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  // $n placeholders on both kinds; Execute on MariaDB runs inside XA START.
  auto r = tx.Execute("billing", "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
                      {int64_t{30}, int64_t{1}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->affected(), 1u);
  ASSERT_TRUE(tx.Queue("orders", "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
                       {int64_t{30}, int64_t{1}}).ok());
  Status s = tx.Commit();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(MariaBalance(1), kInitial - 30);
  EXPECT_EQ(PgBalance(1), kInitial + 30);
  EXPECT_EQ(MariaPrepared(), 0);
  EXPECT_EQ(pg_->PreparedCount("orders"), 0);
  EXPECT_EQ(coord->stats().committed, 1u);
}

// lock_timeout and statement_timeout become session variables at XA START;
// MariaDB refuses a string there (error 1232), so they must not go out as
// $n parameters (which are string literals on MariaDB).
TEST_F(MariaDbParticipantTest, LockAndStatementTimeoutsAreSetOnTheBranch) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  TransactionOptions options;
  options.lock_timeout = std::chrono::milliseconds(1500);
  options.statement_timeout = std::chrono::milliseconds(2500);
  Transaction tx = coord->Begin(options);
  auto r = tx.Execute("billing",
                      "SELECT @@innodb_lock_wait_timeout, @@max_statement_time");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Int(0, 0), 2);  // whole seconds, rounded up
  EXPECT_EQ((*r)[0][1].value_or(""), "2.500000");
  ASSERT_TRUE(tx.Queue("billing", "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
                       {int64_t{5}, int64_t{2}}).ok());
  ASSERT_TRUE(tx.Queue("orders", "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
                       {int64_t{5}, int64_t{2}}).ok());
  Status s = tx.Commit();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(MariaBalance(2), kInitial - 5);
  EXPECT_EQ(PgBalance(2), kInitial + 5);
}

TEST_F(MariaDbParticipantTest, SqlErrorInTheMariaDbBranchRollsBackPostgres) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("orders", "UPDATE accounts SET balance = balance + 500 WHERE id = 2").ok());
  // The CHECK fails on MariaDB at PREPARE time (queued statements go with XA PREPARE).
  ASSERT_TRUE(tx.Queue("billing", "UPDATE accounts SET balance = balance - 5000 WHERE id = 2").ok());
  Status s = tx.Commit();
  EXPECT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(s.participant(), "billing") << s.ToString();
  EXPECT_EQ(PgBalance(2), kInitial);
  EXPECT_EQ(MariaBalance(2), kInitial);
  EXPECT_EQ(MariaPrepared(), 0);
  EXPECT_EQ(pg_->PreparedCount("orders"), 0);
}

TEST_F(MariaDbParticipantTest, SqlErrorInPostgresRollsBackThePreparedMariaDbBranch) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("billing", "UPDATE accounts SET balance = balance + 500 WHERE id = 3").ok());
  ASSERT_TRUE(tx.Queue("orders", "UPDATE accounts SET balance = balance - 5000 WHERE id = 3").ok());
  Status s = tx.Commit();
  EXPECT_TRUE(s.IsAborted()) << s.ToString();
  EXPECT_EQ(PgBalance(3), kInitial);
  EXPECT_EQ(MariaBalance(3), kInitial);
  // Rolled back on the session that prepared it, not left to recovery.
  EXPECT_EQ(MariaPrepared(), 0);
}

TEST_F(MariaDbParticipantTest, ParametersAreDataNeverSql) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  const std::string hostile = "x'); DELETE FROM accounts; -- \\' \"$1 é";
  Transaction tx = coord->Begin();
  auto r = tx.Execute("billing", "UPDATE accounts SET note = $1 WHERE id = $2", {hostile, int64_t{4}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto read = tx.Execute("billing", "SELECT note, '$1' FROM accounts WHERE id = $1", {int64_t{4}});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0][0].value_or(""), hostile);
  EXPECT_EQ((*read)[0][1].value_or(""), "$1");  // inside quotes: not a placeholder
  ASSERT_TRUE(tx.Commit().ok());
  EXPECT_EQ(maria_->QueryInt("billing", "SELECT COUNT(*) FROM accounts"), 4);
}

TEST_F(MariaDbParticipantTest, CommitStatementInsideTheBranchIsRefused) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("orders", "UPDATE accounts SET balance = balance + 1 WHERE id = 5").ok());
  auto r = tx.Execute("billing", "UPDATE accounts SET balance = balance - 1 WHERE id = 1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // MariaDB itself refuses COMMIT inside an active XA branch (XAER_RMFAIL).
  auto c = tx.Execute("billing", "COMMIT");
  EXPECT_FALSE(c.ok());
  Status s = tx.Commit();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(MariaBalance(1), kInitial);
  EXPECT_EQ(PgBalance(5), kInitial);
  EXPECT_EQ(MariaPrepared(), 0);
}

TEST_F(MariaDbParticipantTest, ReadOnlyMariaDbBranchCommitsWithoutPrepare) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  Transaction tx = coord->Begin();
  auto r = tx.Execute("billing", "SELECT balance FROM accounts WHERE id = 1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(tx.Queue("orders", "UPDATE accounts SET balance = balance + 7 WHERE id = 6").ok());
  ASSERT_TRUE(tx.Commit().ok());
  EXPECT_EQ(PgBalance(6), kInitial + 7);
  // One write branch: committed in one phase, no decision record needed.
  EXPECT_EQ(coord->stats().committed_one_phase, 1u);
}

// A coordinator died after XA PREPARE and before any decision: the branch
// survives its client, and recovery rolls it back (presumed abort).
TEST_F(MariaDbParticipantTest, PreparedBranchOfADeadCoordinatorIsRolledBackByRecovery) {
  CoordinatorOptions opts = Options();
  {
    auto coord = Open(opts);  // draws incarnation 1, then exits
    ASSERT_NE(coord, nullptr);
  }
  const std::string gid = EncodeGid({opts.node_id, 1, 42, 2});
  PrepareByHand(ToXid(*DecodeGid(gid)), 2);  // its client is gone; the branch stays
  ASSERT_EQ(MariaPrepared(), 1);

  auto manager = RecoveryManager::Open(opts);
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  RecoveryReport report = (*manager)->RunPass({});
  EXPECT_EQ(report.resolved, 1);
  EXPECT_EQ(report.in_doubt_remaining, 0);
  EXPECT_EQ(MariaPrepared(), 0);
  EXPECT_EQ(MariaBalance(2), kInitial);
}

// The operator's view: `twopc status` lists MariaDB branches beside
// PostgreSQL ones under their gid, a foreign xid in its xa:<fmt>:<hex>:<hex>
// form that `twopc rollback --force` takes back, and `twopc recover`
// resolves this node's.
TEST_F(MariaDbParticipantTest, CliListsAndResolvesMariaDbBranches) {
  CoordinatorOptions opts = Options();
  {
    auto coord = Open(opts);  // draws incarnation 1 in the log, then exits
    ASSERT_NE(coord, nullptr);
  }
  const std::string mine = EncodeGid({opts.node_id, 1, 7, 2});
  PrepareByHand(ToXid(*DecodeGid(mine)), 3);
  PrepareByHand(Xid{131077, "foreign-gtrid", "b1"}, 4);
  const std::string foreign = "xa:131077:" + internal_hex("foreign-gtrid") + ":" + internal_hex("b1");

  const std::string config = log_dir_ + "/twopc.toml";
  {
    std::ofstream out(config);
    out << "node_id = \"" << opts.node_id << "\"\n[log]\npath = \"" << opts.log.path << "\"\n";
    out << "[[participants]]\nname = \"orders\"\nconninfo = \"" << pg_->conninfo("orders") << "\"\n";
    out << "[[participants]]\nname = \"billing\"\nkind = \"mariadb\"\nconninfo = \""
        << maria_->conninfo("billing") << "\"\n";
  }
  auto twopc = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config});
    return clitest::RunCli(std::move(args), log_dir_);
  };
  clitest::CliResult status = twopc({"status", "--json"});
  EXPECT_EQ(status.exit_code, 1) << clitest::Show(status);  // in doubt
  nlohmann::json doc = clitest::ParseJson(status);
  nlohmann::json listed = nlohmann::json::array();
  for (const auto& b : doc["prepared"]) {
    if (b.value("participant", "") != "billing") continue;
    listed.push_back(b.value("gid", ""));
    // MariaDB keeps no prepare time: unknown, not "just now".
    EXPECT_TRUE(b["age_seconds"].is_null()) << b.dump();
  }
  EXPECT_EQ(listed.size(), 2u) << clitest::Show(status);
  EXPECT_NE(std::find(listed.begin(), listed.end(), mine), listed.end()) << clitest::Show(status);
  EXPECT_NE(std::find(listed.begin(), listed.end(), foreign), listed.end()) << clitest::Show(status);
  EXPECT_EQ(status.out.find(MariaDbSandbox::kPassword + std::string("@")), std::string::npos);

  clitest::CliResult rollback = twopc({"rollback", "--force", foreign});
  EXPECT_EQ(rollback.exit_code, 0) << clitest::Show(rollback);
  clitest::CliResult recover = twopc({"recover"});
  EXPECT_EQ(recover.exit_code, 0) << clitest::Show(recover);
  EXPECT_EQ(MariaPrepared(), 0);
  EXPECT_EQ(MariaBalance(3), kInitial);
  EXPECT_EQ(MariaBalance(4), kInitial);
}

// A MariaDB branch whose XA PREPARE waits on a lock past the deadline: its
// session would run the PREPARE once the lock is free, after the caller
// heard "aborted". The abort ends that session (KILL) first, so nothing is
// left prepared when the lock goes.
TEST_F(MariaDbParticipantTest, TimedOutPrepareBehindALockLeavesNothingPrepared) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  MYSQL* holder = mysql_init(nullptr);
  ASSERT_NE(mysql_real_connect(holder, "127.0.0.1", MariaDbSandbox::kUser, MariaDbSandbox::kPassword,
                               "billing", maria_->port(1), nullptr, 0),
            nullptr) << mysql_error(holder);
  ASSERT_EQ(mysql_query(holder, "BEGIN"), 0);
  ASSERT_EQ(mysql_query(holder, "UPDATE accounts SET balance = balance WHERE id = 4"), 0);

  TransactionOptions o;
  o.deadline = std::chrono::milliseconds(700);
  Transaction tx = coord->Begin(o);
  ASSERT_TRUE(tx.Queue("orders", "UPDATE accounts SET balance = balance + 1 WHERE id = 9").ok());
  ASSERT_TRUE(tx.Queue("billing", "UPDATE accounts SET balance = balance - 1 WHERE id = 4").ok());
  Status s = tx.Commit();
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.IsInDoubt()) << s.ToString();

  ASSERT_EQ(mysql_query(holder, "ROLLBACK"), 0);  // the lock goes
  mysql_close(holder);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(MariaPrepared(), 0);
  EXPECT_EQ(MariaBalance(4), kInitial);
  EXPECT_EQ(PgBalance(9), kInitial);
  EXPECT_EQ(pg_->PreparedCount("orders"), 0);
}

// MariaDB's lock wait timeout (1205, SQLSTATE HY000) reads as PostgreSQL's
// lock_not_available, so RunTransaction reruns the transaction as it does
// for a PostgreSQL lock_timeout.
TEST_F(MariaDbParticipantTest, LockWaitTimeoutIsRetriedLikePostgres) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  MYSQL* holder = mysql_init(nullptr);
  ASSERT_NE(mysql_real_connect(holder, "127.0.0.1", MariaDbSandbox::kUser, MariaDbSandbox::kPassword,
                               "billing", maria_->port(1), nullptr, 0),
            nullptr) << mysql_error(holder);
  ASSERT_EQ(mysql_query(holder, "BEGIN"), 0);
  ASSERT_EQ(mysql_query(holder, "UPDATE accounts SET balance = balance WHERE id = 1"), 0);
  std::thread release([holder] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    mysql_query(holder, "ROLLBACK");
  });

  TransactionOptions o;
  o.lock_timeout = std::chrono::milliseconds(1000);
  int attempts = 0;
  std::string first_sqlstate;
  Status s = RunTransaction(
      *coord,
      [&](Transaction& tx) -> Status {
        ++attempts;
        auto r = tx.Execute("billing", "UPDATE accounts SET balance = balance - 1 WHERE id = 1");
        if (!r.ok() && first_sqlstate.empty()) first_sqlstate = r.status().sqlstate();
        if (!r.ok()) return r.TakeStatus();
        return tx.Queue("orders", "UPDATE accounts SET balance = balance + 1 WHERE id = 10");
      },
      o);
  release.join();
  mysql_close(holder);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(attempts, 2);
  EXPECT_EQ(first_sqlstate, "55P03");
  EXPECT_EQ(MariaBalance(1), kInitial - 1);
  EXPECT_EQ(PgBalance(10), kInitial + 1);
}

// A branch that ends while still prepared (in doubt, or phase 2 left to a
// retry) gives its connection back. MariaDB 10.11 breaks a prepared branch
// on COM_RESET_CONNECTION: another session's XA COMMIT then says OK and
// commits nothing. The session is closed instead, which detaches the branch
// whole (docs/mariadb-notes.md).
TEST_F(MariaDbParticipantTest, APreparedBranchLeftOnItsSessionIsDetachedWhole) {
  using namespace std::chrono_literals;
  CoordinatorOptions opts = Options();
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread thread([&io] { io.run(); });
  std::unique_ptr<internal::Participant> billing =
      internal::MakeParticipant(io, opts.participants.back(), 5s);
  const std::string gid = EncodeGid({opts.node_id, 9, 1, 1});
  auto soon = [] { return internal::Clock::now() + 10s; };

  std::promise<Result<std::unique_ptr<internal::Branch>>> opened;
  billing->Open({}, gid, soon(), [&](Result<std::unique_ptr<internal::Branch>> r) { opened.set_value(std::move(r)); });
  auto branch = opened.get_future().get();
  ASSERT_TRUE(branch.ok()) << branch.status().ToString();
  std::promise<Status> prepared;
  (*branch)->Prepare({{"UPDATE accounts SET balance = balance + 100 WHERE id = 4", {}}}, gid, soon(),
                     [&](Status s) { prepared.set_value(std::move(s)); });
  Status p = prepared.get_future().get();
  ASSERT_TRUE(p.ok()) << p.ToString();
  branch->reset();  // its connection goes back to the pool, the branch still prepared

  // The next user of the pool, or any other session, finishes it.
  Status committed;
  for (int i = 0; i < 50; ++i) {
    std::promise<Status> done;
    billing->CommitPrepared(gid, soon(), [&](Status s) { done.set_value(std::move(s)); });
    committed = done.get_future().get();
    if (!committed.IsUnavailable()) break;  // "still attached": the close is on its way
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(committed.ok()) << committed.ToString();
  EXPECT_EQ(MariaBalance(4), kInitial + 100);
  EXPECT_EQ(MariaPrepared(), 0);
  work.reset();
  thread.join();
  billing.reset();
}

TEST_F(MariaDbParticipantTest, StartUpRefusesWhatCannotWork) {
  CoordinatorOptions opts = Options();
  opts.node_id = "a-node-id-of-18ch";
  opts.node_id += "x";
  auto c = Coordinator::Open(opts);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("at most 17"), std::string::npos) << c.status().ToString();

  // The postgres store: the decider's name goes into the MariaDB bqual.
  opts = Options();
  opts.log.store = LogStore::kPostgres;
  opts.participants[0].name = std::string(kMaxMariaDbDeciderLength + 1, 'o');
  c = Coordinator::Open(opts);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("at most 53"), std::string::npos) << c.status().ToString();

  // ... and needs a PostgreSQL participant to keep the decisions in.
  opts = Options();
  opts.log.store = LogStore::kPostgres;
  opts.participants.erase(opts.participants.begin());
  c = Coordinator::Open(opts);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("has none"), std::string::npos) << c.status().ToString();
}

// With the decisions inside PostgreSQL, the MariaDB branch names its decider
// from XA START on: a PostgreSQL participant, which decides even when the
// transaction wrote nothing there (it then commits only the decision row).
TEST_F(MariaDbParticipantTest, PostgresStoreDecidesAtTheNamedPostgresParticipant) {
  CoordinatorOptions opts = Options();
  opts.log.store = LogStore::kPostgres;
  ParticipantOptions ledger;
  ledger.name = "ledger";
  ledger.kind = ParticipantKind::kMariaDb;
  ledger.conninfo = maria_->conninfo("billing");  // a second branch on the same database
  opts.participants.push_back(ledger);
  auto coord = Open(opts);
  ASSERT_NE(coord, nullptr);

  // Two MariaDB writes, none on PostgreSQL: "orders" still decides.
  Transaction tx = coord->Begin();
  ASSERT_TRUE(tx.Queue("billing", "UPDATE accounts SET balance = balance - 10 WHERE id = 1").ok());
  ASSERT_TRUE(tx.Queue("ledger", "UPDATE accounts SET balance = balance + 10 WHERE id = 2").ok());
  Status s = tx.Commit();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(MariaBalance(1), kInitial - 10);
  EXPECT_EQ(MariaBalance(2), kInitial + 10);

  // A PostgreSQL write and a MariaDB one; then an abort refused on MariaDB.
  Transaction tx2 = coord->Begin();
  ASSERT_TRUE(tx2.Queue("orders", "UPDATE accounts SET balance = balance + 5 WHERE id = 7").ok());
  ASSERT_TRUE(tx2.Queue("billing", "UPDATE accounts SET balance = balance - 5 WHERE id = 3").ok());
  ASSERT_TRUE(tx2.Commit().ok());
  EXPECT_EQ(PgBalance(7), kInitial + 5);
  EXPECT_EQ(MariaBalance(3), kInitial - 5);

  Transaction tx3 = coord->Begin();
  ASSERT_TRUE(tx3.Queue("orders", "UPDATE accounts SET balance = balance + 5 WHERE id = 8").ok());
  ASSERT_TRUE(tx3.Queue("billing", "UPDATE accounts SET balance = balance - 99999 WHERE id = 3").ok());
  EXPECT_TRUE(tx3.Commit().IsAborted());
  EXPECT_EQ(PgBalance(8), kInitial);
  EXPECT_EQ(MariaPrepared(), 0);
  EXPECT_EQ(pg_->PreparedCount("orders"), 0);
}

}  // namespace
}  // namespace twopc::testing
