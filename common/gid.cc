#include "twopc/gid.h"

#include <array>
#include <cassert>
#include <charconv>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace twopc {
namespace {

constexpr std::string_view kPrefixV1 = "tpc1.";
constexpr std::string_view kPrefixV2 = "tpc2.";
constexpr size_t kPrefixLength = 5;
constexpr size_t kFieldCountV1 = 5;  // tpc1, node_id, incarnation, txn, branch
constexpr size_t kFieldCountV2 = 6;  // tpc2, node_id, incarnation, txn, branch, decider
constexpr size_t kMaxFieldCount = kFieldCountV2;

// PostgreSQL must be able to hold every gid we can write: the longest
// version 2 gid (docs/gid-format.md, "Length bound") is 154 bytes.
constexpr size_t kMaxU64Digits = std::numeric_limits<uint64_t>::digits10 + 1;  // 20
constexpr size_t kMaxU32Digits = std::numeric_limits<uint32_t>::digits10 + 1;  // 10
constexpr size_t kLongestGidV2 = kPrefixLength + kMaxNodeIdLength + 1 + kMaxU64Digits + 1 +
                                 kMaxU64Digits + 1 + kMaxU32Digits + 1 + kMaxDeciderLength;
static_assert(kLongestGidV2 == 154);
static_assert(kLongestGidV2 <= kMaxGidLength, "a tpc2 gid could be too long for PostgreSQL");

bool IsAlnum(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsNodeIdChar(unsigned char c) { return IsAlnum(c) || c == '-'; }
bool IsDeciderChar(unsigned char c) { return IsAlnum(c) || c == '_' || c == '-'; }
// '_' only in version 2, whose decider is a participant name; version 1
// keeps the character set it was released with.
bool IsGidChar(unsigned char c, int version) {
  return IsNodeIdChar(c) || c == '.' || (version == 2 && c == '_');
}

// Names a rejected byte without echoing it raw: the input may be hostile
// (a newline or escape sequence would forge log lines), so anything outside
// printable ASCII is shown as its hex value.
std::string DescribeByte(unsigned char c) {
  if (c >= 0x21 && c <= 0x7e) return std::string("'") + static_cast<char>(c) + "'";
  std::array<char, 16> buf{};
  std::snprintf(buf.data(), buf.size(), "byte 0x%02X", c);
  return buf.data();
}

std::string_view FieldName(size_t index) {
  static constexpr std::array<std::string_view, kMaxFieldCount> kNames = {
      "version", "node id", "incarnation", "transaction number", "branch number", "decider"};
  return kNames[index];
}

// Splits on '.', keeping empty fields so that "a..b" is seen as malformed.
std::vector<std::string_view> SplitFields(std::string_view gid) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t dot = gid.find('.', start);
    if (dot == std::string_view::npos) {
      fields.push_back(gid.substr(start));
      return fields;
    }
    fields.push_back(gid.substr(start, dot - start));
    start = dot + 1;
  }
}

// Canonical decimal only: exactly one spelling per number, so that two gids
// naming the same branch are always byte-equal (PostgreSQL compares gids as
// strings, and the decision log keys on the gtrid text).
template <class T>
Status ParseCanonicalDecimal(std::string_view text, std::string_view name, T* out) {
  static_assert(std::is_unsigned_v<T>);
  for (unsigned char c : text) {
    if (!IsDigit(c)) {
      return Status::InvalidArgument("gid " + std::string(name) + " '" + std::string(text) +
                                     "' is not a decimal number");
    }
  }
  if (text.size() > 1 && text[0] == '0') {
    return Status::InvalidArgument("gid " + std::string(name) + " '" + std::string(text) +
                                   "' has a leading zero");
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (ec == std::errc::result_out_of_range) {
    return Status::InvalidArgument("gid " + std::string(name) + " '" + std::string(text) +
                                   "' does not fit in " +
                                   std::to_string(std::numeric_limits<T>::digits) + " bits");
  }
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Status::InvalidArgument("gid " + std::string(name) + " '" + std::string(text) +
                                   "' is not a decimal number");
  }
  return Status::OK();
}

