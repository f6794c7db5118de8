#include "twopc/gid.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace twopc {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr uint32_t kMaxU32 = std::numeric_limits<uint32_t>::max();
const std::string kLongestNodeId(kMaxNodeIdLength, 'Z');

// DecodeGid must fail with InvalidArgument, and the message must say `why`.
void ExpectRejected(std::string_view gid, const std::string& why) {
  Result<GidParts> parts = DecodeGid(gid);
  ASSERT_FALSE(parts.ok()) << "accepted: " << std::string(gid);
  EXPECT_TRUE(parts.status().IsInvalidArgument()) << parts.status().ToString();
  EXPECT_NE(parts.status().message().find(why), std::string::npos)
      << "message '" << parts.status().message() << "' does not mention '" << why << "'";
}

TEST(GidTest, EncodeMatchesDocumentedFormat) {
  EXPECT_EQ(EncodeGid({"node-a", 3, 17, 2}), "tpc1.node-a.3.17.2");
  EXPECT_EQ(EncodeGtrid("node-a", 3, 17), "tpc1.node-a.3.17");
  EXPECT_EQ(EncodeGid({"n", 0, 0, 1}), "tpc1.n.0.0.1");
}

TEST(GidTest, RoundTripsOverManyValues) {
  const std::vector<std::string> node_ids = {"a", "node-a", "Node-42", "-", "0", kLongestNodeId};
  const std::vector<uint64_t> numbers = {0, 1, 9, 10, 99, 100, 4294967295ULL, 4294967296ULL,
                                         1234567890123456789ULL, kMaxU64 - 1, kMaxU64};
  const std::vector<uint32_t> branches = {1, 2, 9, 10, 65535, 65536, kMaxU32 - 1, kMaxU32};
  int checked = 0;
  for (const std::string& node_id : node_ids) {
    for (uint64_t incarnation : numbers) {
      for (uint64_t txn : numbers) {
        for (uint32_t branch : branches) {
          GidParts parts{node_id, incarnation, txn, branch};
          std::string gid = EncodeGid(parts);
          Result<GidParts> decoded = DecodeGid(gid);
          ASSERT_TRUE(decoded.ok()) << gid << ": " << decoded.status().ToString();
          ASSERT_EQ(*decoded, parts) << gid;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 6 * 11 * 11 * 8);
}

TEST(GidTest, LargestGidFitsPostgresLimit) {
  std::string gid = EncodeGid({kLongestNodeId, kMaxU64, kMaxU64, kMaxU32});
  EXPECT_EQ(gid.size(), 5u + 32 + 1 + 20 + 1 + 20 + 1 + 10);
  EXPECT_LE(gid.size(), kMaxGidLength);
  EXPECT_TRUE(DecodeGid(gid).ok());
}

TEST(GidTest, RejectsEmptyGid) { ExpectRejected("", "empty"); }

TEST(GidTest, RejectsGidLongerThanTheLimit) {
  // No v1 gid is that long; the length is checked first and named.
  std::string gid = "tpc1.a.1.1." + std::string(kMaxGidLength + 1 - 11, '1');
  ASSERT_EQ(gid.size(), kMaxGidLength + 1);
  ExpectRejected(gid, std::to_string(kMaxGidLength + 1) + " bytes");
}

TEST(GidTest, RejectsSqlInjection) {
  ExpectRejected("'; DROP TABLE x; --", "does not start with 'tpc1.'");
  ExpectRejected("tpc1.a.1.1.1'; DROP TABLE x; --", "''' at offset 12");
}

TEST(GidTest, RejectsUnsafeCharacters) {
  ExpectRejected("tpc1.a\".1.1.1", "'\"' at offset 6");
  ExpectRejected("tpc1.a\\.1.1.1", "'\\' at offset 6");
  ExpectRejected("tpc1.a;.1.1.1", "';' at offset 6");
  ExpectRejected("tpc1.a b.1.1.1", "byte 0x20 at offset 6");
  ExpectRejected("tpc1.a.1.1.1\n", "byte 0x0A at offset 12");
  ExpectRejected("tpc1.a_b.1.1.1", "'_' at offset 6");
}

TEST(GidTest, RejectsNulInsideString) {
  std::string gid("tpc1.a.1.1.1\0tpc1.b.1.1.1", 25);
  ASSERT_EQ(gid.size(), 25u);
  ExpectRejected(gid, "byte 0x00 at offset 12");
}

TEST(GidTest, RejectsNonAscii) {
  ExpectRejected("tpc1.n\xC3\xA9ud.1.1.1", "byte 0xC3 at offset 6");  // "néud" in UTF-8
  ExpectRejected("tpc1.a.1.1.1\xFF", "byte 0xFF");
}

TEST(GidTest, RejectsLeadingZeros) {
  ExpectRejected("tpc1.a.01.1.1", "incarnation '01' has a leading zero");
  ExpectRejected("tpc1.a.1.00.1", "transaction number '00' has a leading zero");
  ExpectRejected("tpc1.a.1.1.01", "branch number '01' has a leading zero");
}

TEST(GidTest, RejectsOverflow) {
  ExpectRejected("tpc1.a.18446744073709551616.1.1", "does not fit in 64 bits");
  ExpectRejected("tpc1.a.1.99999999999999999999.1", "does not fit in 64 bits");
  ExpectRejected("tpc1.a.1.1.4294967296", "does not fit in 32 bits");
}

TEST(GidTest, RejectsNonNumericNumbers) {
  ExpectRejected("tpc1.a.x.1.1", "incarnation 'x' is not a decimal number");
  ExpectRejected("tpc1.a.1.-1.1", "transaction number '-1' is not a decimal number");
}

TEST(GidTest, RejectsOtherVersionsAndForeignPrefixes) {
  ExpectRejected("tpc2.a.1.1.1", "version 'tpc2' is not supported");
  ExpectRejected("tpc10.a.1.1.1", "version 'tpc10' is not supported");
  ExpectRejected("TPC1.a.1.1.1", "does not start with 'tpc1.'");
  ExpectRejected("tpc1", "does not start with 'tpc1.'");
  ExpectRejected("tpc.a.1.1.1", "does not start with 'tpc1.'");
}

TEST(GidTest, RejectsWrongFieldCount) {
  ExpectRejected("tpc1.a.1.1", "4 dot-separated fields; expected 5");
  ExpectRejected("tpc1.a.1.1.1.1", "6 dot-separated fields; expected 5");
  ExpectRejected("tpc1.", "2 dot-separated fields");
}

TEST(GidTest, RejectsEmptyFields) {
  ExpectRejected("tpc1..1.1.1", "node id is empty");
  ExpectRejected("tpc1.a..1.1", "incarnation is empty");
  ExpectRejected("tpc1.a.1..1", "transaction number is empty");
  ExpectRejected("tpc1.a.1.1.", "branch number is empty");
}

TEST(GidTest, RejectsBranchZero) { ExpectRejected("tpc1.a.1.1.0", "branches are numbered from 1"); }

TEST(GidTest, RejectsTooLongNodeId) {
  ExpectRejected("tpc1." + std::string(33, 'a') + ".1.1.1", "node id is 33 bytes long");
}

TEST(GidTest, RejectsJavaXaGidAndNamesIt) {
  ExpectRejected("4871251_dHgx_YnJhbmNo", "Java XA");
  ExpectRejected("-1_dHgx_YnJhbmNo", "Java XA");
}

TEST(GidTest, RejectsLixaGidAndNamesIt) {
  ExpectRejected("1279875137.0a1b2c3d4e5f60718293a4b5c6d7e8f9.00112233445566778899aabbccddeeff",
                 "LIXA");
}

TEST(GidTest, ForeignGidHintsDoNotFireOnArbitraryText) {
  Result<GidParts> parts = DecodeGid("my_own_gid");
  ASSERT_FALSE(parts.ok());
  EXPECT_EQ(parts.status().message(), "not a twopc gid: it does not start with 'tpc1.'");
}

TEST(GidTest, RejectsCitusGidAndNamesIt) { ExpectRejected("citus_0_123_4_5", "Citus"); }

TEST(GidTest, RejectionMessageNeverEchoesControlCharacters) {
  Result<GidParts> parts = DecodeGid("tpc1.a.1.1.1\n2024-01-01 FATAL forged");
  ASSERT_FALSE(parts.ok());
  EXPECT_EQ(parts.status().message().find('\n'), std::string::npos);
  EXPECT_EQ(parts.status().message().find("forged"), std::string::npos);
}

TEST(GidTest, ToXidSplitsGtridAndBranch) {
  Xid xid = ToXid({"node-a", 3, 17, 2});
  EXPECT_EQ(xid.format_id, kTwopcFormatId);
  EXPECT_EQ(xid.format_id, 0x74706331);
  EXPECT_EQ(xid.gtrid, "tpc1.node-a.3.17");
  EXPECT_EQ(xid.bqual, "2");
  Xid max = ToXid({kLongestNodeId, kMaxU64, kMaxU64, kMaxU32});
  EXPECT_EQ(max.gtrid, "tpc1." + kLongestNodeId + ".18446744073709551615.18446744073709551615");
  EXPECT_EQ(max.bqual, "4294967295");
}

TEST(GidTest, FormatIdSpellsTpc1) {
  uint32_t id = static_cast<uint32_t>(kTwopcFormatId);
  std::string spelled = {static_cast<char>(id >> 24), static_cast<char>(id >> 16),
                         static_cast<char>(id >> 8), static_cast<char>(id)};
  EXPECT_EQ(spelled, "tpc1");
}

TEST(GidTest, GtridOfGidDropsOnlyTheBranch) {
  Result<std::string> gtrid = GtridOfGid("tpc1.node-a.3.17.2");
  ASSERT_TRUE(gtrid.ok()) << gtrid.status().ToString();
  EXPECT_EQ(*gtrid, "tpc1.node-a.3.17");
  // Every branch of one transaction maps to the same gtrid.
  EXPECT_EQ(*GtridOfGid(EncodeGid({"n", 5, 6, 1})), *GtridOfGid(EncodeGid({"n", 5, 6, 9})));
  EXPECT_EQ(*GtridOfGid(EncodeGid({"n", 5, 6, 1})), EncodeGtrid("n", 5, 6));
}

TEST(GidTest, GtridOfGidRejectsWhatDecodeRejects) {
  EXPECT_TRUE(GtridOfGid("tpc1.node-a.3.17").status().IsInvalidArgument());
  EXPECT_TRUE(GtridOfGid("tpc1.node-a.3.17.0").status().IsInvalidArgument());
  EXPECT_TRUE(GtridOfGid("citus_0_123_4_5").status().IsInvalidArgument());
}

TEST(ValidateNodeIdTest, AcceptsAllowedCharactersAndLengths) {
  EXPECT_TRUE(ValidateNodeId("a").ok());
  EXPECT_TRUE(ValidateNodeId("-").ok());
  EXPECT_TRUE(ValidateNodeId("ABC-xyz-0189").ok());
  EXPECT_TRUE(ValidateNodeId(kLongestNodeId).ok());
}

TEST(ValidateNodeIdTest, RejectsEmptyAndTooLong) {
  Status empty = ValidateNodeId("");
  EXPECT_TRUE(empty.IsInvalidArgument());
  EXPECT_NE(empty.message().find("empty"), std::string::npos);
  Status long_id = ValidateNodeId(std::string(kMaxNodeIdLength + 1, 'a'));
  EXPECT_TRUE(long_id.IsInvalidArgument());
  EXPECT_NE(long_id.message().find("33 bytes"), std::string::npos);
}

TEST(ValidateNodeIdTest, RejectsEveryCharacterOutsideTheSet) {
  int rejected = 0;
  for (int c = 0; c < 256; ++c) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-';
    std::string id = "ab" + std::string(1, static_cast<char>(c));
    Status s = ValidateNodeId(id);
    EXPECT_EQ(s.ok(), allowed) << "byte " << c;
    if (!s.ok()) {
      EXPECT_NE(s.message().find("[A-Za-z0-9-]"), std::string::npos) << s.message();
      ++rejected;
    }
  }
  EXPECT_EQ(rejected, 256 - 63);
}

TEST(ValidateNodeIdTest, RejectsDotBecauseItSeparatesGidFields) {
  EXPECT_FALSE(ValidateNodeId("node.a").ok());
}

}  // namespace
}  // namespace twopc
