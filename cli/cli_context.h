// What every `twopc` command shares: the global options, the exit codes, the
// way errors are printed, and opening a RecoveryManager from --config.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cli/terminal.h"
#include "twopc/recovery.h"
#include "twopc/status.h"

namespace twopc::cli {

// The exit codes, documented in the --help footer (kExitCodesHelp). A
// monitoring script reads them, so each has one meaning across commands.
inline constexpr int kExitOk = 0;           // nothing in doubt / done
inline constexpr int kExitInDoubt = 1;      // in-doubt remains, or the command failed
inline constexpr int kExitUsage = 2;        // usage or config error, no decision log, unknown gid
inline constexpr int kExitHeuristic = 3;    // heuristic/mixed outcome, or action refused
inline constexpr int kExitUnreachable = 4;  // a participant could not be reached

extern const char* const kExitCodesHelp;

struct GlobalOptions {
  std::string config_path = "./twopc.toml";
  Terminal terminal = Terminal::ForStdout();
};

// The exit code of a command that failed with `s`: InvalidArgument and
// NotFound 2, Conflict 3, Unavailable and TimedOut (a participant did not
// answer) 4, anything else 1.
int ExitCodeFor(const Status& s);

// "twopc: <message>" on stderr, then "twopc: <hint>" if there is one, each
// made Printable() as a whole: a newline in a message (which may quote a
// gid, a path or a log record) is printed as "\x0A", so that no input can
// forge a line of output.
void PrintError(std::string_view message, std::string_view hint = {});

// Loads the config and opens a RecoveryManager on it. On failure prints why
// and sets *exit_code: 2 for a config error (its message names file:line)
// and for a missing or empty decision log (operator commands never create
// one: the message names the resolved path, and how a relative one was
// resolved); a log that cannot be opened is reported as such, not as a
// config error. Views pass kReadOnly: they must not take the log lock (a
// coordinator starting meanwhile would be refused) nor bump the incarnation.
std::unique_ptr<RecoveryManager> OpenManager(
    const GlobalOptions& global, int* exit_code,
    RecoveryManager::LogAccess access = RecoveryManager::LogAccess::kExclusiveIfFree);

// True when [log] store = "postgres": the decisions are rows of the
// participants, [log] path is unused and the operator has no incarnation.
bool PostgresStore(const RecoveryManager& manager);

// "decision store postgres (twopc.decisions of a, b)".
std::string StoreText(const RecoveryManager& manager);

// "decision log PATH (incarnation N)" (the store's text for postgres) and, when a coordinator holds
// the log, that this command only reads it.
std::string LogLine(RecoveryManager& manager);

// Prints `text` on stdout as it is.
void PrintOut(std::string_view text);

}  // namespace twopc::cli
