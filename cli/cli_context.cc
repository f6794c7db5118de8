#include "cli/cli_context.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "cli/text.h"
#include "common/logging.h"
#include "twopc/config.h"
#include "twopc/logging.h"

namespace twopc::cli {

const char* const kExitCodesHelp =
    "Exit codes:\n"
    "  0  all resolved: nothing in doubt (or the command did what was asked)\n"
    "  1  in-doubt transactions remain, or the command failed\n"
    "  2  usage or config error (the message names file:line), no decision log at\n"
    "     the configured path (never created by these commands), unknown gid\n"
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

void PrintError(std::string_view message, std::string_view hint) {
  std::string out = "twopc: " + Printable(message) + "\n";
  if (!hint.empty()) out += "twopc: " + Printable(hint) + "\n";
  std::fputs(out.c_str(), stderr);
}

namespace {

// [log] path as written in the config (LoadConfigFile returns it resolved),
// or nullopt if the file cannot be read again.
std::optional<std::string> ConfiguredLogPath(const std::string& config_path) {
  std::ifstream in(config_path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  auto options = ParseConfig(text.str(), config_path);
  if (!options.ok()) return std::nullopt;
  return options->log.path;
}

// Why there is no log, and where the operator should look: a relative
// [log] path is resolved against the config file's directory, which is not
// the working directory a user may have in mind.
std::string NoLogHint(const std::string& config_path, const std::string& resolved) {
  std::string hint;
  std::optional<std::string> configured = ConfiguredLogPath(config_path);
  if (configured && !std::filesystem::path(*configured).is_absolute()) {
    hint = fmt::format(
        "[log] path \"{}\" in {} is relative: it is resolved against the config file's "
        "directory, {}. ",
        *configured, config_path, std::filesystem::path(resolved).parent_path().string());
  }
  return hint +
         "Operator commands never create a decision log (an empty one would roll back "
         "transactions the real log committed): point [log] path at the coordinator's log.";
}

}  // namespace

std::unique_ptr<RecoveryManager> OpenManager(const GlobalOptions& global, int* exit_code,
                                             RecoveryManager::LogAccess access) {
  auto options = LoadConfigFile(global.config_path);
  if (!options.ok()) {
    PrintError(options.status().message());
    *exit_code = kExitUsage;
    return nullptr;
  }
  // The config's [logging] governs the library's lines here as in the
  // coordinator. JSON lines replace the CLI's "twopc: warning: ..." lines on
  // stderr, so that one pipeline collects both processes' logs; stdout (the
  // listing, --json) is untouched either way.
  internal::ApplyLoggingOptions(options->logging);
  if (GetLogFormat() == LogFormat::kJson) SetLogSink(nullptr);
  std::string log_path = options->log.path;
  auto manager = RecoveryManager::Open(std::move(options).value(), access);
  if (!manager.ok()) {
    // The config was fine: this is about the log (or the node id), and the
    // status names the log's path itself.
    const Status& s = manager.status();
    PrintError("cannot open the decision log: " + s.ToString(),
               s.IsNotFound() ? NoLogHint(global.config_path, log_path) : "");
    *exit_code = ExitCodeFor(s);
    return nullptr;
  }
  return std::move(manager).value();
}

bool PostgresStore(const RecoveryManager& manager) {
  return manager.options().log.store == LogStore::kPostgres;
}

std::string StoreText(const RecoveryManager& manager) {
  std::string names;
  for (const ParticipantOptions& p : manager.options().participants) {
    names += (names.empty() ? "" : ", ") + p.name;
  }
  return fmt::format("decision store postgres (twopc.decisions of {})", names);
}

std::string LogLine(RecoveryManager& manager) {
  // The postgres store has no file, no lock and no incarnation of its own
  // (an operator draws none): [log] path is unused.
  if (PostgresStore(manager)) return StoreText(manager);
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
