// Which statements Execute/Queue refuse as transaction control (no server:
// the classifier alone; transaction_control_test.cc runs them for real).
#include <gtest/gtest.h>

#include "coordinator/transaction_control.h"

namespace twopc::internal {
namespace {

TEST(TransactionControlStatement, RefusesStatementsThatEndOrReplaceTheTransaction) {
  const std::pair<const char*, const char*> cases[] = {
      {"COMMIT", "COMMIT"},
      {"commit", "COMMIT"},
      {"Commit Work;", "COMMIT"},
      {"COMMIT TRANSACTION", "COMMIT"},
      {"COMMIT AND CHAIN", "COMMIT"},
      {"END", "END"},
      {"end transaction", "END"},
      {"ROLLBACK", "ROLLBACK"},
      {"ROLLBACK WORK", "ROLLBACK"},
      {"rollback and chain", "ROLLBACK"},
      {"ABORT", "ABORT"},
      {"BEGIN", "BEGIN"},
      {"begin isolation level serializable", "BEGIN"},
      {"START TRANSACTION", "START TRANSACTION"},
      {"PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION"},
      {"prepare\ttransaction 'x'", "PREPARE TRANSACTION"},
      {"COMMIT PREPARED 'x'", "COMMIT PREPARED"},
      {"ROLLBACK PREPARED 'x'", "ROLLBACK PREPARED"},
      {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "SET SESSION CHARACTERISTICS"},
      // What PostgreSQL's lexer skips, so must we.
      {"   \n\tCOMMIT", "COMMIT"},
      {"-- done\nCOMMIT", "COMMIT"},
      {"/* done */COMMIT", "COMMIT"},
      {"/* outer /* nested */ still comment */ COMMIT", "COMMIT"},
      {"; ;COMMIT", "COMMIT"},  // empty statements: one statement for the server
      {"/**/ROLLBACK/**/AND CHAIN", "ROLLBACK"},
  };
  for (auto [sql, name] : cases) {
    auto refused = TransactionControlStatement(sql);
    ASSERT_TRUE(refused.has_value()) << sql;
    EXPECT_EQ(*refused, name) << sql;
  }
}

TEST(TransactionControlStatement, AllowsStatementsThatStayInsideTheTransaction) {
  for (const char* sql : {
           "SELECT 1",
           "UPDATE commits SET n = 1",
           "INSERT INTO t VALUES ('COMMIT')",
           "SAVEPOINT s1",
           "RELEASE SAVEPOINT s1",
           "release s1",
           "ROLLBACK TO SAVEPOINT s1",
           "rollback to s1",
           "/**/ROLLBACK/**/TO s1",
           "ROLLBACK WORK TO SAVEPOINT s1",
           "ROLLBACK TRANSACTION TO s1",
           "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
           "SET LOCAL lock_timeout = '1s'",
           "SET SESSION statement_timeout = 0",
           "PREPARE q AS SELECT 1",
           "DO $$BEGIN PERFORM 1; END$$",
           "committed",  // a word that only starts like a keyword
           "beginning",
           "-- COMMIT\nSELECT 1",
           "/* COMMIT */ SELECT 1",
           "",
           "   ",
       }) {
    EXPECT_FALSE(TransactionControlStatement(sql).has_value()) << sql;
  }
}

}  // namespace
}  // namespace twopc::internal
