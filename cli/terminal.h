// Whether human output may carry ANSI colours, and the colours themselves.
#pragma once

#include <string>
#include <string_view>

namespace twopc::cli {

// What a piece of output means to the operator; a colour only on a terminal.
enum class Tone {
  kPlain,
  kHeader,  // bold
  kGood,    // green: resolved, nothing to do
  kWarn,    // yellow: in doubt, waiting for recovery
  kBad,     // red: heuristic, mixed, unreachable
};

class Terminal {
 public:
  // Colour only when stdout is a terminal and NO_COLOR is unset
  // (https://no-color.org): output piped into a file, a pager or a test must
  // never carry escape codes.
  static Terminal ForStdout();

  explicit Terminal(bool color) : color_(color) {}

  bool color() const { return color_; }

  // `text` wrapped in the escape codes of `tone`, or unchanged.
  std::string Paint(std::string_view text, Tone tone) const;

 private:
  bool color_;
};

}  // namespace twopc::cli
