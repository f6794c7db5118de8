#include "cli/table.h"

#include <algorithm>
#include <utility>

#include "cli/text.h"

namespace twopc::cli {

Table::Table(std::vector<std::string> headers) {
  for (std::string& h : headers) headers_.emplace_back(std::move(h), Tone::kHeader);
}

void Table::AddRow(std::vector<Cell> cells) {
  cells.resize(headers_.size(), Cell(""));
  for (Cell& c : cells) c.text = Printable(c.text);
  rows_.push_back(std::move(cells));
}

std::vector<size_t> Table::Widths() const {
  std::vector<size_t> widths;
  for (const Cell& h : headers_) widths.push_back(DisplayWidth(h.text));
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i].text));
    }
  }
  return widths;
}

std::string Table::RenderRow(const std::vector<Cell>& cells, const std::vector<size_t>& widths,
                             const Terminal& terminal) const {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    bool last = i + 1 == cells.size();
    std::string padding(widths[i] - DisplayWidth(cells[i].text), ' ');
    bool right = right_aligned_.count(i) > 0;
    if (right) line += padding;
    line += terminal.Paint(cells[i].text, cells[i].tone);
    if (!right && !last) line += padding;
    if (!last) line += "  ";
  }
  line += '\n';
  return line;
}

std::string Table::Render(const Terminal& terminal) const {
  std::vector<size_t> widths = Widths();
  std::string out = RenderRow(headers_, widths, terminal);
  for (const auto& row : rows_) out += RenderRow(row, widths, terminal);
  return out;
}

}  // namespace twopc::cli
