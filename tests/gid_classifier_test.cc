// ClassifyGid: every format docs/gid-format.md says it recognises, written
// the way its writer writes it, and what must not pass for one of them.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "twopc/gid.h"

namespace twopc {
namespace {

ClassifiedGid Classify(std::string_view gid) { return ClassifyGid(gid, "node-a"); }

// --- twopc's own versions -------------------------------------------------

TEST(GidClassifierTest, Tpc1OfThisNodeDecodesToPartsAndXid) {
  ClassifiedGid c = Classify("tpc1.node-a.3.17.2");
  EXPECT_EQ(c.kind, GidKind::kThisNode);
  ASSERT_TRUE(c.parts.has_value());
  EXPECT_EQ(*c.parts, (GidParts{"node-a", 3, 17, 2}));
  ASSERT_TRUE(c.xid.has_value());
  EXPECT_EQ(*c.xid, (Xid{kTwopcFormatId, "tpc1.node-a.3.17", "2"}));
  EXPECT_EQ(c.manager, "twopc");
}

TEST(GidClassifierTest, Tpc1OfAnotherNodeIsOtherNode) {
  ClassifiedGid c = Classify("tpc1.node-b.3.17.2");
  EXPECT_EQ(c.kind, GidKind::kOtherNode);
  EXPECT_EQ(c.parts->node_id, "node-b");
  // Node ids compare exactly: no case folding, no prefix match.
  EXPECT_EQ(Classify("tpc1.Node-a.3.17.2").kind, GidKind::kOtherNode);
  EXPECT_EQ(Classify("tpc1.node-a1.3.17.2").kind, GidKind::kOtherNode);
  EXPECT_EQ(ClassifyGid("tpc1.node-a.3.17.2", "node").kind, GidKind::kOtherNode);
}

TEST(GidClassifierTest, MalformedTpc1IsNobodysAndNeverThisNode) {
  for (std::string_view gid :
       {"tpc1.node-a.03.17.1", "tpc1.node-a.3.17.0", "tpc1.node-a.3.17", "tpc1.node-a.3.17.1.1",
        "tpc1.node_a.3.17.1", "tpc1.node-a.18446744073709551616.1.1", "tpc1.",
        "tpc1.node-a.3.17.1 ", "tpc1.node-a.3.17.1\n"}) {
    ClassifiedGid c = Classify(gid);
    EXPECT_EQ(c.kind, GidKind::kUnknown) << gid;
    EXPECT_FALSE(c.parts.has_value()) << gid;
    EXPECT_FALSE(c.xid.has_value()) << gid;
  }
}

TEST(GidClassifierTest, Tpc2OfThisNodeDecodesToPartsWithDeciderAndXid) {
  ClassifiedGid c = Classify("tpc2.node-a.3.17.2.orders_db");
  EXPECT_EQ(c.kind, GidKind::kThisNode);
  ASSERT_TRUE(c.parts.has_value());
  EXPECT_EQ(*c.parts, (GidParts{"node-a", 3, 17, 2, "orders_db"}));
  ASSERT_TRUE(c.xid.has_value());
  EXPECT_EQ(*c.xid, (Xid{kTwopcV2FormatId, "tpc2.node-a.3.17", "2.orders_db"}));
  EXPECT_EQ(c.manager, "twopc");
}

TEST(GidClassifierTest, Tpc2OfAnotherNodeIsOtherNode) {
  ClassifiedGid c = Classify("tpc2.node-b.3.17.2.orders");
  EXPECT_EQ(c.kind, GidKind::kOtherNode);
  ASSERT_TRUE(c.parts.has_value());
  EXPECT_EQ(c.parts->node_id, "node-b");
  EXPECT_EQ(c.parts->decider, "orders");
  EXPECT_EQ(c.xid->format_id, kTwopcV2FormatId);
  EXPECT_EQ(c.manager, "twopc");
  // The decider says where the decision is, not whose the branch is: a gid
  // naming a decider called like this node is still another node's.
  EXPECT_EQ(Classify("tpc2.node-b.3.17.2.node-a").kind, GidKind::kOtherNode);
}

TEST(GidClassifierTest, MalformedTpc2IsNobodysAndNeverThisNode) {
  const std::string long_decider(kMaxDeciderLength + 1, 'd');
  for (const std::string& gid : {
           std::string("tpc2.node-a.3.17.2"),            // no decider (a tpc1 gid relabelled)
           std::string("tpc2.node-a.3.17.2."),           // empty decider
           std::string("tpc2.node-a.3.17.2.orders.db"),  // '.' in the decider
           std::string("tpc2.node-a.3.17.2.a b"),        // space
           std::string("tpc2.node-a.3.17.2.a'b"),        // quote
           std::string("tpc2.node-a.3.17.2.ab\n"),       // newline
           std::string("tpc2.node-a.3.17.2.") + long_decider,
           std::string("tpc2.node-a.3.17.0.d"),   // branch 0
           std::string("tpc2.node-a.03.17.1.d"),  // leading zero
           std::string("tpc2.node_a.3.17.1.d"),   // '_' outside the decider
           std::string("tpc2."),
       }) {
    ClassifiedGid c = Classify(gid);
    EXPECT_EQ(c.kind, GidKind::kUnknown) << gid;
    EXPECT_FALSE(c.parts.has_value()) << gid;
    EXPECT_FALSE(c.xid.has_value()) << gid;
  }
}

TEST(GidClassifierTest, LaterTwopcVersionsAreOtherVersionNotForeign) {
  for (std::string_view gid : {"tpc3.node-a.3.17.2.d", "tpc3.x", "tpc10.anything", "tpc0.x",
                               "tpc12345.x.y", "tpc21.node-a.3.17.2.d"}) {
    ClassifiedGid c = Classify(gid);
    EXPECT_EQ(c.kind, GidKind::kOtherVersion) << gid;
    EXPECT_EQ(c.manager, "twopc");
    EXPECT_FALSE(c.parts.has_value());
  }
  // Not a version prefix.
  EXPECT_EQ(Classify("tpc.node-a.3.17.2").kind, GidKind::kUnknown);
  EXPECT_EQ(Classify("tpc2").kind, GidKind::kUnknown);
  EXPECT_EQ(Classify("tpc3").kind, GidKind::kUnknown);
  EXPECT_EQ(Classify("tpcx.1").kind, GidKind::kUnknown);
  EXPECT_EQ(Classify("TPC1.node-a.3.17.2").kind, GidKind::kUnknown);
}

// --- pgjdbc (PGXAConnection) and the Java managers behind it ---------------

TEST(GidClassifierTest, PgjdbcGidDecodesBase64Parts) {
  ClassifiedGid c = Classify("4871251_dHgtMQ==_YnJhbmNoLTE=");
  EXPECT_EQ(c.kind, GidKind::kJavaXa);
  ASSERT_TRUE(c.xid.has_value());
  EXPECT_EQ(*c.xid, (Xid{4871251, "tx-1", "branch-1"}));
  EXPECT_EQ(c.manager, "");  // a format id nobody is known to use
}

TEST(GidClassifierTest, PgjdbcAcceptsNegativeFormatIdAndEmptyBqual) {
  // Java's int is signed, and an XA branch qualifier may be empty:
  // Base64 of nothing is nothing.
  ClassifiedGid c = Classify("-1_dHgtMQ==_");
  EXPECT_EQ(c.kind, GidKind::kJavaXa);
  EXPECT_EQ(*c.xid, (Xid{-1, "tx-1", ""}));
  EXPECT_EQ(Classify("-2147483648_dHgtMQ==_YQ==").xid->format_id, INT32_MIN);
  EXPECT_EQ(Classify("2147483647_dHgtMQ==_YQ==").xid->format_id, INT32_MAX);
}

TEST(GidClassifierTest, NarayanaGidsAreJavaXaNamedByFormatId) {
  // ArjunaJTA's XATxConverter.FORMAT_ID = 131077; the gtrid is a Uid.
  ClassifiedGid c = Classify(
      "131077_AAAAAAAAAAAAAAD//38AAAEAAAAAXzwbigAAAAMx_AAAAAAAAAAAAAAD//38AAAEAAAAAXzwbigAAAAMx");
  EXPECT_EQ(c.kind, GidKind::kJavaXa);
  EXPECT_EQ(c.manager, "Narayana");
  EXPECT_EQ(c.xid->format_id, 131077);
  EXPECT_EQ(c.xid->gtrid.size(), 30u);
  EXPECT_EQ(c.xid->gtrid.substr(0, 3), std::string("\0\0\0", 3));
  for (int32_t jts : {131072, 131073, 131074, 131080, 131081}) {
    EXPECT_EQ(Classify(std::to_string(jts) + "_dHgtMQ==_YQ==").manager, "Narayana") << jts;
  }
}

TEST(GidClassifierTest, AtomikosAndBitronixNamedByFormatId) {
  EXPECT_EQ(Classify("1096044365_dHgtMQ==_YQ==").manager, "Atomikos");  // "ATOM"
  EXPECT_EQ(Classify("1114926712_dHgtMQ==_YQ==").manager, "Bitronix");  // "Btnx"
}

TEST(GidClassifierTest, PgjdbcXidOfMaximalSizeIsAcceptedAndOneByteMoreIsNot) {
  const std::string b64_64 = std::string(84, 'A') + "AA==";  // 64 zero bytes
  const std::string b64_65 = std::string(84, 'A') + "AAA=";  // 65 zero bytes
  ClassifiedGid c = Classify("1_" + b64_64 + "_" + b64_64);
  EXPECT_EQ(c.kind, GidKind::kJavaXa);
  EXPECT_EQ(c.xid->gtrid.size(), 64u);
  EXPECT_EQ(c.xid->bqual.size(), 64u);
  EXPECT_EQ(Classify("1_" + b64_65 + "_YQ==").kind, GidKind::kUnknown);
  EXPECT_EQ(Classify("1_YQ==_" + b64_65).kind, GidKind::kUnknown);
}

TEST(GidClassifierTest, NotPgjdbc) {
  for (std::string_view gid : {
           "my_own_gid",                // words, not base64 of the right length
           "1_dHgtMQ==",                // two fields
           "1_dHgtMQ==_YQ==_YQ==",      // four fields
           "_dHgtMQ==_YQ==",            // no format id
           "-_dHgtMQ==_YQ==",           // sign only
           "+1_dHgtMQ==_YQ==",          // Java never prints '+'
           "1 _dHgtMQ==_YQ==",          // space
           "2147483648_dHgtMQ==_YQ==",  // beyond int32
           "1__YQ==",                   // empty gtrid (XA: at least one byte)
           "1_dHgtMQ=_YQ==",            // length not a multiple of 4
           "1_dH=tMQ==_YQ==",           // '=' inside
           "1_dHgtMQ-=_YQ==",           // URL-safe alphabet is not pgjdbc's
           "1_dHgt\nMQ==_YQ==",         // line break
       }) {
    EXPECT_NE(Classify(gid).kind, GidKind::kJavaXa) << gid;
  }
}

// --- LIXA --------------------------------------------------------------------

TEST(GidClassifierTest, LixaGidDecodesHexParts) {
  // lixa_xid_serialize: "%ld.<%2.2x per byte>.<%2.2x per byte>", format id
  // 0x4c495841 ("LIXA"), a 16-byte uuid for gtrid and bqual.
  ClassifiedGid c =
      Classify("1279875137.0a1b2c3d4e5f60718293a4b5c6d7e8f9.00112233445566778899aabbccddeeff");
  EXPECT_EQ(c.kind, GidKind::kLixa);
  EXPECT_EQ(c.manager, "LIXA");
  ASSERT_TRUE(c.xid.has_value());
  EXPECT_EQ(c.xid->format_id, 0x4c495841);
  EXPECT_EQ(c.xid->gtrid, std::string("\x0a\x1b\x2c\x3d\x4e\x5f\x60\x71\x82\x93\xa4\xb5\xc6\xd7"
                                      "\xe8\xf9",
                                      16));
  EXPECT_EQ(c.xid->bqual.size(), 16u);
  EXPECT_EQ(c.xid->bqual[15], '\xff');
}

TEST(GidClassifierTest, LixaAcceptsNegativeFormatIdAndEmptyBqual) {
  EXPECT_EQ(*Classify("-5.74782d31.").xid, (Xid{-5, "tx-1", ""}));
  EXPECT_EQ(Classify("-5.74782d31.").kind, GidKind::kLixa);
}

TEST(GidClassifierTest, NotLixa) {
  for (std::string_view gid : {
           "1279875137.0A1B.00",   // upper case: LIXA writes lower case only
           "1279875137.0a1.00",    // odd number of digits
           "1279875137..00",       // empty gtrid
           "1279875137.0a1b",      // two fields
           "1279875137.0a.1b.2c",  // four fields
           "x1279875137.0a1b.00",  // format id not a number
           "1279875137.0g.00",     // not hex
           "12798751370.0a.00",    // beyond int32
       }) {
    EXPECT_NE(Classify(gid).kind, GidKind::kLixa) << gid;
  }
  const std::string hex_65 = std::string(130, 'a');
  EXPECT_EQ(Classify("1." + hex_65 + ".00").kind, GidKind::kUnknown);
}

// --- Citus ---------------------------------------------------------------------

TEST(GidClassifierTest, CitusGidDecodesItsFields) {
  // Assign2PCIdentifier: citus_<group>_<pid>_<distributed txn number>_<connection>.
  ClassifiedGid c = Classify("citus_0_123_4_5");
  EXPECT_EQ(c.kind, GidKind::kCitus);
  EXPECT_EQ(c.manager, "Citus");
  ASSERT_TRUE(c.citus.has_value());
  EXPECT_EQ(*c.citus, (CitusGid{0, 123, 4, 5}));
  EXPECT_FALSE(c.xid.has_value());
  // Citus' longest name: every number at its type's maximum (59 bytes).
  ClassifiedGid max = Classify("citus_4294967295_4294967295_18446744073709551615_4294967295");
  EXPECT_EQ(max.kind, GidKind::kCitus);
  EXPECT_EQ(max.citus->transaction_number, UINT64_MAX);
}

TEST(GidClassifierTest, NotCitus) {
  for (std::string_view gid : {
           "citus_",                            // nothing after the prefix
           "citus_0_123_4",                     // three numbers
           "citus_0_123_4_5_6",                 // five numbers
           "citus_0_123_-4_5",                  // Citus prints every number unsigned
           "citus_0_123_4_5x",                  // trailing garbage
           "citus_4294967296_1_1_1",            // group beyond 32 bits
           "citus_1_1_18446744073709551616_1",  // txn beyond 64 bits
           "citus_0__4_5",                      // empty field
           "Citus_0_123_4_5",                   // case matters
       }) {
    EXPECT_EQ(Classify(gid).kind, GidKind::kUnknown) << gid;
  }
}

// --- hostile input ----------------------------------------------------------

TEST(GidClassifierTest, HostileInputIsUnknown) {
  for (const std::string& gid : {
           std::string(),
           std::string("\0", 1),
           std::string("tpc1.node-a.3.17.2\0", 19),
           std::string("tpc1.node-a.3.17.2\0evil", 23),
           std::string("citus_0_123_4_5\0", 16),
           std::string("'; DROP TABLE x; --"),
           std::string("\x1b[31mred\x1b[0m"),
           std::string("\xff\xfe\xfd"),
           std::string("_"),
           std::string("__"),
           std::string("."),
           std::string(".."),
           std::string(100000, '_'),
           std::string(100000, '.'),
           std::string(100000, 'A'),
       }) {
    ClassifiedGid c = Classify(gid);
    EXPECT_EQ(c.kind, GidKind::kUnknown) << gid.size();
  }
}

TEST(GidClassifierTest, AnythingLongerThanPostgresAllowsIsUnknown) {
  // A gid PostgreSQL cannot hold is nobody's, however well-formed it looks.
  std::string citus = "citus_0_1_2_" + std::string(kMaxGidLength, '0');
  EXPECT_EQ(Classify(citus).kind, GidKind::kUnknown);
  EXPECT_EQ(Classify("tpc3." + std::string(kMaxGidLength, 'a')).kind, GidKind::kUnknown);
  EXPECT_EQ(Classify("tpc3." + std::string(kMaxGidLength - 5, 'a')).kind, GidKind::kOtherVersion);
  // The longest tpc2 gid is well within the bound; one past the bound is not.
  std::string longest = "tpc2." + std::string(kMaxNodeIdLength, 'Z') +
                        ".18446744073709551615.18446744073709551615.4294967295." +
                        std::string(kMaxDeciderLength, 'd');
  ASSERT_EQ(longest.size(), 154u);
  EXPECT_EQ(Classify(longest).kind, GidKind::kOtherNode);
  EXPECT_EQ(Classify("tpc2.n.1.1.1." + std::string(kMaxGidLength - 12, 'd')).kind,
            GidKind::kUnknown);
}

TEST(GidClassifierTest, KindNamesAreStable) {
  // The CLI's --json output carries them.
  EXPECT_STREQ(GidKindName(GidKind::kThisNode), "this-node");
  EXPECT_STREQ(GidKindName(GidKind::kOtherNode), "other-node");
  EXPECT_STREQ(GidKindName(GidKind::kOtherVersion), "twopc-other-version");
  EXPECT_STREQ(GidKindName(GidKind::kJavaXa), "java-xa");
  EXPECT_STREQ(GidKindName(GidKind::kLixa), "lixa");
  EXPECT_STREQ(GidKindName(GidKind::kCitus), "citus");
  EXPECT_STREQ(GidKindName(GidKind::kUnknown), "unknown");
}

// DecodeGid's rejection message names the manager through the same classifier.
TEST(GidClassifierTest, DecodeGidHintAgreesWithClassifier) {
  auto message = [](std::string_view gid) { return DecodeGid(gid).status().message(); };
  EXPECT_NE(message("131077_dHgtMQ==_YQ==").find("Narayana"), std::string::npos);
  EXPECT_NE(message("1279875137.74782d31.00").find("LIXA"), std::string::npos);
  EXPECT_NE(message("citus_0_123_4_5").find("Citus"), std::string::npos);
  // "citus_" alone is not a Citus gid, and neither hint fires on it.
  EXPECT_EQ(message("citus_x"), "not a twopc gid: it does not start with 'tpc1.' or 'tpc2.'");
  EXPECT_NE(message("tpc3.a.1.1.1.d").find("version 'tpc3' is not supported"), std::string::npos);
  EXPECT_TRUE(DecodeGid("tpc2.a.1.1.1.d").ok());
}

}  // namespace
}  // namespace twopc
