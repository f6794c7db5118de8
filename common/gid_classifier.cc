// Tells whose a prepared transaction is from its gid, and decodes the formats
// other transaction managers are known to write.
#include <cctype>
#include <charconv>

#include "twopc/recovery.h"

namespace twopc {
namespace {

std::optional<std::string> DecodeBase64(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
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
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

std::optional<std::string> DecodeHex(std::string_view in) {
  if (in.empty() || in.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < in.size(); i += 2) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(in.data() + i, in.data() + i + 2, v, 16);
    if (ec != std::errc() || p != in.data() + i + 2) return std::nullopt;
    out.push_back(static_cast<char>(v));
  }
  return out;
}

std::optional<int32_t> ParseFormatId(std::string_view s) {
  int32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "<formatId>_<base64 gtrid>_<base64 bqual>" (pgjdbc's PGXAConnection,
// Narayana, Atomikos through pgjdbc).
std::optional<Xid> DecodeJavaXa(std::string_view gid) {
  size_t a = gid.find('_');
  size_t b = a == std::string_view::npos ? a : gid.find('_', a + 1);
  if (b == std::string_view::npos || gid.find('_', b + 1) != std::string_view::npos) return std::nullopt;
  auto format = ParseFormatId(gid.substr(0, a));
  auto gtrid = DecodeBase64(gid.substr(a + 1, b - a - 1));
  auto bqual = DecodeBase64(gid.substr(b + 1));
  if (!format || !gtrid || !bqual) return std::nullopt;
  return Xid{*format, *gtrid, *bqual};
}

// LIXA: "<formatId>.<hex gtrid>.<hex bqual>".
std::optional<Xid> DecodeLixa(std::string_view gid) {
  size_t a = gid.find('.');
  size_t b = a == std::string_view::npos ? a : gid.find('.', a + 1);
  if (b == std::string_view::npos || gid.find('.', b + 1) != std::string_view::npos) return std::nullopt;
  auto format = ParseFormatId(gid.substr(0, a));
  auto gtrid = DecodeHex(gid.substr(a + 1, b - a - 1));
  auto bqual = DecodeHex(gid.substr(b + 1));
  if (!format || !gtrid || !bqual) return std::nullopt;
  return Xid{*format, *gtrid, *bqual};
}

}  // namespace

const char* GidKindName(GidKind kind) {
  switch (kind) {
    case GidKind::kThisNode: return "this-node";
    case GidKind::kOtherNode: return "other-node";
    case GidKind::kJavaXa: return "java-xa";
    case GidKind::kLixa: return "lixa";
    case GidKind::kCitus: return "citus";
    case GidKind::kUnknown: break;
  }
  return "unknown";
}

ClassifiedGid ClassifyGid(std::string_view gid, std::string_view this_node_id) {
  ClassifiedGid out;
  if (auto parts = DecodeGid(gid); parts.ok()) {
    out.kind = parts->node_id == this_node_id ? GidKind::kThisNode : GidKind::kOtherNode;
    out.xid = ToXid(parts.value());
    out.parts = std::move(parts.value());
    return out;
  }
  if (gid.rfind("citus_", 0) == 0) {
    out.kind = GidKind::kCitus;
    return out;
  }
  if (auto xid = DecodeJavaXa(gid)) {
    out.kind = GidKind::kJavaXa;
    out.xid = std::move(xid);
    return out;
  }
  if (auto xid = DecodeLixa(gid)) {
    out.kind = GidKind::kLixa;
    out.xid = std::move(xid);
  }
  return out;
}

}  // namespace twopc
