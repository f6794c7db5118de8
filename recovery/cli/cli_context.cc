#include "recovery/cli/cli_context.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "recovery/cli/text.h"
#include "twopc/config.h"

namespace twopc::cli {

const char* const kExitCodesHelp =
    "Exit codes:\n"
    "  0  all resolved: nothing in doubt (or the command did what was asked)\n"
    "  1  in-doubt transactions remain, or the command failed\n"
    "  2  usage or config error (the message names file:line), unknown gid\n"
    "  3  heuristic or mixed outcome found, or an operator action refused\n"
    "     because it contradicts the decision log (see --force and docs/operations.md)\n"
    "  4  a participant could not be reached\n"
    "The config file is --config, else $TWOPC_CONFIG, else ./twopc.toml.";

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
      return kExitOk;
    case Status::Code::kInvalidArgument:
    case Status::Code::kNotFound:
      return kExitUsage;
    case Status::Code::kConflict:
      return kExitHeuristic;
    case Status::Code::kUnavailable:
    case Status::Code::kTimedOut:
      return kExitUnreachable;
    default:
      return kExitInDoubt;
  }
}

void PrintError(std::string_view message) {
  std::string out;
  // Line by line: a message may hold a hint on its own line, but no other
  // control character.
  for (size_t start = 0; start <= message.size();) {
    size_t end = std::min(message.find('\n', start), message.size());
    out += "twopc: " + Printable(message.substr(start, end - start)) + "\n";
    start = end + 1;
  }
  std::fputs(out.c_str(), stderr);
}

std::unique_ptr<RecoveryManager> OpenManager(const GlobalOptions& global, int* exit_code,
                                             RecoveryManager::LogAccess access) {
  auto options = LoadConfigFile(global.config_path);
  if (!options.ok()) {
    PrintError(options.status().message());
    *exit_code = kExitUsage;
    return nullptr;
  }
  auto manager = RecoveryManager::Open(std::move(options).value(), access);
  if (!manager.ok()) {
    PrintError(fmt::format("cannot open {}: {}", global.config_path, manager.status().ToString()));
    *exit_code = ExitCodeFor(manager.status());
    return nullptr;
  }
  return std::move(manager).value();
}

std::string LogLine(RecoveryManager& manager) {
  std::string line =
      fmt::format("decision log {} (incarnation {})", Printable(manager.options().log.path),
                  manager.log().incarnation());
  if (manager.coordinator_running()) {
    line += ": a running coordinator holds it; this command only reads it";
  }
  return line;
}

void PrintOut(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

}  // namespace twopc::cli
