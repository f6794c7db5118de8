// The SQL text sent to MariaDB (participants/mariadb_sql.h): parameters bound
// as hex literals, one statement per query, and the gid <-> XA xid mapping
// within MariaDB's 64-byte limits (docs/gid-format.md, "MariaDB XA").
#include "participants/mariadb_sql.h"

#include <gtest/gtest.h>

#include "participants/mariadb_connection.h"

namespace twopc::internal {
namespace {

using Params = std::vector<std::optional<std::string>>;

TEST(MariaDbSqlTest, PlaceholdersBecomeHexLiterals) {
  auto r = BindMariaDbParams("UPDATE t SET a = $1, b = $2 WHERE id = $1", {"x'y", std::nullopt});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "UPDATE t SET a = _utf8mb4 X'782779', b = NULL WHERE id = _utf8mb4 X'782779'");
  EXPECT_EQ(MariaDbLiteral(""), "_utf8mb4 X''");
}

TEST(MariaDbSqlTest, PlaceholdersInQuotesCommentsAndNamesAreLeftAlone) {
  Params one = {"v"};
  EXPECT_EQ(*BindMariaDbParams("SELECT '$1', \"$1\", `$1`, a$1 -- $1\n, $1", one),
            "SELECT '$1', \"$1\", `$1`, a$1 -- $1\n, _utf8mb4 X'76'");
  EXPECT_EQ(*BindMariaDbParams("SELECT /* $1 */ 'it''s $1', 'a\\'$1' # $1", one),
            "SELECT /* $1 */ 'it''s $1', 'a\\'$1' # $1");
  // An executable comment is SQL: its $n is bound, its ';' refused.
  EXPECT_EQ(*BindMariaDbParams("SELECT 1 /*! + $1 */", one), "SELECT 1 /*! + _utf8mb4 X'76' */");
  EXPECT_FALSE(BindMariaDbParams("SELECT 1 /*M!100000 ; DROP TABLE t */", {}).ok());
  // "--" is a comment only when a space follows; "5--$1" is 5 minus minus $1.
  EXPECT_EQ(*BindMariaDbParams("SELECT 5--$1", one), "SELECT 5--_utf8mb4 X'76'");
}

TEST(MariaDbSqlTest, MissingParameterAndSecondStatementAreRefused) {
  auto missing = BindMariaDbParams("SELECT $2", {"a"});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsInvalidArgument());
  EXPECT_NE(missing.status().message().find("$2"), std::string::npos);
  EXPECT_FALSE(BindMariaDbParams("SELECT $0", {"a"}).ok());
  auto two = BindMariaDbParams("UPDATE t SET a = 1; COMMIT", {});
  ASSERT_FALSE(two.ok());
  EXPECT_TRUE(two.status().IsInvalidArgument());
  // Trailing semicolons end the one statement; quoted ones are data.
  EXPECT_EQ(*BindMariaDbParams("SELECT ';' ;; \n", {}), "SELECT ';'");
}

TEST(MariaDbSqlTest, GidRoundTripsThroughTheXidAtTheLongestNodeId) {
  const std::string node(kMaxMariaDbNodeIdLength, 'Z');
  const std::string gid =
      EncodeGid({node, 18446744073709551615ULL, 18446744073709551615ULL, 4294967295U});
  auto xid = MariaDbXidOfGid(gid);
  ASSERT_TRUE(xid.ok()) << xid.status().ToString();
  EXPECT_EQ(xid->gtrid.size(), kMariaDbMaxXidPart);  // exactly full
  EXPECT_EQ(xid->format_id, kTwopcFormatId);
  EXPECT_EQ(GidOfMariaDbXid(*xid), gid);
  EXPECT_EQ(MariaDbXidSql(Xid{kTwopcFormatId, "tpc1.n.1.2", "3"}),
            "X'747063312e6e2e312e32',X'33',1953522481");
}

TEST(MariaDbSqlTest, ANodeIdTooLongForMariaDbIsRefusedWithTheReason) {
  const std::string gid = EncodeGid({std::string(kMaxMariaDbNodeIdLength + 1, 'Z'),
                                     18446744073709551615ULL, 18446744073709551615ULL, 1});
  auto xid = MariaDbXidOfGid(gid);
  ASSERT_FALSE(xid.ok());
  EXPECT_NE(xid.status().message().find("64"), std::string::npos) << xid.status().ToString();
}

TEST(MariaDbSqlTest, ForeignXidsGetAFormThatRoundTrips) {
  Xid foreign{131077, std::string("\x00\xff.g", 4), "b"};
  std::string gid = GidOfMariaDbXid(foreign);
  EXPECT_EQ(gid, "xa:131077:00ff2e67:62");
  auto back = ForeignMariaDbXid(gid);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, foreign);
  // A twopc-looking xid whose bytes do not decode stays foreign.
  EXPECT_EQ(GidOfMariaDbXid(Xid{kTwopcFormatId, "tpc1.n.01.2", "3"}).rfind("xa:", 0), 0u);
  EXPECT_FALSE(ForeignMariaDbXid("xa:1:zz:00").ok());
  EXPECT_FALSE(ForeignMariaDbXid("tpc1.n.1.2.3").ok());
}

TEST(MariaDbConnInfoTest, TakesTheLibpqStyleAndNamesWhatItRefuses) {
  auto info = ParseMariaDbConnInfo("host=db port=3307 user=u password='p w' dbname=billing");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->host, "db");
  EXPECT_EQ(info->port, 3307u);
  EXPECT_EQ(info->password, "p w");
  EXPECT_EQ(info->dbname, "billing");
  auto socket = ParseMariaDbConnInfo("host=/run/mysqld/mysqld.sock dbname=x");
  ASSERT_TRUE(socket.ok());
  EXPECT_EQ(socket->socket, "/run/mysqld/mysqld.sock");
  auto bad = ParseMariaDbConnInfo("host=db sslmode=require password=hunter2");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sslmode"), std::string::npos);
  EXPECT_EQ(bad.status().message().find("hunter2"), std::string::npos);
  // A malformed password is never quoted back.
  auto split = ParseMariaDbConnInfo("host=db password=hunter2 secretword");
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.status().message().find("secretword"), std::string::npos) << split.status().ToString();
  auto port = ParseMariaDbConnInfo("port=abc password=hunter2");
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().message().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace twopc::internal