// Says whose gid it probably is, so an operator looking at a rejected gid
// knows which transaction manager to ask. REQUIRES: `gid` starts with
// neither "tpc1." nor "tpc2." (ClassifyGid decodes those with DecodeGid).
std::string ForeignGidHint(std::string_view gid) {
  ClassifiedGid c = ClassifyGid(gid, "");
  std::string manager =
      c.manager.empty() ? "" : ", probably " + std::string(c.manager) + "'s";
  switch (c.kind) {
    case GidKind::kCitus: return " (it looks like a Citus gid)";
    case GidKind::kJavaXa:
      return " (it looks like a Java XA gid written by pgjdbc: formatId_gtrid_bqual" + manager +
             ")";
    case GidKind::kLixa: return " (it looks like a LIXA gid: formatId.gtrid.bqual)";
    default: return "";
  }
}

// The format version a gid's prefix names, or 0 if it is not one this build reads.
int VersionOf(std::string_view gid) {
  if (gid.substr(0, kPrefixLength) == kPrefixV1) return 1;
  if (gid.substr(0, kPrefixLength) == kPrefixV2) return 2;
  return 0;
}

// On success `*version` is 1 or 2.
Status CheckEnvelope(std::string_view gid, int* version) {
  if (gid.empty()) return Status::InvalidArgument("gid is empty");
  if (gid.size() > kMaxGidLength) {
    return Status::InvalidArgument("gid is " + std::to_string(gid.size()) +
                                   " bytes; at most " + std::to_string(kMaxGidLength) +
                                   " are allowed");
  }
  *version = VersionOf(gid);
  if (*version == 0) {
    // Told apart from a foreign gid so that an operator knows to upgrade
    // rather than to look for another transaction manager.
    if (ClassifyGid(gid, "").kind == GidKind::kOtherVersion) {
      return Status::InvalidArgument("gid format version '" +
                                     std::string(gid.substr(0, gid.find('.'))) +
                                     "' is not supported; this build reads 'tpc1' and 'tpc2'");
    }
    return Status::InvalidArgument("not a twopc gid: it does not start with 'tpc1.' or 'tpc2.'" +
                                   ForeignGidHint(gid));
  }
  for (size_t i = 0; i < gid.size(); ++i) {
    auto c = static_cast<unsigned char>(gid[i]);
    if (!IsGidChar(c, *version)) {
      return Status::InvalidArgument(
          "gid contains " + DescribeByte(c) + " at offset " + std::to_string(i) + "; only " +
          (*version == 2 ? "[A-Za-z0-9._-]" : "[A-Za-z0-9.-]") + " is allowed");
    }
  }
  return Status::OK();
}

// REQUIRES: CheckEnvelope(gid).ok(), so fields hold only safe characters and
// may be quoted in messages.
Status CheckFields(const std::vector<std::string_view>& fields, int version) {
  size_t expected = version == 2 ? kFieldCountV2 : kFieldCountV1;
  if (fields.size() != expected) {
    return Status::InvalidArgument(
        "gid has " + std::to_string(fields.size()) + " dot-separated fields; expected " +
        (version == 2 ? "6: tpc2.<node_id>.<incarnation>.<txn>.<branch>.<decider>"
                      : "5: tpc1.<node_id>.<incarnation>.<txn>.<branch>"));
  }
  for (size_t i = 1; i < fields.size(); ++i) {
    if (fields[i].empty()) {
      return Status::InvalidArgument("gid " + std::string(FieldName(i)) + " is empty");
    }
  }
  return Status::OK();
}

}  // namespace

Status ValidateNodeId(std::string_view node_id) {
  if (node_id.empty()) {
    return Status::InvalidArgument("node id is empty; it must be 1-32 characters of [A-Za-z0-9-]");
  }
  if (node_id.size() > kMaxNodeIdLength) {
    return Status::InvalidArgument("node id is " + std::to_string(node_id.size()) +
                                   " bytes long; it must be 1-32 characters of [A-Za-z0-9-]");
  }
  for (size_t i = 0; i < node_id.size(); ++i) {
    auto c = static_cast<unsigned char>(node_id[i]);
    if (!IsNodeIdChar(c)) {
      return Status::InvalidArgument("node id contains " + DescribeByte(c) + " at offset " +
                                     std::to_string(i) +
                                     "; it must be 1-32 characters of [A-Za-z0-9-]");
    }
  }
  return Status::OK();
}

