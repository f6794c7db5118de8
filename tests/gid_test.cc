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
// Every character a participant name may hold, 63 of them.
const std::string kLongestDecider =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";

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
  ExpectRejected("'; DROP TABLE x; --", "does not start with 'tpc1.' or 'tpc2.'");
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
  ExpectRejected("tpc3.a.1.1.1.d",
                 "version 'tpc3' is not supported; this build reads 'tpc1' and 'tpc2'");
  ExpectRejected("tpc0.a.1.1.1", "version 'tpc0' is not supported");
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
  EXPECT_EQ(parts.status().message(), "not a twopc gid: it does not start with 'tpc1.' or 'tpc2.'");
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

// --- version 2: tpc2.<node_id>.<incarnation>.<txn>.<branch>.<decider> --------

TEST(GidV2Test, EncodeMatchesDocumentedFormat) {
  EXPECT_EQ(EncodeGid({"node-a", 3, 17, 2, "orders"}), "tpc2.node-a.3.17.2.orders");
  EXPECT_EQ(EncodeGid({"n", 0, 0, 1, "pg_main-1"}), "tpc2.n.0.0.1.pg_main-1");
  EXPECT_EQ(EncodeGtrid("node-a", 3, 17, 2), "tpc2.node-a.3.17");
  EXPECT_EQ(EncodeGtrid("node-a", 3, 17, 1), "tpc1.node-a.3.17");
}

