#include "cli/terminal.h"

#include <unistd.h>

#include <cstdlib>

namespace twopc::cli {
namespace {

const char* EscapeOf(Tone tone) {
  switch (tone) {
    case Tone::kHeader:
      return "\033[1m";
    case Tone::kGood:
      return "\033[32m";
    case Tone::kWarn:
      return "\033[33m";
    case Tone::kBad:
      return "\033[1;31m";
    case Tone::kPlain:
      break;
  }
  return "";
}

}  // namespace

Terminal Terminal::ForStdout() {
  return Terminal(isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr);
}

std::string Terminal::Paint(std::string_view text, Tone tone) const {
  if (!color_ || tone == Tone::kPlain || text.empty()) return std::string(text);
  return std::string(EscapeOf(tone)) + std::string(text) + "\033[0m";
}

}  // namespace twopc::cli
