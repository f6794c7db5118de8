// A session of its own that holds a row lock until Release(): makes a
// branch's pipelined PREPARE wait behind it, as a busy application's would.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <string>

namespace twopc::testing {

class RowLock {
 public:
  // Locks accounts(id = `id`) in the database of `conninfo`.
  RowLock(const std::string& conninfo, int id) : conn_(PQconnectdb(conninfo.c_str())) {
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    Run("BEGIN");
    Run("SELECT 1 FROM accounts WHERE id = " + std::to_string(id) + " FOR UPDATE");
  }
  ~RowLock() {
    Release();
    PQfinish(conn_);
  }
  RowLock(const RowLock&) = delete;
  RowLock& operator=(const RowLock&) = delete;

  void Release() {
    if (!held_) return;
    held_ = false;
    Run("ROLLBACK");
  }

 private:
  void Run(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
        << sql << ": " << PQerrorMessage(conn_);
    PQclear(r);
  }

  PGconn* conn_;
  bool held_ = true;
};

}  // namespace twopc::testing
