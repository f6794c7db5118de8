// Param's conversions: only exact, intended ones compile, and each gives the
// text PostgreSQL reads back as the same value.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include "twopc/param.h"

namespace twopc {
namespace {

// Each of these compiled before and sent something nobody meant: 'x' as
// "120", a pointer as "true".
static_assert(!std::is_constructible_v<Param, char>);
static_assert(!std::is_constructible_v<Param, wchar_t>);
static_assert(!std::is_constructible_v<Param, char8_t>);
static_assert(!std::is_constructible_v<Param, char16_t>);
static_assert(!std::is_constructible_v<Param, char32_t>);
static_assert(!std::is_constructible_v<Param, int*>);
static_assert(!std::is_constructible_v<Param, const double*>);
static_assert(!std::is_constructible_v<Param, void*>);
static_assert(!std::is_constructible_v<Param, std::byte>);
static_assert(!std::is_constructible_v<Param, std::optional<char>>);
enum Plain { kPlain };
enum class Scoped { kScoped };
static_assert(!std::is_constructible_v<Param, Plain>);
static_assert(!std::is_constructible_v<Param, Scoped>);
struct ConvertsToBool {
  operator bool() const { return true; }  // NOLINT
};
static_assert(!std::is_constructible_v<Param, ConvertsToBool>);
// And what is meant does compile.
static_assert(std::is_convertible_v<int8_t, Param>);
static_assert(std::is_convertible_v<uint64_t, Param>);
static_assert(std::is_convertible_v<double, Param>);
static_assert(std::is_convertible_v<float, Param>);
static_assert(std::is_convertible_v<bool, Param>);
static_assert(std::is_convertible_v<const char*, Param>);
static_assert(std::is_convertible_v<std::string_view, Param>);
static_assert(std::is_convertible_v<std::optional<int64_t>, Param>);
static_assert(std::is_convertible_v<std::optional<std::string>, Param>);
static_assert(std::is_convertible_v<std::nullopt_t, Param>);
static_assert(std::is_convertible_v<Null, Param>);

std::string TextOf(const Param& p) { return p.is_null() ? "<NULL>" : *p.text(); }

TEST(Param, IntegersOfEveryWidthAreDecimal) {
  EXPECT_EQ(TextOf(42), "42");
  EXPECT_EQ(TextOf(-7), "-7");
  EXPECT_EQ(TextOf(int8_t{-128}), "-128");
  EXPECT_EQ(TextOf(uint8_t{255}), "255");
  EXPECT_EQ(TextOf(int16_t{-32768}), "-32768");
  EXPECT_EQ(TextOf(uint16_t{65535}), "65535");
  EXPECT_EQ(TextOf(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(TextOf(std::numeric_limits<uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(TextOf(0), "0");
  EXPECT_EQ(TextOf(size_t{3}), "3");
}

TEST(Param, FloatingPointIsTheShortestRoundTripText) {
  EXPECT_EQ(TextOf(2.5), "2.5");  // was "true"
  EXPECT_EQ(TextOf(0.1), "0.1");
  EXPECT_EQ(TextOf(-0.0), "-0");
  EXPECT_EQ(TextOf(1e300), "1e+300");
  EXPECT_EQ(TextOf(0.1f), "0.1");
  EXPECT_EQ(TextOf(0.30000000000000004), "0.30000000000000004");
  EXPECT_EQ(TextOf(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(TextOf(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(TextOf(-std::numeric_limits<float>::infinity()), "-Infinity");
  const double third = 1.0 / 3;
  EXPECT_EQ(std::stod(TextOf(third)), third);
}

TEST(Param, BoolIsTrueOrFalse) {
  EXPECT_EQ(TextOf(true), "true");
  EXPECT_EQ(TextOf(false), "false");
}

TEST(Param, StringsPassAsTheyAre) {
  EXPECT_EQ(TextOf("book"), "book");
  EXPECT_EQ(TextOf(std::string("it's")), "it's");
  EXPECT_EQ(TextOf(std::string_view("view")), "view");
  EXPECT_EQ(TextOf(""), "");
  const char* null_string = nullptr;
  EXPECT_TRUE(Param(null_string).is_null());  // SQL NULL, not a crash
}

TEST(Param, NullsAreSqlNull) {
  EXPECT_TRUE(Param(Null{}).is_null());
  EXPECT_TRUE(Param(std::nullopt).is_null());
  EXPECT_TRUE(Param(nullptr).is_null());
  EXPECT_TRUE(Param(std::optional<int>()).is_null());
  EXPECT_TRUE(Param(std::optional<std::string>()).is_null());
  EXPECT_FALSE(Param("").is_null());  // the empty string is not NULL
}

TEST(Param, OptionalSendsItsValue) {
  EXPECT_EQ(TextOf(std::optional<int64_t>(-3)), "-3");
  EXPECT_EQ(TextOf(std::optional<double>(1.5)), "1.5");
  EXPECT_EQ(TextOf(std::optional<bool>(false)), "false");
  EXPECT_EQ(TextOf(std::optional<std::string>("x")), "x");
}

TEST(Param, BytesAreByteaHex) {
  EXPECT_EQ(TextOf(Bytes::FromString(std::string("\x00\xff\x10", 3))), "\\x00ff10");
  EXPECT_EQ(TextOf(Bytes(std::vector<std::byte>{})), "\\x");
  const std::byte raw[] = {std::byte{0xde}, std::byte{0xad}};
  EXPECT_EQ(TextOf(Bytes(std::span<const std::byte>(raw))), "\\xdead");
}

TEST(Param, TextIsVerbatim) {
  EXPECT_EQ(TextOf(Text{"2026-01-01"}), "2026-01-01");
  EXPECT_EQ(TextOf(Text{"12345678901234567890.01"}), "12345678901234567890.01");
}

TEST(Param, BracedListsPickTheExactConversion) {
  std::vector<Param> params{42, "book", 2.5, true, std::nullopt, int64_t{7}};
  ASSERT_EQ(params.size(), 6u);
  EXPECT_EQ(TextOf(params[0]), "42");
  EXPECT_EQ(TextOf(params[1]), "book");
  EXPECT_EQ(TextOf(params[2]), "2.5");
  EXPECT_EQ(TextOf(params[3]), "true");
  EXPECT_TRUE(params[4].is_null());
  EXPECT_EQ(TextOf(params[5]), "7");
}

}  // namespace
}  // namespace twopc
