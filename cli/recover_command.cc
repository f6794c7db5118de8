// twopc recover [--dry-run]: one recovery pass (docs/protocol.md, "Recovery"),
// every action it took (or would take) and a summary.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "cli/json.h"
#include "cli/table.h"
#include "cli/text.h"

namespace twopc::cli {
namespace {

struct RecoverOptions {
  bool dry_run = false;
  bool json = false;
};

Tone ToneOf(RecoveryActionKind kind) {
  switch (kind) {
    case RecoveryActionKind::kCommitPrepared:
    case RecoveryActionKind::kRollbackPrepared:
    case RecoveryActionKind::kFence:
    case RecoveryActionKind::kEnd:
    case RecoveryActionKind::kEndSessions:
      return Tone::kGood;
    case RecoveryActionKind::kSkipLive:
    case RecoveryActionKind::kSkipUnstable:
    case RecoveryActionKind::kRetryLater:
      return Tone::kWarn;
    case RecoveryActionKind::kMixed:
      return Tone::kBad;
    case RecoveryActionKind::kSkipForeign:
      break;
  }
  return Tone::kPlain;
}

std::string Detail(const RecoveryAction& a) {
  if (a.status.ok()) return a.detail;
  return a.detail.empty() ? a.status.ToString() : a.detail + ": " + a.status.ToString();
}

std::string Summary(const RecoveryReport& r) {
  return fmt::format(
      "{} {}; {} of this node still in doubt; {} foreign (untouched); {} "
      "unreachable; {} heuristic or mixed",
      r.dry_run ? "Would resolve" : "Resolved", Plural(r.resolved, "branch", "branches"),
      r.in_doubt_remaining, r.foreign, Plural(r.unreachable, "participant", "participants"),
      r.mixed);
}

void PrintHuman(RecoveryManager& manager, const RecoveryReport& report, const Terminal& term) {
  std::string out = Printable(LogLine(manager)) + "\n";
  if (!manager.holds_log_lock()) {
    out +=
        "Only recorded decisions are driven forward: undecided branches belong to the "
        "running coordinator.\n";
  }
  if (report.dry_run) out += term.Paint("Dry run: nothing was changed.", Tone::kHeader) + "\n";
  out += "\n";
  if (report.actions.empty()) {
    out += "No actions.\n";
  } else {
    Table table({"ACTION", "PARTICIPANT", "GID", "DETAIL"});
    for (const RecoveryAction& a : report.actions) {
      table.AddRow({Cell(RecoveryActionName(a.kind), ToneOf(a.kind)),
                    a.participant.empty() ? "-" : a.participant, a.gid.empty() ? a.gtrid : a.gid,
                    Detail(a)});
    }
    out += table.Render(term);
  }
  int code = report.ExitCode();
  out += "\n" + term.Paint(Summary(report), code == kExitOk ? Tone::kGood : Tone::kWarn) + "\n";
  PrintOut(out);
}

void PrintRecoverJson(RecoveryManager& manager, const RecoveryReport& r) {
  nlohmann::json actions = nlohmann::json::array();
  for (const RecoveryAction& a : r.actions) actions.push_back(ActionJson(a));
  PrintJson({{"dry_run", r.dry_run},
             {"decision_log", LogJson(manager)},
             {"actions", actions},
             {"resolved", r.resolved},
             {"in_doubt_remaining", r.in_doubt_remaining},
             {"foreign", r.foreign},
             {"unreachable", r.unreachable},
             {"mixed", r.mixed},
             {"exit_code", r.ExitCode()}});
}

int RunRecover(const GlobalOptions& global, const RecoverOptions& options) {
  int exit_code = kExitOk;
  // A dry run takes the lock when it is free, so that it reports what a
  // real pass would fence, but must not bump the incarnation or write.
  auto manager = OpenManager(global, &exit_code,
                             options.dry_run ? RecoveryManager::LogAccess::kInspectIfFree
                                             : RecoveryManager::LogAccess::kExclusiveIfFree);
  if (manager == nullptr) return exit_code;
  RecoveryPassOptions pass;
  pass.dry_run = options.dry_run;
  pass.pace = manager->options().recovery.pace;
  pass.live_grace = manager->options().recovery.live_grace;
  RecoveryReport report = manager->RunPass(pass);
  if (options.json) {
    PrintRecoverJson(*manager, report);
  } else {
    PrintHuman(*manager, report, global.terminal);
  }
  return report.ExitCode();
}

}  // namespace

void AddRecoverCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  auto options = std::make_shared<RecoverOptions>();
  CLI::App* cmd = app.add_subcommand(
      "recover",
      "Run one recovery pass: complete logged decisions, fence and roll back this node's "
      "orphans");
  cmd->add_flag("--dry-run", options->dry_run, "Report what would be done; change nothing");
  cmd->add_flag("--json", options->json, "Print one JSON document instead of a table");
  cmd->callback([&global, exit_code, options] { *exit_code = RunRecover(global, *options); });
}

}  // namespace twopc::cli
