// The `twopc` subcommands. Each Add*Command registers its subcommand on
// `app`; when it is the one given, its callback runs the command and sets
// *exit_code. `global` and `exit_code` must outlive app.parse().
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cli_context.h"

namespace twopc::cli {

// twopc status [--json | --prometheus [--output FILE]]
void AddStatusCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
// twopc recover [--dry-run] [--json]
void AddRecoverCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
// twopc commit|rollback GID [--participant NAME] [--force] [--json]
void AddResolveCommands(CLI::App& app, const GlobalOptions& global, int* exit_code);
// twopc forget GID [--json]
void AddForgetCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
// twopc log show [--all] [--json] | verify [--json] | compact [--json]
void AddLogCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);
// twopc saga status [--json] [--saga-log PATH] | retry SAGA_ID [--json] [--saga-log PATH]
void AddSagaCommand(CLI::App& app, const GlobalOptions& global, int* exit_code);

}  // namespace twopc::cli
