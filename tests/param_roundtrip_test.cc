// Parameters reach PostgreSQL as the values they are in C++ (issue 9, item
// 11): each is written through a transaction and read back by the server.
#include <cmath>
#include <limits>

#include "tests/support/bank_fixture.h"

namespace twopc::testing {
namespace {

class ParamRoundTripTest : public BankTest {};

TEST_F(ParamRoundTripTest, DoubleByteaNullAndBoolRoundTrip) {
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  sandbox_->Exec("a", "DROP TABLE IF EXISTS typed; CREATE TABLE typed(id int PRIMARY KEY,"
                      " d float8, r float4, b bytea, f boolean, n bigint, t text, day date)");
  const double third = 1.0 / 3;
  const std::byte raw[] = {std::byte{0x00}, std::byte{0xff}, std::byte{0x5c}, std::byte{0x27}};
  Transaction tx = coord->Begin();
  Status s = tx.Queue("a", "INSERT INTO typed VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      {1, third, 0.1f, Bytes(std::span<const std::byte>(raw)), false,
                       std::optional<int64_t>(), Null{}, Text{"2026-01-01"}});
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = tx.Queue("a", "INSERT INTO typed VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
               {2, -std::numeric_limits<double>::infinity(), std::nullopt,
                Bytes(std::vector<std::byte>{}), true, std::optional<int64_t>(-5),
                static_cast<const char*>(nullptr), std::nullopt});
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE((s = tx.Commit()).ok()) << s.ToString();

  // The server compares with its own literals: nothing is read back through
  // twopc's text conversions.
  EXPECT_EQ(sandbox_->QueryInt("a",
                               "SELECT count(*) FROM typed WHERE id = 1"
                               " AND d = 1::float8 / 3 AND r = 0.1::float4"
                               " AND b = '\\x00ff5c27'::bytea AND f = false"
                               " AND n IS NULL AND t IS NULL AND day = DATE '2026-01-01'"),
            1);
  EXPECT_EQ(sandbox_->QueryInt("a",
                               "SELECT count(*) FROM typed WHERE id = 2"
                               " AND d = '-Infinity'::float8 AND r IS NULL"
                               " AND b = ''::bytea AND f = true AND n = -5"
                               " AND t IS NULL AND day IS NULL"),
            1);

  // And through twopc: a double read back parses to the same double.
  Transaction read = coord->Begin();
  auto rows = read.Execute("a", "SELECT d::text, $1::float8 = 1::float8 / 3 FROM typed WHERE id = 1",
                           {third});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(std::stod(*(*rows)[0][0]), third);
  EXPECT_EQ((*rows)[0][1].value_or(""), "t");
  ASSERT_TRUE(read.Commit().ok());
}

}  // namespace
}  // namespace twopc::testing
