// Fuzz target: the gid codec and the foreign-gid classifier (twopc/gid.h).
//
// The first byte picks what the rest is:
//   0: a gid as PostgreSQL might list it -- DecodeGid and ClassifyGid must
//      not crash, a decoded gid must re-encode to the same bytes, the two
//      must agree, and no rejection message may echo an unsafe byte;
//   1: gid parts, version 1 or 2 (with a decider) -- EncodeGid -> DecodeGid /
//      ClassifyGid round trips;
//   2: a foreign Xid and a Citus name -- written the way pgjdbc, LIXA and
//      Citus write them, ClassifyGid must read back the same values.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_input.h"
#include "twopc/gid.h"

namespace twopc::fuzz {
namespace {

bool IsSafeForMessages(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::string Base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (in.size() - i == 1) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string LowerHex(const std::string& in) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : in) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

void CheckClassified(const ClassifiedGid& c) {
  switch (c.kind) {
    case GidKind::kThisNode:
    case GidKind::kOtherNode:
      FUZZ_CHECK(c.parts && c.xid && !c.citus && c.manager == "twopc");
      // The format id follows the version: tpc2 iff the gid names a decider.
      FUZZ_CHECK(c.xid->format_id ==
                 (c.parts->decider.empty() ? kTwopcFormatId : kTwopcV2FormatId));
      FUZZ_CHECK(c.parts->decider.empty() || ValidateDecider(c.parts->decider).ok());
      break;
    case GidKind::kJavaXa:
    case GidKind::kLixa:
      FUZZ_CHECK(c.xid && !c.parts && !c.citus);
      FUZZ_CHECK(!c.xid->gtrid.empty() && c.xid->gtrid.size() <= 64 && c.xid->bqual.size() <= 64);
      break;
    case GidKind::kCitus:
      FUZZ_CHECK(c.citus && !c.xid && !c.parts);
      break;
    case GidKind::kOtherVersion:
    case GidKind::kUnknown:
      FUZZ_CHECK(!c.parts && !c.xid && !c.citus);
      break;
  }
}

void DecodeArbitrary(std::string_view gid) {
  Result<GidParts> parts = DecodeGid(gid);
  ClassifiedGid c = ClassifyGid(gid, "node-a");
  CheckClassified(c);
  if (!parts.ok()) {
    FUZZ_CHECK(parts.status().IsInvalidArgument());
    FUZZ_CHECK(IsSafeForMessages(parts.status().message()));
    FUZZ_CHECK(c.kind != GidKind::kThisNode && c.kind != GidKind::kOtherNode);
    FUZZ_CHECK(!GtridOfGid(gid).ok());
    return;
  }
  // One spelling per branch: what decodes re-encodes to the same bytes.
  FUZZ_CHECK(EncodeGid(*parts) == gid);
  FUZZ_CHECK(gid.size() <= kMaxGidLength);
  FUZZ_CHECK(ValidateNodeId(parts->node_id).ok());
  FUZZ_CHECK(parts->branch >= 1);
  FUZZ_CHECK(parts->decider.empty() || ValidateDecider(parts->decider).ok());
  FUZZ_CHECK(gid.substr(0, 5) == (parts->decider.empty() ? "tpc1." : "tpc2."));
  // The gtrid is the gid up to the branch number, in both versions, and the
  // Xid's gtrid and bqual put back together are the gid.
  Result<std::string> gtrid = GtridOfGid(gid);
  FUZZ_CHECK(gtrid.ok() && *gtrid == GtridOf(*parts));
  FUZZ_CHECK(gid.substr(0, gtrid->size() + 1) == *gtrid + ".");
  Xid xid = ToXid(*parts);
  FUZZ_CHECK(xid.gtrid == *gtrid && xid.gtrid + "." + xid.bqual == gid);
  FUZZ_CHECK(c.parts && *c.parts == *parts);
  FUZZ_CHECK(ClassifyGid(gid, parts->node_id).kind == GidKind::kThisNode);
}

void RoundTripParts(FuzzInput& in) {
  static constexpr std::string_view kNodeIdChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-";
  GidParts parts;
  size_t length = 1 + in.Byte() % kMaxNodeIdLength;
  for (size_t i = 0; i < length; ++i)
    parts.node_id += kNodeIdChars[in.Byte() % kNodeIdChars.size()];
  parts.incarnation = in.Integer<uint64_t>();
  parts.txn = in.Integer<uint64_t>();
  parts.branch = in.Integer<uint32_t>();
  if (parts.branch == 0) parts.branch = 1;
  // Read last, so that an input that ends before it (every seed written
  // before version 2) still means a version 1 gid: length 0 is no decider.
  static constexpr std::string_view kDeciderChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  size_t decider_length = in.Byte() % (kMaxDeciderLength + 1);
  for (size_t i = 0; i < decider_length; ++i)
    parts.decider += kDeciderChars[in.Byte() % kDeciderChars.size()];
  std::string gid = EncodeGid(parts);
  FUZZ_CHECK(gid.size() <= kMaxGidLength);
  Result<GidParts> decoded = DecodeGid(gid);
  FUZZ_CHECK(decoded.ok() && *decoded == parts);
  ClassifiedGid c = ClassifyGid(gid, parts.node_id);
  FUZZ_CHECK(c.kind == GidKind::kThisNode && c.parts && *c.parts == parts);
  FUZZ_CHECK(c.xid && *c.xid == ToXid(parts));
  FUZZ_CHECK(*GtridOfGid(gid) == GtridOf(parts));
}

void RoundTripForeign(FuzzInput& in) {
  Xid xid;
  xid.format_id = in.Integer<int32_t>();
  xid.gtrid = in.Bytes(64);
  if (xid.gtrid.empty()) xid.gtrid = "g";
  xid.bqual = in.Bytes(64);

  std::string pgjdbc =
      std::to_string(xid.format_id) + "_" + Base64(xid.gtrid) + "_" + Base64(xid.bqual);
  ClassifiedGid java = ClassifyGid(pgjdbc, "node-a");
  FUZZ_CHECK(java.kind == GidKind::kJavaXa && java.xid && *java.xid == xid);
  FUZZ_CHECK(!DecodeGid(pgjdbc).ok());

  std::string lixa =
      std::to_string(xid.format_id) + "." + LowerHex(xid.gtrid) + "." + LowerHex(xid.bqual);
  ClassifiedGid l = ClassifyGid(lixa, "node-a");
  if (lixa.size() <= kMaxGidLength) {
    FUZZ_CHECK(l.kind == GidKind::kLixa && l.xid && *l.xid == xid);
  } else {
    FUZZ_CHECK(l.kind == GidKind::kUnknown);  // PostgreSQL could not hold it
  }

  CitusGid citus{in.Integer<uint32_t>(), in.Integer<uint32_t>(), in.Integer<uint64_t>(),
                 in.Integer<uint32_t>()};
  std::string name = "citus_" + std::to_string(citus.group_id) + "_" + std::to_string(citus.pid) +
                     "_" + std::to_string(citus.transaction_number) + "_" +
                     std::to_string(citus.connection_number);
  ClassifiedGid c = ClassifyGid(name, "node-a");
  FUZZ_CHECK(c.kind == GidKind::kCitus && c.citus && *c.citus == citus);
}

}  // namespace
}  // namespace twopc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  twopc::fuzz::FuzzInput in(data, size);
  switch (in.Byte() % 3) {
    case 0:
      twopc::fuzz::DecodeArbitrary(in.Rest());
      break;
    case 1:
      twopc::fuzz::RoundTripParts(in);
      break;
    default:
      twopc::fuzz::RoundTripForeign(in);
      break;
  }
  return 0;
}