TEST(GidV2Test, RoundTripsOverManyValues) {
  const std::vector<std::string> node_ids = {"a", "Node-42", kLongestNodeId};
  const std::vector<uint64_t> numbers = {0, 1, 10, 4294967296ULL, kMaxU64};
  const std::vector<uint32_t> branches = {1, 10, kMaxU32};
  const std::vector<std::string> deciders = {"d", "_", "-", "orders_db", "Pg-9", kLongestDecider};
  int checked = 0;
  for (const std::string& node_id : node_ids) {
    for (uint64_t number : numbers) {
      for (uint32_t branch : branches) {
        for (const std::string& decider : deciders) {
          GidParts parts{node_id, number, kMaxU64 - number, branch, decider};
          std::string gid = EncodeGid(parts);
          ASSERT_EQ(gid.substr(0, 5), "tpc2.");
          Result<GidParts> decoded = DecodeGid(gid);
          ASSERT_TRUE(decoded.ok()) << gid << ": " << decoded.status().ToString();
          ASSERT_EQ(*decoded, parts) << gid;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 3 * 5 * 3 * 6);
}

TEST(GidV2Test, LongestGidIs154BytesAndFitsPostgresLimit) {
  GidParts parts{kLongestNodeId, kMaxU64, kMaxU64, kMaxU32, kLongestDecider};
  std::string gid = EncodeGid(parts);
  EXPECT_EQ(gid.size(), 5u + 32 + 1 + 20 + 1 + 20 + 1 + 10 + 1 + 63);
  EXPECT_EQ(gid.size(), 154u);
  EXPECT_LE(gid.size(), kMaxGidLength);
  Result<GidParts> decoded = DecodeGid(gid);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, parts);
}

TEST(GidV2Test, GtridAndXidOfV2) {
  Result<std::string> gtrid = GtridOfGid("tpc2.node-a.3.17.2.orders");
  ASSERT_TRUE(gtrid.ok()) << gtrid.status().ToString();
  EXPECT_EQ(*gtrid, "tpc2.node-a.3.17");
  Xid xid = ToXid({"node-a", 3, 17, 2, "orders"});
  EXPECT_EQ(xid.format_id, kTwopcV2FormatId);
  EXPECT_EQ(xid.format_id, 0x74706332);
  EXPECT_EQ(xid.gtrid, "tpc2.node-a.3.17");
  EXPECT_EQ(xid.bqual, "2.orders");
  Xid max = ToXid({kLongestNodeId, kMaxU64, kMaxU64, kMaxU32, kLongestDecider});
  EXPECT_EQ(max.gtrid, "tpc2." + kLongestNodeId + ".18446744073709551615.18446744073709551615");
  EXPECT_EQ(max.bqual, "4294967295." + kLongestDecider);
  // Every branch of one transaction has the same gtrid, whatever its number.
  EXPECT_EQ(*GtridOfGid("tpc2.n.5.6.1.d"), *GtridOfGid("tpc2.n.5.6.9.d"));
}

TEST(GidV2Test, FormatIdSpellsTpc2) {
  uint32_t id = static_cast<uint32_t>(kTwopcV2FormatId);
  std::string spelled = {static_cast<char>(id >> 24), static_cast<char>(id >> 16),
                         static_cast<char>(id >> 8), static_cast<char>(id)};
  EXPECT_EQ(spelled, "tpc2");
}

TEST(GidV2Test, GtridOfFollowsTheVersionOfTheParts) {
  EXPECT_EQ(GtridOf({"node-a", 3, 17, 2}), "tpc1.node-a.3.17");
  EXPECT_EQ(GtridOf({"node-a", 3, 17, 2, "orders"}), "tpc2.node-a.3.17");
  // The same numbers in the two versions name two different transactions.
  EXPECT_NE(GtridOf({"n", 1, 1, 1}), GtridOf({"n", 1, 1, 1, "d"}));
  // GtridOf on decoded parts is what GtridOfGid says, in both versions.
  for (std::string_view gid : {"tpc1.n.5.6.7", "tpc2.n.5.6.7.d"}) {
    EXPECT_EQ(GtridOf(*DecodeGid(gid)), *GtridOfGid(gid)) << gid;
  }
}

TEST(GidV2Test, V1GidsAreUnchanged) {
  Result<GidParts> parts = DecodeGid("tpc1.node-a.3.17.2");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  EXPECT_TRUE(parts->decider.empty());
  EXPECT_EQ(EncodeGid(*parts), "tpc1.node-a.3.17.2");
  EXPECT_EQ(ToXid(*parts), (Xid{kTwopcFormatId, "tpc1.node-a.3.17", "2"}));
  // Version 1 did not allow '_' and still does not: its decoders are deployed.
  ExpectRejected("tpc1.a.1.1.1_", "'_' at offset 12; only [A-Za-z0-9.-] is allowed");
  // A version 1 gid with a sixth field is not a version 2 gid.
  ExpectRejected("tpc1.a.1.1.1.d", "6 dot-separated fields; expected 5");
}

TEST(GidV2Test, RejectsEmptyDecider) { ExpectRejected("tpc2.n.1.2.3.", "gid decider is empty"); }

TEST(GidV2Test, RejectsDeciderWithDot) {
  // The dot separates fields, so it can only be read as a seventh one.
  ExpectRejected("tpc2.n.1.2.3.orders.db", "7 dot-separated fields; expected 6");
  Status s = ValidateDecider("orders.db");
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("'.' at offset 6"), std::string::npos) << s.message();
}

TEST(GidV2Test, RejectsDeciderLongerThan63Bytes) {
  ExpectRejected("tpc2.n.1.2.3." + std::string(64, 'd'), "gid decider is 64 bytes long");
  EXPECT_TRUE(DecodeGid("tpc2.n.1.2.3." + std::string(63, 'd')).ok());
}

TEST(GidV2Test, RejectsUnsafeCharactersInDecider) {
  ExpectRejected("tpc2.n.1.2.3.a b", "byte 0x20 at offset 14");
  ExpectRejected("tpc2.n.1.2.3.a'b", "''' at offset 14");
  ExpectRejected("tpc2.n.1.2.3.a\"b", "'\"' at offset 14");
  ExpectRejected("tpc2.n.1.2.3.ab\n", "byte 0x0A at offset 15");
  ExpectRejected("tpc2.n.1.2.3.ab\n", "only [A-Za-z0-9._-] is allowed");
  ExpectRejected("tpc2.n.1.2.3.d\xC3\xA9", "byte 0xC3 at offset 14");
  Result<GidParts> parts = DecodeGid("tpc2.n.1.2.3.d\n2024-01-01 FATAL forged");
  ASSERT_FALSE(parts.ok());
  EXPECT_EQ(parts.status().message().find('\n'), std::string::npos);
  EXPECT_EQ(parts.status().message().find("forged"), std::string::npos);
}

TEST(GidV2Test, UnderscoreIsAllowedOnlyInTheDecider) {
  EXPECT_TRUE(DecodeGid("tpc2.n.1.2.3.orders_db").ok());
  ExpectRejected("tpc2.node_a.1.2.3.d", "gid node id contains '_' at offset 4");
  ExpectRejected("tpc2.n.1_.2.3.d", "incarnation '1_' is not a decimal number");
}

TEST(GidV2Test, RejectsMissingAndExtraFields) {
  ExpectRejected("tpc2.n.1.2.3", "5 dot-separated fields; expected 6");
  ExpectRejected("tpc2.n.1.2.3.d.e", "7 dot-separated fields; expected 6");
  ExpectRejected("tpc2.n.1.2.d", "5 dot-separated fields; expected 6");
  ExpectRejected("tpc2.", "2 dot-separated fields; expected 6");
}

TEST(GidV2Test, RejectsWhatVersion1Rejects) {
  ExpectRejected("tpc2.n.01.2.3.d", "incarnation '01' has a leading zero");
  ExpectRejected("tpc2.n.1.2.0.d", "branches are numbered from 1");
  ExpectRejected("tpc2.n.1.18446744073709551616.3.d", "does not fit in 64 bits");
  ExpectRejected("tpc2..1.2.3.d", "node id is empty");
  ExpectRejected("tpc2." + std::string(33, 'a') + ".1.2.3.d", "node id is 33 bytes long");
  ExpectRejected("tpc2.n.1.2.3." + std::string(kMaxGidLength, 'd'),
                 std::to_string(13 + kMaxGidLength) + " bytes");
  EXPECT_TRUE(GtridOfGid("tpc2.n.1.2.3").status().IsInvalidArgument());
}

TEST(ValidateDeciderTest, AcceptsParticipantNames) {
  EXPECT_TRUE(ValidateDecider("d").ok());
  EXPECT_TRUE(ValidateDecider("orders_db-2").ok());
  EXPECT_TRUE(ValidateDecider(kLongestDecider).ok());
  EXPECT_EQ(kLongestDecider.size(), kMaxDeciderLength);
}

TEST(ValidateDeciderTest, RejectsEmptyAndTooLongWithTheRule) {
  Status empty = ValidateDecider("");
  EXPECT_TRUE(empty.IsInvalidArgument());
  EXPECT_NE(empty.message().find("decider is empty"), std::string::npos) << empty.message();
  EXPECT_NE(empty.message().find("1-63 characters of [A-Za-z0-9_-]"), std::string::npos);
  Status long_name = ValidateDecider(std::string(kMaxDeciderLength + 1, 'a'));
  EXPECT_TRUE(long_name.IsInvalidArgument());
  EXPECT_NE(long_name.message().find("64 bytes long"), std::string::npos) << long_name.message();
}

TEST(ValidateDeciderTest, RejectsEveryCharacterOutsideTheSetWithoutEchoingIt) {
  int rejected = 0;
  for (int c = 0; c < 256; ++c) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_';
    Status s = ValidateDecider("ab" + std::string(1, static_cast<char>(c)));
    EXPECT_EQ(s.ok(), allowed) << "byte " << c;
    if (s.ok()) continue;
    ++rejected;
    // The name may come from a hostile gid: bytes outside printable ASCII
    // are named by value, never echoed.
    std::string named =
        c >= 0x21 && c <= 0x7e ? std::string("'") + static_cast<char>(c) + "'" : "byte 0x";
    EXPECT_NE(s.message().find(named), std::string::npos) << s.message();
    for (unsigned char m : s.message()) EXPECT_TRUE(m >= 0x20 && m < 0x7f) << s.message();
  }
  EXPECT_EQ(rejected, 256 - 64);
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
