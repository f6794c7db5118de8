#include "participants/mariadb_sql.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace twopc::internal {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string Hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> Unhex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexDigit(hex[i]);
    int lo = HexDigit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Index just past the quoted text that starts at `i` (quote q), by MariaDB's
// rules: a doubled quote or a backslash escapes. Unterminated: the end.
size_t SkipQuoted(std::string_view s, size_t i, char q) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\' && q != '`') {
      ++i;
    } else if (s[i] == q) {
      if (i + 1 < s.size() && s[i + 1] == q) {
        ++i;
      } else {
        return i + 1;
      }
    }
  }
  return s.size();
}

}  // namespace

std::string MariaDbLiteral(std::string_view value) { return "_utf8mb4 X'" + Hex(value) + "'"; }

Result<std::string> BindMariaDbParams(std::string_view sql,
                                      const std::vector<std::optional<std::string>>& params) {
  // Trailing ';' and blanks are one statement's end, not a second one.
  size_t end = sql.size();
  while (end > 0 && (sql[end - 1] == ';' || std::isspace(static_cast<unsigned char>(sql[end - 1])))) --end;
  sql = sql.substr(0, end);
  std::string out;
  out.reserve(sql.size() + params.size() * 16);
  size_t i = 0;
  while (i < sql.size()) {
    char c = sql[i];
    size_t next = i + 1;
    if (c == '\'' || c == '"' || c == '`') {
      next = SkipQuoted(sql, i, c);
    } else if (c == '#' || (c == '-' && sql.substr(i, 2) == "--" &&
                            (i + 2 == sql.size() ||
                             std::isspace(static_cast<unsigned char>(sql[i + 2])) != 0 ||
                             std::iscntrl(static_cast<unsigned char>(sql[i + 2])) != 0))) {
      next = sql.find('\n', i);
      next = next == std::string_view::npos ? sql.size() : next + 1;
    } else if (c == '/' && i + 2 < sql.size() && sql[i + 1] == '*' &&
               (sql[i + 2] == '!' || (sql[i + 2] == 'M' && i + 3 < sql.size() && sql[i + 3] == '!'))) {
      // An executable comment (/*! ... */, /*M! ... */) is SQL that MariaDB
      // runs: scanned like the rest; its closing "*/" passes as text.
      next = i + (sql[i + 2] == '!' ? 3 : 4);
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      next = sql.find("*/", i + 2);
      next = next == std::string_view::npos ? sql.size() : next + 2;
    } else if (c == ';') {
      return Status::InvalidArgument(
          "a statement for MariaDB holds a ';' outside quotes: send one statement per query");
    } else if (c == '$' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1])) &&
               (i == 0 || !IsNameChar(sql[i - 1]))) {
      size_t j = i + 1;
      while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) ++j;
      size_t n = 0;
      auto [ptr, ec] = std::from_chars(sql.data() + i + 1, sql.data() + j, n);
      if (ec != std::errc() || n == 0 || n > params.size()) {
        return Status::InvalidArgument(fmt::format("placeholder {} has no parameter ({} given)",
                                                   sql.substr(i, j - i), params.size()));
      }
      const auto& p = params[n - 1];
      out += p.has_value() ? MariaDbLiteral(*p) : std::string("NULL");
      i = j;
      continue;
    }
    out.append(sql.substr(i, next - i));
    i = next;
  }
  return out;
}

std::string MariaDbXidSql(const Xid& xid) {
  return fmt::format("X'{}',X'{}',{}", Hex(xid.gtrid), Hex(xid.bqual), xid.format_id);
}

Result<Xid> MariaDbXidOfGid(std::string_view gid) {
  Result<GidParts> parts = DecodeGid(gid);
  if (!parts.ok()) return parts.TakeStatus();
  Xid xid = ToXid(*parts);
  if (xid.gtrid.size() > kMariaDbMaxXidPart || xid.bqual.size() > kMariaDbMaxXidPart) {
    return Status::InvalidArgument(fmt::format(
        "gid {} does not fit a MariaDB xid: its gtrid is {} bytes and its branch qualifier {} "
        "(at most {} each; see docs/gid-format.md, \"MariaDB XA\")",
        gid, xid.gtrid.size(), xid.bqual.size(), kMariaDbMaxXidPart));
  }
  return xid;
}

std::string GidOfMariaDbXid(const Xid& xid) {
  if (xid.format_id == kTwopcFormatId || xid.format_id == kTwopcV2FormatId) {
    std::string gid = xid.gtrid + "." + xid.bqual;
    Result<GidParts> parts = DecodeGid(gid);
    if (parts.ok() && ToXid(*parts) == xid) return gid;
  }
  return fmt::format("xa:{}:{}:{}", xid.format_id, Hex(xid.gtrid), Hex(xid.bqual));
}

Result<Xid> ForeignMariaDbXid(std::string_view gid) {
  auto bad = [&] {
    return Status::InvalidArgument("not a MariaDB xid of the form xa:<format id>:<hex>:<hex>");
  };
  if (gid.substr(0, 3) != "xa:") return bad();
  std::string_view rest = gid.substr(3);
  size_t c1 = rest.find(':');
  if (c1 == std::string_view::npos) return bad();
  size_t c2 = rest.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return bad();
  Xid xid;
  std::string_view fmt_text = rest.substr(0, c1);
  auto [ptr, ec] = std::from_chars(fmt_text.data(), fmt_text.data() + fmt_text.size(), xid.format_id);
  if (ec != std::errc() || ptr != fmt_text.data() + fmt_text.size()) return bad();
  auto gtrid = Unhex(rest.substr(c1 + 1, c2 - c1 - 1));
  auto bqual = Unhex(rest.substr(c2 + 1));
  if (!gtrid || !bqual || gtrid->empty() || gtrid->size() > kMariaDbMaxXidPart ||
      bqual->size() > kMariaDbMaxXidPart) {
    return bad();
  }
  xid.gtrid = std::move(*gtrid);
  xid.bqual = std::move(*bqual);
  return xid;
}

}  // namespace twopc::internal