Status ValidateDecider(std::string_view name) {
  // The config's rule for participant names (common/config.cc): the decider
  // is looked up by that name, so it must be spelled the same way.
  static constexpr std::string_view kRule =
      "; the decider must be a participant name, 1-63 characters of [A-Za-z0-9_-]";
  if (name.empty()) return Status::InvalidArgument("decider is empty" + std::string(kRule));
  if (name.size() > kMaxDeciderLength) {
    return Status::InvalidArgument("decider is " + std::to_string(name.size()) + " bytes long" +
                                   std::string(kRule));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (!IsDeciderChar(c)) {
      return Status::InvalidArgument("decider contains " + DescribeByte(c) + " at offset " +
                                     std::to_string(i) + std::string(kRule));
    }
  }
  return Status::OK();
}

std::string EncodeGtrid(std::string_view node_id, uint64_t incarnation, uint64_t txn, int version) {
  assert(version == 1 || version == 2);
  std::string gtrid;
  gtrid.reserve(kPrefixLength + node_id.size() + 2 * 21);
  gtrid += version == 2 ? kPrefixV2 : kPrefixV1;
  gtrid += node_id;
  gtrid += '.';
  gtrid += std::to_string(incarnation);
  gtrid += '.';
  gtrid += std::to_string(txn);
  return gtrid;
}

std::string GtridOf(const GidParts& parts) {
  return EncodeGtrid(parts.node_id, parts.incarnation, parts.txn, parts.decider.empty() ? 1 : 2);
}

std::string EncodeGid(const GidParts& parts) {
  std::string gid = GtridOf(parts) + "." + std::to_string(parts.branch);
  if (!parts.decider.empty()) gid += "." + parts.decider;
  return gid;
}

Result<GidParts> DecodeGid(std::string_view gid) {
  int version = 0;
  if (Status s = CheckEnvelope(gid, &version); !s.ok()) return s;
  std::vector<std::string_view> fields = SplitFields(gid);
  if (Status s = CheckFields(fields, version); !s.ok()) return s;
  GidParts parts;
  if (Status s = ValidateNodeId(fields[1]); !s.ok()) {
    return Status::InvalidArgument("gid " + s.message());
  }
  parts.node_id = std::string(fields[1]);
  if (Status s = ParseCanonicalDecimal(fields[2], FieldName(2), &parts.incarnation); !s.ok()) {
    return s;
  }
  if (Status s = ParseCanonicalDecimal(fields[3], FieldName(3), &parts.txn); !s.ok()) return s;
  if (Status s = ParseCanonicalDecimal(fields[4], FieldName(4), &parts.branch); !s.ok()) return s;
  if (parts.branch == 0) {
    return Status::InvalidArgument("gid branch number is 0; branches are numbered from 1");
  }
  if (version == 2) {
    if (Status s = ValidateDecider(fields[5]); !s.ok()) {
      return Status::InvalidArgument("gid " + s.message());
    }
    parts.decider = std::string(fields[5]);
  }
  return parts;
}

Result<std::string> GtridOfGid(std::string_view gid) {
  Result<GidParts> parts = DecodeGid(gid);
  if (!parts.ok()) return parts.TakeStatus();
  // Re-encoding equals the text before the branch number, because a
  // decodable gid has exactly one spelling.
  return GtridOf(*parts);
}

Xid ToXid(const GidParts& parts) {
  Xid xid;
  xid.format_id = parts.decider.empty() ? kTwopcFormatId : kTwopcV2FormatId;
  xid.gtrid = GtridOf(parts);
  // The gtrid stays the key of the decision, in the decision log and in D's
  // table alike (docs/protocol.md); the decider goes with the branch number,
  // in the same order as in the gid.
  xid.bqual = std::to_string(parts.branch);
  if (!parts.decider.empty()) xid.bqual += "." + parts.decider;
  return xid;
}

}  // namespace twopc
