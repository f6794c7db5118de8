// ClassifyGid: whose a prepared transaction is, from its gid alone, and the
// Xid inside where the writer's format is known. The one reader of foreign
// gids: recovery, the CLI and DecodeGid's error messages all go through it.
//
// Each format below is what its writer produces (docs/gid-format.md gives
// the writers' sources); the parsers accept nothing looser, because a gid
// misread as someone else's sends an operator to the wrong team, and the
// formats are disjoint (count of '_' and '.', first characters) so that no
// gid matches two of them.
#include <charconv>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "twopc/gid.h"

namespace twopc {
namespace {

// XA (and javax.transaction.xa.Xid): gtrid 1-64 bytes, bqual 0-64 bytes.
constexpr size_t kMaxXidPartBytes = 64;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Decimal digits only (no sign, no spaces), within T's range.
template <class T>
std::optional<T> ParseUnsigned(std::string_view s) {
  static_assert(std::is_unsigned_v<T>);
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (!IsDigit(c)) return std::nullopt;
  }
  T v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// A Java int / C long format id as the writers print it: optional '-', digits.
std::optional<int32_t> ParseFormatId(std::string_view s) {
  std::string_view digits = s.substr(0, 1) == "-" ? s.substr(1) : s;
  if (digits.empty()) return std::nullopt;
  for (char c : digits) {
    if (!IsDigit(c)) return std::nullopt;
  }
  int32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Standard alphabet with '=' padding, no line breaks: what pgjdbc's
// Base64.encodeBytes(..., DONT_BREAK_LINES) writes. Empty is an empty part.
std::optional<std::string> DecodeBase64(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  size_t padding = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '=') {
      if (i + 2 < in.size()) return std::nullopt;  // '=' only in the last two places
      ++padding;
      continue;
    }
    if (padding > 0) return std::nullopt;
    size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    buffer = ((buffer << 6) | static_cast<uint32_t>(v)) & 0xFFFFFF;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

// Lower-case hex pairs: LIXA prints every byte with "%2.2x" and its own
// deserializer accepts nothing else.
std::optional<std::string> DecodeLowerHex(std::string_view in) {
  if (in.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < in.size(); i += 2) {
    int value = 0;
    for (char c : in.substr(i, 2)) {
      int nibble = IsDigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (nibble < 0) return std::nullopt;
      value = value * 16 + nibble;
    }
    out.push_back(static_cast<char>(value));
  }
  return out;
}

bool IsXidSized(const std::string& gtrid, const std::string& bqual) {
  return !gtrid.empty() && gtrid.size() <= kMaxXidPartBytes && bqual.size() <= kMaxXidPartBytes;
}

// Splits `s` at every `sep`, keeping empty fields.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (size_t at = s.find(sep); at != std::string_view::npos; at = s.find(sep, start)) {
    fields.push_back(s.substr(start, at - start));
    start = at + 1;
  }
  fields.push_back(s.substr(start));
  return fields;
}

// pgjdbc's RecoveredXid.xidToString: "<formatId>_<base64 gtrid>_<base64 bqual>".
// Every Java transaction manager on PostgreSQL prepares through it.
std::optional<Xid> DecodePgjdbc(std::string_view gid) {
  std::vector<std::string_view> f = Split(gid, '_');
  if (f.size() != 3) return std::nullopt;
  auto format = ParseFormatId(f[0]);
  auto gtrid = DecodeBase64(f[1]);
  auto bqual = DecodeBase64(f[2]);
  if (!format || !gtrid || !bqual || !IsXidSized(*gtrid, *bqual)) return std::nullopt;
  return Xid{*format, std::move(*gtrid), std::move(*bqual)};
}

// LIXA's lixa_xid_serialize: "<formatId>.<hex gtrid>.<hex bqual>".
std::optional<Xid> DecodeLixa(std::string_view gid) {
  std::vector<std::string_view> f = Split(gid, '.');
  if (f.size() != 3) return std::nullopt;
  auto format = ParseFormatId(f[0]);
  auto gtrid = DecodeLowerHex(f[1]);
  auto bqual = DecodeLowerHex(f[2]);
  if (!format || !gtrid || !bqual || !IsXidSized(*gtrid, *bqual)) return std::nullopt;
  return Xid{*format, std::move(*gtrid), std::move(*bqual)};
}

// Citus' Assign2PCIdentifier: "citus_%u_%u_%llu_%u".
std::optional<CitusGid> DecodeCitus(std::string_view gid) {
  if (!StartsWith(gid, "citus_")) return std::nullopt;
  std::vector<std::string_view> f = Split(gid.substr(6), '_');
  if (f.size() != 4) return std::nullopt;
  auto group = ParseUnsigned<uint32_t>(f[0]);
  auto pid = ParseUnsigned<uint32_t>(f[1]);
  auto txn = ParseUnsigned<uint64_t>(f[2]);
  auto connection = ParseUnsigned<uint32_t>(f[3]);
  if (!group || !pid || !txn || !connection) return std::nullopt;
  return CitusGid{*group, *pid, *txn, *connection};
}

// "tpc<digits>." that is neither "tpc1." nor "tpc2.": a later (or unknown)
// twopc version.
bool HasOtherTwopcVersionPrefix(std::string_view gid) {
  if (!StartsWith(gid, "tpc") || StartsWith(gid, "tpc1.") || StartsWith(gid, "tpc2.")) {
    return false;
  }
  size_t i = 3;
  while (i < gid.size() && IsDigit(gid[i])) ++i;
  return i > 3 && i < gid.size() && gid[i] == '.';
}

// The XA format ids that name their transaction manager.
std::string_view ManagerOfFormatId(int32_t format_id) {
  switch (format_id) {
    case 131072:  // JTS
    case 131073:  // JTS strict
    case 131074:  // JTS restricted
    case 131077:  // JTA (ArjunaJTA's XATxConverter)
    case 131080:  // XTS bridge
    case 131081:  // REST-AT bridge
      return "Narayana";
    case 0x41544F4D:
      return "Atomikos";  // "ATOM"
    case 0x42746E78:
      return "Bitronix";  // "Btnx"
    case 0x4C495841:
      return "LIXA";  // "LIXA"
    case kTwopcFormatId:
    case kTwopcV2FormatId:
      return "twopc";
    default:
      return "";
  }
}

}  // namespace

