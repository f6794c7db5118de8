// A bank spread over three databases on three PostgreSQL servers, shared by
// the coordinator integration tests: each database holds
// accounts(id bigint primary key, balance bigint not null check (balance >= 0)).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "testing/pg_sandbox.h"
#include "twopc/config.h"
#include "twopc/coordinator.h"

namespace twopc::testing {

inline constexpr int kAccountsPerDb = 10;
inline constexpr int64_t kInitialBalance = 1000;

class BankTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sandbox_ = PgSandbox::Start({"a", "b", "c"}).release();
    ASSERT_NE(sandbox_, nullptr);
  }
  static void TearDownTestSuite() {
    delete sandbox_;
    sandbox_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(sandbox_, nullptr);
    char tmpl[] = "/tmp/twopc-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    log_dir_ = tmpl;
    for (const char* db : {"a", "b", "c"}) {
      sandbox_->Exec(db,
                     "DROP TABLE IF EXISTS accounts;"
                     "CREATE TABLE accounts(id bigint PRIMARY KEY,"
                     " balance bigint NOT NULL CHECK (balance >= 0));"
                     "INSERT INTO accounts SELECT g, " + std::to_string(kInitialBalance) +
                         " FROM generate_series(1, " + std::to_string(kAccountsPerDb) + ") g");
    }
  }

  void TearDown() override {
    std::filesystem::remove_all(log_dir_);
  }

  // The sandbox's config with this test's own decision log.
  CoordinatorOptions Options() {
    auto o = LoadConfigFile(sandbox_->config_path());
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    CoordinatorOptions opts = o.value();
    opts.log.path = log_dir_ + "/decisions.db";
    opts.recovery.interval = std::chrono::milliseconds(0);
    return opts;
  }

  std::unique_ptr<Coordinator> Open(CoordinatorOptions opts) {
    auto c = Coordinator::Open(std::move(opts));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c.value()) : nullptr;
  }

  static int64_t Balance(const std::string& db, int id) {
    return sandbox_->QueryInt(db, "SELECT balance FROM accounts WHERE id = " + std::to_string(id));
  }
  static int64_t Total() {
    int64_t total = 0;
    for (const char* db : {"a", "b", "c"}) {
      total += sandbox_->QueryInt(db, "SELECT sum(balance) FROM accounts");
    }
    return total;
  }
  static int64_t PreparedEverywhere() {
    return sandbox_->PreparedCount("a") + sandbox_->PreparedCount("b") +
           sandbox_->PreparedCount("c");
  }

  static inline PgSandbox* sandbox_ = nullptr;
  std::string log_dir_;
};

}  // namespace twopc::testing
