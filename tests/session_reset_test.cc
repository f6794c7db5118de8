// A pooled connection must come back to the pool as a fresh session: what one
// transaction's statements did to the *session* (SET, session advisory locks,
// temp tables, prepared statements, LISTEN) must not reach the next
// transaction that gets the same connection.
#include <chrono>

#include "tests/support/bank_fixture.h"

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;

class SessionResetTest : public BankTest {
 protected:
  // One pooled connection for "a": every transaction on it gets the same
  // server session (its backend pid proves it), so a leak would show.
  CoordinatorOptions OneConnection() {
    CoordinatorOptions o = Options();
    for (auto& p : o.participants) {
      if (p.name == "a") p.max_connections = 1;
    }
    return o;
  }

  static int64_t BackendPid(Transaction& tx) {
    auto r = tx.Execute("a", "SELECT pg_backend_pid()");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->Int(0, 0) : -1;
  }

  // The session state a transaction could have left behind, read by the
  // next transaction on the same connection.
  struct SessionState {
    std::string search_path;
    std::string statement_timeout;
    int64_t advisory_locks = -1;
    int64_t temp_tables = -1;
    int64_t prepared_statements = -1;
    int64_t listening = -1;
  };
  static SessionState ReadState(Transaction& tx) {
    auto r = tx.Execute(
        "a",
        "SELECT current_setting('search_path'), current_setting('statement_timeout'),"
        " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        "   AND pid = pg_backend_pid()),"
        " (SELECT count(*) FROM pg_class WHERE relname = 'leak_tmp'"
        "   AND relpersistence = 't'),"
        " (SELECT count(*) FROM pg_prepared_statements),"
        " (SELECT count(*) FROM pg_listening_channels())");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    SessionState s;
    if (!r.ok()) return s;
    s.search_path = (*r)[0][0].value_or("");
    s.statement_timeout = (*r)[0][1].value_or("");
    s.advisory_locks = r->Int(0, 2);
    s.temp_tables = r->Int(0, 3);
    s.prepared_statements = r->Int(0, 4);
    s.listening = r->Int(0, 5);
    return s;
  }

  static void ExpectFresh(const SessionState& s) {
    EXPECT_EQ(s.search_path, "\"$user\", public");
    EXPECT_EQ(s.statement_timeout, "0");
    EXPECT_EQ(s.advisory_locks, 0);
    EXPECT_EQ(s.temp_tables, 0);
    EXPECT_EQ(s.prepared_statements, 0);
    EXPECT_EQ(s.listening, 0);
  }

  // Every kind of session state a branch can create, from inside its
  // transaction block. PostgreSQL refuses to PREPARE a transaction that
  // touched a temp table or ran LISTEN: `preparable` leaves those two out.
  static void DirtySession(Transaction& tx, bool preparable) {
    for (const char* sql : {"SET search_path TO pg_catalog, public", "SET statement_timeout = 4321",
                            "SELECT pg_advisory_lock(4242)", "PREPARE leak_stmt AS SELECT 1"}) {
      auto r = tx.Execute("a", sql);
      ASSERT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    }
    if (preparable) return;
    for (const char* sql : {"LISTEN leak_channel", "CREATE TEMP TABLE leak_tmp(x int)"}) {
      auto r = tx.Execute("a", sql);
      ASSERT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    }
  }

  // The lock must be free for everyone else too, not only invisible to the
  // next transaction: an idle pooled connection holding it would block them.
  static void ExpectAdvisoryLockFree() {
    EXPECT_EQ(sandbox_->QueryInt("a", "SELECT pg_try_advisory_lock(4242)::int"), 1);
  }
};

