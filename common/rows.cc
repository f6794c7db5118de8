#include <charconv>
#include <stdexcept>
#include <string>

#include "twopc/coordinator.h"

namespace twopc {
namespace {

// Values can be long text; an error message needs only enough to recognise it.
std::string Excerpt(const std::string& value) {
  constexpr size_t kMax = 40;
  if (value.size() <= kMax) return "'" + value + "'";
  return "'" + value.substr(0, kMax) + "...' (" + std::to_string(value.size()) + " bytes)";
}

}  // namespace

int64_t Rows::Int(size_t row, size_t col) const {
  std::string where = "Rows::Int(row " + std::to_string(row) + ", column " + std::to_string(col);
  if (col < columns_.size()) where += " \"" + columns_[col] + "\"";
  where += ")";
  if (row >= rows_.size()) {
    throw std::out_of_range(where + ": only " + std::to_string(rows_.size()) + " rows");
  }
  const Row& r = rows_[row];
  if (col >= r.size()) {
    throw std::out_of_range(where + ": only " + std::to_string(r.size()) + " columns");
  }
  const std::optional<std::string>& cell = r[col];
  if (!cell.has_value()) throw std::invalid_argument(where + ": value is NULL");
  int64_t value = 0;
  const char* begin = cell->data();
  const char* end = begin + cell->size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec == std::errc::result_out_of_range) {
    throw std::invalid_argument(where + ": " + Excerpt(*cell) + " does not fit in int64");
  }
  // A partial parse ("12abc", "1.5") is not an integer: silently truncating
  // would hand the caller a number the server never returned.
  if (ec != std::errc() || ptr != end) {
    throw std::invalid_argument(where + ": " + Excerpt(*cell) + " is not an integer");
  }
  return value;
}

}  // namespace twopc
