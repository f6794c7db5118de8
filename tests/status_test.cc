#include "twopc/status.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "twopc/coordinator.h"

namespace twopc {
namespace {

TEST(StatusTest, DefaultIsOkAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kOk);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_EQ(Status::OK().ToString(), "OK");
}

TEST(StatusTest, ToStringNamesParticipantSqlStateAndMessage) {
  Status s = Status::Aborted("new row violates check constraint \"funds_nonnegative\"")
                 .WithParticipant("payments")
                 .WithSqlState("23514");
  EXPECT_EQ(s.ToString(),
            "Aborted: participant payments: SQLSTATE 23514: new row violates check constraint "
            "\"funds_nonnegative\"");
}

TEST(StatusTest, ToStringOmitsEmptyParts) {
  EXPECT_EQ(Status::InDoubt("connection lost during COMMIT").ToString(),
            "InDoubt: connection lost during COMMIT");
  EXPECT_EQ(Status::Unavailable("").WithParticipant("orders").ToString(),
            "Unavailable: participant orders");
  EXPECT_EQ(Status::SqlError("").WithSqlState("42P01").ToString(), "SqlError: SQLSTATE 42P01");
  EXPECT_EQ(Status::Internal("").ToString(), "Internal");
  EXPECT_EQ(Status::Aborted("x").WithSqlState("40001").ToString(), "Aborted: SQLSTATE 40001: x");
}

TEST(StatusTest, EveryCodeHasItsOwnName) {
  using Code = Status::Code;
  const std::pair<Code, const char*> expected[] = {
      {Code::kOk, "OK"},
      {Code::kAborted, "Aborted"},
      {Code::kInDoubt, "InDoubt"},
      {Code::kUnavailable, "Unavailable"},
      {Code::kTimedOut, "TimedOut"},
      {Code::kInvalidArgument, "InvalidArgument"},
      {Code::kConflict, "Conflict"},
      {Code::kNotFound, "NotFound"},
      {Code::kCorruption, "Corruption"},
      {Code::kIOError, "IOError"},
      {Code::kBusy, "Busy"},
      {Code::kSqlError, "SqlError"},
      {Code::kInternal, "Internal"},
      {Code::kHeuristicMixed, "HeuristicMixed"},
  };
  for (const auto& [code, name] : expected) {
    EXPECT_STREQ(Status::CodeName(code), name) << static_cast<int>(code);
  }
  EXPECT_STREQ(Status::CodeName(static_cast<Code>(999)), "Unknown");
}

TEST(StatusTest, FactoriesSetTheirCode) {
  EXPECT_TRUE(Status::TimedOut("t").IsTimedOut());
  EXPECT_TRUE(Status::Conflict("c").IsConflict());
  EXPECT_TRUE(Status::Busy("b").IsBusy());
  EXPECT_EQ(Status::Corruption("c").ToString(), "Corruption: c");
  EXPECT_EQ(Status::IOError("disk full").ToString(), "IOError: disk full");
  EXPECT_FALSE(Status::NotFound("n").ok());
}

TEST(StatusTest, SerializationFailureAndDeadlockAreRetryable) {
  EXPECT_TRUE(Status::Aborted("could not serialize").WithSqlState("40001").IsRetryableConflict());
  EXPECT_TRUE(Status::Aborted("deadlock detected").WithSqlState("40P01").IsRetryableConflict());
}

TEST(StatusTest, OtherFailuresAreNotRetryable) {
  EXPECT_FALSE(Status::Aborted("check").WithSqlState("23514").IsRetryableConflict());
  // A lost connection has no SQLSTATE; whether the body may rerun depends on
  // the outcome, which only the protocol knows.
  EXPECT_FALSE(Status::InDoubt("connection lost").IsRetryableConflict());
  EXPECT_FALSE(Status::Aborted("40001").IsRetryableConflict());
  EXPECT_FALSE(Status::OK().IsRetryableConflict());
}

TEST(ResultTest, CarriesValueOrStatus) {
  Result<int> value(7);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, 7);
  Result<int> error(Status::NotFound("no such gid"));
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().ToString(), "NotFound: no such gid");
}

// Rows::Int lives with the other error-model helpers' tests: it is the one
// accessor that throws instead of returning a Status (REQUIRES contract).
Rows OneRow(std::optional<std::string> cell) {
  return Rows({"balance"}, {Rows::Row{std::move(cell)}}, 1);
}

TEST(RowsIntTest, ParsesIntegersIncludingExtremes) {
  EXPECT_EQ(OneRow("42").Int(0, 0), 42);
  EXPECT_EQ(OneRow("-7").Int(0, 0), -7);
  EXPECT_EQ(OneRow("9223372036854775807").Int(0, 0), INT64_MAX);
  EXPECT_EQ(OneRow("-9223372036854775808").Int(0, 0), INT64_MIN);
}

TEST(RowsIntTest, ThrowsOnNullNamingTheColumn) {
  try {
    (void)OneRow(std::nullopt).Int(0, 0);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("NULL"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("balance"), std::string::npos) << e.what();
  }
}

TEST(RowsIntTest, ThrowsOnNonIntegerText) {
  EXPECT_THROW((void)OneRow("abc").Int(0, 0), std::invalid_argument);
  EXPECT_THROW((void)OneRow("12abc").Int(0, 0), std::invalid_argument);
  EXPECT_THROW((void)OneRow("1.5").Int(0, 0), std::invalid_argument);
  EXPECT_THROW((void)OneRow("").Int(0, 0), std::invalid_argument);
  EXPECT_THROW((void)OneRow(" 1").Int(0, 0), std::invalid_argument);
  EXPECT_THROW((void)OneRow("9223372036854775808").Int(0, 0), std::invalid_argument);
}

TEST(RowsIntTest, ThrowsOutOfRangeOnBadIndex) {
  EXPECT_THROW((void)OneRow("1").Int(1, 0), std::out_of_range);
  EXPECT_THROW((void)OneRow("1").Int(0, 1), std::out_of_range);
}

}  // namespace
}  // namespace twopc