TEST_F(SessionResetTest, OnePhaseCommitLeavesNoSessionStateForTheNextTransaction) {
  auto coord = Open(OneConnection());
  ASSERT_NE(coord, nullptr);
  int64_t pid = -1;
  {
    Transaction tx = coord->Begin();
    pid = BackendPid(tx);
    DirtySession(tx, /*preparable=*/false);
    ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = balance + 1 WHERE id = 1").ok());
    Status s = tx.Commit();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  Transaction next = coord->Begin();
  ASSERT_EQ(BackendPid(next), pid) << "not the same pooled connection: the test proves nothing";
  ExpectFresh(ReadState(next));
  ASSERT_TRUE(next.Commit().ok());
  ExpectAdvisoryLockFree();
  EXPECT_EQ(Balance("a", 1), kInitialBalance + 1);
}

TEST_F(SessionResetTest, RollbackLeavesNoSessionStateForTheNextTransaction) {
  auto coord = Open(OneConnection());
  ASSERT_NE(coord, nullptr);
  int64_t pid = -1;
  {
    Transaction tx = coord->Begin();
    pid = BackendPid(tx);
    DirtySession(tx, /*preparable=*/false);
    Status s = tx.Rollback();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  Transaction next = coord->Begin();
  ASSERT_EQ(BackendPid(next), pid) << "not the same pooled connection: the test proves nothing";
  // SET and CREATE TEMP TABLE are undone by the rollback itself; the
  // session advisory lock, the prepared statement survive it.
  ExpectFresh(ReadState(next));
  ASSERT_TRUE(next.Commit().ok());
  ExpectAdvisoryLockFree();
}

TEST_F(SessionResetTest, TwoPhaseCommitLeavesNoSessionStateForTheNextTransaction) {
  auto coord = Open(OneConnection());
  ASSERT_NE(coord, nullptr);
  int64_t pid = -1;
  {
    Transaction tx = coord->Begin();
    pid = BackendPid(tx);
    // A session advisory lock, a SET and a prepared statement all survive
    // PREPARE TRANSACTION: they belong to the session, not the transaction.
    DirtySession(tx, /*preparable=*/true);
    ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 5 WHERE id = 2").ok());
    ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 5 WHERE id = 2").ok());
    Status s = tx.Commit();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(coord->stats().committed_one_phase, 0u);
  Transaction next = coord->Begin();
  ASSERT_EQ(BackendPid(next), pid) << "not the same pooled connection: the test proves nothing";
  ExpectFresh(ReadState(next));
  ASSERT_TRUE(next.Commit().ok());
  ExpectAdvisoryLockFree();
  EXPECT_EQ(Balance("a", 2), kInitialBalance - 5);
  EXPECT_EQ(Balance("b", 2), kInitialBalance + 5);
}

TEST_F(SessionResetTest, RefusedPrepareLeavesNoSessionState) {
  auto coord = Open(OneConnection());
  ASSERT_NE(coord, nullptr);
  int64_t pid = -1;
  {
    Transaction tx = coord->Begin();
    pid = BackendPid(tx);
    DirtySession(tx, /*preparable=*/false);
    ASSERT_TRUE(tx.Queue("a", "UPDATE accounts SET balance = balance - 5 WHERE id = 3").ok());
    ASSERT_TRUE(tx.Queue("b", "UPDATE accounts SET balance = balance + 5 WHERE id = 3").ok());
    Status s = tx.Commit();  // "cannot PREPARE a transaction that has executed LISTEN..."
    ASSERT_TRUE(s.IsAborted()) << s.ToString();
    EXPECT_EQ(s.participant(), "a");
  }
  Transaction next = coord->Begin();
  ASSERT_EQ(BackendPid(next), pid) << "not the same pooled connection: the test proves nothing";
  ExpectFresh(ReadState(next));
  ASSERT_TRUE(next.Commit().ok());
  ExpectAdvisoryLockFree();
  EXPECT_EQ(Balance("a", 3), kInitialBalance);
  EXPECT_EQ(PreparedEverywhere(), 0);
}

// session_init: the participant's own session settings, on every new
// connection and again after every reset.
class SessionInitTest : public SessionResetTest {
 protected:
  void SetUp() override {
    SessionResetTest::SetUp();
    sandbox_->Exec("a",
                   "DROP SCHEMA IF EXISTS app CASCADE; CREATE SCHEMA app;"
                   "CREATE TABLE app.marker(v text); INSERT INTO app.marker VALUES ('app')");
  }

  static std::string Setting(Transaction& tx, const std::string& name) {
    auto r = tx.Execute("a", "SELECT current_setting($1)", {name});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)[0][0].value_or("") : "";
  }
};

TEST_F(SessionInitTest, AppliedOnEveryNewConnectionAndAfterEveryReset) {
  CoordinatorOptions o = Options();
  for (auto& p : o.participants) {
    if (p.name == "a") {
      p.max_connections = 2;
      p.session_init = {"SET search_path TO app, public", "SET work_mem = '7MB'"};
    }
  }
  auto coord = Open(o);
  ASSERT_NE(coord, nullptr);
  // Two transactions at once: two new connections, both initialised.
  Transaction first = coord->Begin();
  Transaction second = coord->Begin();
  int64_t first_pid = BackendPid(first), second_pid = BackendPid(second);
  ASSERT_NE(first_pid, second_pid);
  for (Transaction* tx : {&first, &second}) {
    EXPECT_EQ(Setting(*tx, "search_path"), "app, public");
    EXPECT_EQ(Setting(*tx, "work_mem"), "7MB");
    auto marker = tx->Execute("a", "SELECT v FROM marker");  // unqualified: app.marker
    ASSERT_TRUE(marker.ok()) << marker.status().ToString();
    EXPECT_EQ((*marker)[0][0].value_or(""), "app");
  }
  // The transaction changes them for its session...
  ASSERT_TRUE(first.Execute("a", "SET search_path TO public").ok());
  ASSERT_TRUE(first.Execute("a", "SET work_mem = '1MB'").ok());
  ASSERT_TRUE(first.Commit().ok());
  ASSERT_TRUE(second.Commit().ok());
  // ...and whichever transaction gets a connection next finds session_init's.
  for (int i = 0; i < 4; ++i) {
    Transaction tx = coord->Begin();
    int64_t pid = BackendPid(tx);
    EXPECT_TRUE(pid == first_pid || pid == second_pid) << "a third connection was opened";
    EXPECT_EQ(Setting(tx, "search_path"), "app, public") << "backend " << pid;
    EXPECT_EQ(Setting(tx, "work_mem"), "7MB") << "backend " << pid;
    ASSERT_TRUE(tx.Execute("a", "SET search_path TO public").ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
}

// The reset rides behind the branch's COMMIT in one pipeline: when only the
// reset fails, the commit still counts, and the connection is not reused.
TEST_F(SessionInitTest, CommitSucceedsWhenOnlyTheResetBehindItFails) {
  sandbox_->Exec("a", "DROP TABLE IF EXISTS init_ok; CREATE TABLE init_ok(x int);"
                      "INSERT INTO init_ok VALUES (1)");
  CoordinatorOptions o = Options();
  for (auto& p : o.participants) {
    if (p.name == "a") {
      p.max_connections = 1;
      // Fails (division by zero) while init_ok is empty.
      p.session_init = {"SELECT 1 / (SELECT count(*) FROM public.init_ok)::int"};
    }
  }
  auto coord = Open(o);
  ASSERT_NE(coord, nullptr);
  int64_t pid = -1;
  {
    Transaction tx = coord->Begin();
    pid = BackendPid(tx);
    ASSERT_TRUE(tx.Execute("a", "UPDATE accounts SET balance = balance + 7 WHERE id = 4").ok());
    sandbox_->Exec("a", "DELETE FROM init_ok");
    Status s = tx.Commit();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(Balance("a", 4), kInitialBalance + 7);
  sandbox_->Exec("a", "INSERT INTO init_ok VALUES (1)");
  Transaction next = coord->Begin();
  int64_t next_pid = BackendPid(next);
  EXPECT_NE(next_pid, pid) << "a connection whose reset failed was reused";
  ASSERT_TRUE(next.Commit().ok());
}

TEST_F(SessionInitTest, RefusedStatementIsAClearErrorAtOpen) {
  CoordinatorOptions o = Options();
  for (auto& p : o.participants) {
    if (p.name == "b") p.session_init = {"SET search_path TO app", "SELEC 1"};
  }
  auto c = Coordinator::Open(o);
  ASSERT_FALSE(c.ok());
  const Status& s = c.status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_EQ(s.participant(), "b");
  EXPECT_EQ(s.sqlstate(), "42601");  // syntax_error
  EXPECT_NE(s.message().find("session_init statement 2 of 2 failed"), std::string::npos)
      << s.ToString();
}

TEST_F(SessionInitTest, ApplicationNameIsRefusedAtOpen) {
  CoordinatorOptions o = Options();
  o.participants[0].session_init = {"SET application_name = 'mine'"};
  auto c = Coordinator::Open(o);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsInvalidArgument()) << c.status().ToString();
  EXPECT_EQ(c.status().participant(), o.participants[0].name);
  EXPECT_NE(c.status().message().find("application_name"), std::string::npos)
      << c.status().ToString();
}

}  // namespace
}  // namespace twopc::testing
