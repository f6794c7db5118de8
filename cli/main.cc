// twopc: the operator's CLI. A thin shell over
// twopc::RecoveryManager: it parses, calls, and prints tables or JSON.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string_view>

#include "cli/cli_context.h"
#include "cli/commands.h"
#include "twopc/logging.h"

namespace twopc::cli {
namespace {

// Nothing but the listing may reach stdout: one warning there would break a
// --json document or a table being piped somewhere. The library logs to its
// own logger (twopc/logging.h), the CLI itself through spdlog's default
// logger; both go to stderr as "twopc: <level>: <message>", uncoloured, so
// that no escape code reaches a file either.
void RouteLibraryLogsToStderr() {
  auto logger = spdlog::stderr_logger_mt("twopc");
  logger->set_pattern("twopc: %l: %v");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  twopc::SetLogSink([](twopc::LogLevel level, std::string_view message) {
    const char* name = level == twopc::LogLevel::kError  ? "error"
                       : level == twopc::LogLevel::kWarn ? "warning"
                       : level == twopc::LogLevel::kInfo ? "info"
                                                         : "debug";
    std::fprintf(stderr, "twopc: %s: %.*s\n", name, static_cast<int>(message.size()),
                 message.data());
  });
  twopc::SetLogLevel(twopc::LogLevel::kWarn);
}

int Run(int argc, char** argv) {
  GlobalOptions global;
  int exit_code = kExitOk;
  CLI::App app("twopc: see and resolve in-doubt two-phase-commit transactions on PostgreSQL and MariaDB",
               "twopc");
  // --config (and --help) may come after the subcommand too.
  app.fallthrough();
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  app.add_option("-c,--config", global.config_path,
                 "The twopc TOML config naming the participants and the decision log")
      ->envname("TWOPC_CONFIG")
      ->capture_default_str();
  AddStatusCommand(app, global, &exit_code);
  AddRecoverCommand(app, global, &exit_code);
  AddResolveCommands(app, global, &exit_code);
  AddForgetCommand(app, global, &exit_code);
  AddLogCommand(app, global, &exit_code);
  AddSagaCommand(app, global, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0; everything else is a
    // usage error.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}

}  // namespace
}  // namespace twopc::cli

int main(int argc, char** argv) {
  twopc::cli::RouteLibraryLogsToStderr();
  return twopc::cli::Run(argc, argv);
}