const char* GidKindName(GidKind kind) {
  switch (kind) {
    case GidKind::kThisNode:
      return "this-node";
    case GidKind::kOtherNode:
      return "other-node";
    case GidKind::kOtherVersion:
      return "twopc-other-version";
    case GidKind::kJavaXa:
      return "java-xa";
    case GidKind::kLixa:
      return "lixa";
    case GidKind::kCitus:
      return "citus";
    case GidKind::kUnknown:
      break;
  }
  return "unknown";
}

ClassifiedGid ClassifyGid(std::string_view gid, std::string_view this_node_id) {
  ClassifiedGid out;
  if (gid.size() > kMaxGidLength) return out;
  // DecodeGid only for "tpc1." and "tpc2.": on anything else its error
  // message asks ClassifyGid for a hint, and must not be asked back.
  if (StartsWith(gid, "tpc1.") || StartsWith(gid, "tpc2.")) {
    Result<GidParts> parts = DecodeGid(gid);
    if (!parts.ok()) return out;  // a malformed twopc gid is nobody's: never act on it
    out.kind = parts->node_id == this_node_id ? GidKind::kThisNode : GidKind::kOtherNode;
    out.xid = ToXid(*parts);
    out.parts = std::move(*parts);
    out.manager = "twopc";
    return out;
  }
  if (HasOtherTwopcVersionPrefix(gid)) {
    out.kind = GidKind::kOtherVersion;
    out.manager = "twopc";
    return out;
  }
  if (auto citus = DecodeCitus(gid)) {
    out.kind = GidKind::kCitus;
    out.citus = citus;
    out.manager = "Citus";
    return out;
  }
  if (auto xid = DecodePgjdbc(gid)) {
    out.kind = GidKind::kJavaXa;
    out.manager = ManagerOfFormatId(xid->format_id);
    out.xid = std::move(xid);
    return out;
  }
  if (auto xid = DecodeLixa(gid)) {
    out.kind = GidKind::kLixa;
    out.manager = "LIXA";
    out.xid = std::move(xid);
  }
  return out;
}

}  // namespace twopc
