// Aligned columns for human output: widths computed from the cells, a
// header line, two spaces between columns, colour per cell on a terminal.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "cli/terminal.h"

namespace twopc::cli {

struct Cell {
  Cell(std::string text, Tone tone = Tone::kPlain)  // NOLINT(google-explicit-constructor)
      : text(std::move(text)), tone(tone) {}
  Cell(const char* text, Tone tone = Tone::kPlain)  // NOLINT(google-explicit-constructor)
      : text(text), tone(tone) {}

  std::string text;
  Tone tone;
};

class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Numbers read better right-aligned.
  void AlignRight(size_t column) { right_aligned_.insert(column); }

  // Cell texts are made Printable() here: they may come from gids, server
  // messages or log records. REQUIRES: cells.size() == number of headers.
  void AddRow(std::vector<Cell> cells);

  size_t rows() const { return rows_.size(); }

  // The header line and the rows, each ending in '\n'. Colour codes are
  // added after padding, so they never count in a column's width; the last
  // column is not padded (no trailing blanks).
  std::string Render(const Terminal& terminal) const;

 private:
  std::vector<size_t> Widths() const;
  std::string RenderRow(const std::vector<Cell>& cells, const std::vector<size_t>& widths,
                        const Terminal& terminal) const;

  std::vector<Cell> headers_;
  std::vector<std::vector<Cell>> rows_;
  std::set<size_t> right_aligned_;
};

}  // namespace twopc::cli
