// Param's conversions to PostgreSQL's text input forms.
#include <charconv>
#include <cmath>
#include <system_error>

#include "participants/query.h"
#include "twopc/param.h"

namespace twopc::internal {
namespace {

template <class T>
std::string ToChars(T v) {
  // Enough for any 64-bit integer and the shortest round-trip form of any
  // float, double or 80-bit long double.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return {};  // cannot happen with this buffer
  return std::string(buf, end);
}

// PostgreSQL's float and numeric inputs spell the special values this way
// (float8in also takes "inf" and "nan", numeric_in does not).
template <class F>
std::string Float(F v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  // std::to_chars without a format or precision gives the shortest text that
  // reads back to exactly `v`.
  return ToChars(v);
}

}  // namespace

std::string IntegerText(long long v) { return ToChars(v); }
std::string IntegerText(unsigned long long v) { return ToChars(v); }
std::string FloatText(double v) { return Float(v); }
std::string FloatText(float v) { return Float(v); }
std::string FloatText(long double v) { return Float(v); }

// bytea's hex input format: \x followed by two hex digits per byte. As a
// parameter it is not an SQL literal, so the backslash is not doubled.
std::string BytesText(const Bytes& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 + 2 * b.data().size());
  out += "\\x";
  for (std::byte x : b.data()) {
    auto v = static_cast<unsigned>(x);
    out += kHex[v >> 4];
    out += kHex[v & 0xf];
  }
  return out;
}

std::vector<std::optional<std::string>> ToTextParams(const std::vector<Param>& params) {
  std::vector<std::optional<std::string>> out;
  out.reserve(params.size());
  for (const Param& p : params) out.push_back(p.text());
  return out;
}

}  // namespace twopc::internal
