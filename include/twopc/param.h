// Param: one statement parameter ($1, $2, ...), sent to PostgreSQL in text
// form, separately from the SQL text. Never build SQL by pasting values into
// it.
//
// Only exact, intended conversions compile:
//
//   C++ value                              sent as
//   -------------------------------------  ------------------------------------------
//   integers of every width, signed or     decimal text: 42, -7, 18446744073709551615
//     unsigned (int8_t ... uint64_t)
//   double, float, long double             shortest text that reads back to the same
//                                          value: 0.1, 1e+300, NaN, Infinity, -Infinity
//   bool                                   true / false
//   std::string, std::string_view,         the characters as they are; a null
//     const char*, string literals           const char* is SQL NULL
//   twopc::Bytes                           bytea hex text: \x00ff10
//   twopc::Text                            its text verbatim (dates, numerics, json...)
//   std::optional<T> of any of these       T's text, or SQL NULL when empty
//   twopc::Null{}, std::nullopt, nullptr   SQL NULL
//
// Not accepted, because each was a silent wrong conversion: `char` (would be
// its character code: 'x' -> 120; pass a string), pointers other than
// const char* (would be bool), enums, and any type that merely converts to
// bool or an integer.
//
// Parameter types: statements go out with every parameter's type
// unspecified, so PostgreSQL infers it from where $n appears (a column it is
// compared with or assigned to, a function argument). Where nothing says the
// type -- `SELECT $1` -- it is text; write the cast in SQL: `SELECT $1::date`,
// `WHERE created > $1::timestamptz`.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace twopc {

// SQL NULL, for places where its type does not say so: Param(twopc::Null{}).
struct Null {};

// Text passed verbatim, e.g. a value already in PostgreSQL's text form for a
// type C++ has no exact counterpart of: Text{"12345678901234567890.01"} for
// a numeric, Text{"2026-01-01"} for a date, Text{R"({"a": 1})"} for json.
// The type comes from the statement (see above); a Text is not checked here.
struct Text {
  std::string value;
};

// Binary data for a bytea parameter, sent as hex text (\x0aff...). Owns a
// copy of the bytes.
class Bytes {
 public:
  explicit Bytes(std::vector<std::byte> data) : data_(std::move(data)) {}
  explicit Bytes(std::span<const std::byte> data) : data_(data.begin(), data.end()) {}
  // The bytes of a string, e.g. a binary blob read from a file.
  static Bytes FromString(std::string_view s) {
    return Bytes(std::as_bytes(std::span<const char>(s.data(), s.size())));
  }
  const std::vector<std::byte>& data() const { return data_; }

 private:
  std::vector<std::byte> data_;
};

namespace internal {

// Character types are integral in C++ but a parameter of one is almost
// always a mistake ('x' would be sent as 120). signed char and unsigned char
// stay allowed: they are int8_t and uint8_t.
template <class T>
concept CharacterType =
    std::same_as<T, char> || std::same_as<T, wchar_t> || std::same_as<T, char8_t> ||
    std::same_as<T, char16_t> || std::same_as<T, char32_t>;

template <class T>
concept ParamInteger = std::integral<T> && !std::same_as<T, bool> && !CharacterType<T>;

// What std::optional<T> may hold: every exact conversion above except the
// NULLs themselves. Listed here rather than derived from Param's
// constructors, so that checking it never asks about Param itself.
template <class T>
concept ParamValue = ParamInteger<T> || std::floating_point<T> || std::same_as<T, bool> ||
                     std::same_as<T, std::string> || std::same_as<T, std::string_view> ||
                     std::same_as<T, const char*> || std::same_as<T, Text> ||
                     std::same_as<T, Bytes>;

std::string IntegerText(long long v);
std::string IntegerText(unsigned long long v);
std::string FloatText(double v);
std::string FloatText(float v);
std::string FloatText(long double v);
std::string BytesText(const Bytes& b);

}  // namespace internal

class Param {
 public:
  Param(Null) {}                // NOLINT(google-explicit-constructor): SQL NULL
  Param(std::nullopt_t) {}      // NOLINT(google-explicit-constructor): SQL NULL
  Param(std::nullptr_t) {}      // NOLINT(google-explicit-constructor): SQL NULL
  Param(std::string v) : text_(std::move(v)) {}                // NOLINT
  Param(std::string_view v) : text_(std::string(v)) {}         // NOLINT
  // A null pointer is SQL NULL, never a crash.
  Param(const char* v) {        // NOLINT(google-explicit-constructor)
    if (v != nullptr) text_ = std::string(v);
  }
  Param(Text v) : text_(std::move(v.value)) {}                 // NOLINT
  Param(const Bytes& v) : text_(internal::BytesText(v)) {}     // NOLINT

  // Templates taking exactly the type they name: a double must not reach the
  // bool overload, a pointer must not become a bool, a char not an integer.
  template <internal::ParamInteger T>
  Param(T v) : text_(Integer(v)) {}                            // NOLINT
  template <std::floating_point T>
  Param(T v) : text_(internal::FloatText(v)) {}                // NOLINT
  template <std::same_as<bool> T>
  Param(T v) : text_(v ? "true" : "false") {}                  // NOLINT

  template <internal::ParamValue T>
  Param(const std::optional<T>& v) {                           // NOLINT
    if (v.has_value()) text_ = Param(*v).text_;
  }

  bool is_null() const { return !text_.has_value(); }
  // The text sent to PostgreSQL; nullopt for SQL NULL.
  const std::optional<std::string>& text() const { return text_; }

 private:
  template <class T>
  static std::string Integer(T v) {
    if constexpr (std::is_signed_v<T>) {
      return internal::IntegerText(static_cast<long long>(v));
    } else {
      return internal::IntegerText(static_cast<unsigned long long>(v));
    }
  }

  std::optional<std::string> text_;
};

}  // namespace twopc
