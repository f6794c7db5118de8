#include "cli/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>

namespace twopc::cli {
namespace {

// Length of the UTF-8 sequence at text[i] and its code point, or 0 when the
// bytes there are not valid UTF-8 (overlong forms and surrogates included).
size_t DecodeUtf8(std::string_view text, size_t i, uint32_t* code_point) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  size_t len = lead < 0x80           ? 1
               : (lead >> 5) == 0x6  ? 2
               : (lead >> 4) == 0xE  ? 3
               : (lead >> 3) == 0x1E ? 4
                                     : 0;
  if (len == 0 || i + len > text.size()) return 0;
  uint32_t cp = len == 1 ? lead : lead & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  *code_point = cp;
  return len;
}

bool IsControl(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

void AppendEscaped(std::string_view bytes, std::string* out) {
  for (unsigned char c : bytes) *out += fmt::format("\\x{:02X}", c);
}

}  // namespace

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    size_t len = DecodeUtf8(text, i, &cp);
    if (len == 0) {
      AppendEscaped(text.substr(i, 1), &out);
      ++i;
      continue;
    }
    if (IsControl(cp)) {
      AppendEscaped(text.substr(i, len), &out);
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;  // count lead bytes only
  }
  return width;
}

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string IsoUtc(int64_t unix_ms) {
  if (unix_ms == 0) return "?";
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) return "?";
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Age(int64_t since_ms, int64_t now_ms) {
  if (since_ms == 0) return "?";
  int64_t s = std::max<int64_t>(0, (now_ms - since_ms) / 1000);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string XidText(const Xid& xid) {
  return fmt::format("fmt={} gtrid={} bqual={}", xid.format_id, Printable(xid.gtrid),
                     Printable(xid.bqual));
}

std::string BranchesText(const std::vector<BranchRef>& branches) {
  std::string out;
  for (const BranchRef& b : branches) {
    if (!out.empty()) out += ", ";
    auto parts = DecodeGid(b.gid);
    out += parts.ok() ? fmt::format("{}:{}", b.participant, parts->branch)
                      : fmt::format("{}:{}", b.participant, b.gid);
  }
  return out;
}

std::string Plural(size_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace twopc::cli
