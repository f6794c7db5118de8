// twopc commit|rollback GID: resolve one prepared branch by hand. The
// guard rails are RecoveryManager::Resolve's; this file explains its answer
// to the operator (what was done, or why not and what to read first).
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "cli/commands.h"
#include "cli/json.h"
#include "cli/text.h"

namespace twopc::cli {
namespace {

struct ResolveOptions {
  Decision action = Decision::kCommit;
  std::string gid;
  std::string participant;
  bool force = false;
  bool json = false;
};

const char* Verb(Decision action) { return action == Decision::kCommit ? "commit" : "rollback"; }
const char* PastVerb(Decision action) {
  return action == Decision::kCommit ? "Committed" : "Rolled back";
}

// Where the gid is prepared, scanned before resolving it: Resolve does not
// say which participant it acted on, nor whether one it could not reach
// might hold the gid.
struct Sighting {
  std::vector<std::string> holders;
  std::vector<Status> unreachable;
};

Sighting Look(RecoveryManager& manager, const ResolveOptions& o) {
  Sighting sighting;
  RecoveryManager::Listing listing = manager.ListPrepared(/*with_impact=*/false);
  for (const PreparedBranch& b : listing.branches) {
    if (b.gid == o.gid && (o.participant.empty() || b.participant == o.participant)) {
      sighting.holders.push_back(b.participant);
    }
  }
  sighting.unreachable = std::move(listing.unreachable);
  return sighting;
}

size_t HeuristicsFor(RecoveryManager& manager, const std::string& gid) {
  auto heuristics = manager.Heuristics();
  if (!heuristics.ok()) return 0;
  return std::count_if(heuristics->begin(), heuristics->end(),
                       [&](const HeuristicRecord& h) { return h.gid == gid; });
}

// What the log knows of a this-node gid that is no longer prepared.
std::string LogHint(RecoveryManager& manager, const std::string& gid) {
  auto gtrid = GtridOfGid(gid);
  if (!gtrid.ok()) return "";
  auto record = manager.log().Lookup(*gtrid);
  if (!record.ok()) return "";
  if (!record->has_value()) {
    return fmt::format(" The decision log has no record of {} (presumed abort).", *gtrid);
  }
  const DecisionRecord& r = **record;
  return fmt::format(" The decision log records {} for {}{}.", DecisionName(r.decision), *gtrid,
                     r.ended_at_ms ? ", completed at " + IsoUtc(*r.ended_at_ms) : "");
}

std::string UnreachableNames(const std::vector<Status>& unreachable) {
  std::string names;
  for (const Status& s : unreachable) names += (names.empty() ? "" : ", ") + s.participant();
  return names;
}

// What to tell the operator about a Resolve that failed: the message (which
// quotes the gid), a hint of ours on its own line, and the exit code.
struct Explanation {
  std::string message;
  std::string hint;
  int code = kExitInDoubt;
};

Explanation Explain(RecoveryManager& manager, const ResolveOptions& o, const Sighting& sighting,
                    const Status& s) {
  if (s.IsConflict()) {
    std::string hint =
        o.force ? "This is refused even with --force."
                : fmt::format(
                      "Read the heuristic-decision runbook in docs/operations.md before "
                      "retrying with --force: a forced {} is recorded in the decision log as a "
                      "heuristic decision and `twopc status` reports it until `twopc forget`.",
                      Verb(o.action));
    return {"refused: " + s.message(), hint, kExitHeuristic};
  }
  if (s.IsNotFound() && !sighting.unreachable.empty()) {
    return {fmt::format("{}; but {} could not be reached and may hold it: try again when it is "
                        "back",
                        s.message(), UnreachableNames(sighting.unreachable)),
            "", kExitUnreachable};
  }
  if (s.IsNotFound()) {
    return {s.message() + " -- it was already committed or rolled back, or never prepared." +
                LogHint(manager, o.gid),
            "", kExitUsage};
  }
  return {s.ToString(), "", ExitCodeFor(s)};
}

std::string DoneMessage(const ResolveOptions& o, const Sighting& sighting, bool heuristic) {
  std::string where = sighting.holders.size() == 1 ? " on participant " + sighting.holders[0]
                      : o.participant.empty()      ? ""
                                                   : " on participant " + o.participant;
  std::string out =
      fmt::format("{} prepared transaction '{}'{}.", PastVerb(o.action), o.gid, where);
  if (heuristic) {
    out += fmt::format(
        " Recorded as a heuristic decision in the decision log: `twopc status` reports it until "
        "you repair the outcome and run `twopc forget {}`.",
        o.gid);
  }
  return out;
}

int RunResolve(const GlobalOptions& global, const ResolveOptions& o) {
  int exit_code = kExitOk;
  auto manager = OpenManager(global, &exit_code);
  if (manager == nullptr) return exit_code;
  Sighting sighting = Look(*manager, o);
  size_t heuristics_before = HeuristicsFor(*manager, o.gid);
  Status s = manager->Resolve(o.gid, o.action, o.force, o.participant);
  bool heuristic = s.ok() && HeuristicsFor(*manager, o.gid) > heuristics_before;
  Explanation e = s.ok() ? Explanation{DoneMessage(o, sighting, heuristic), "", kExitOk}
                         : Explain(*manager, o, sighting, s);
  const std::string& message = e.message;
  const int code = e.code;
  if (o.json) {
    PrintJson({{"gid", o.gid},
               {"action", Verb(o.action)},
               {"participant", sighting.holders.size() == 1 ? nlohmann::json(sighting.holders[0])
                                                            : nlohmann::json(nullptr)},
               {"forced", o.force},
               {"heuristic_recorded", heuristic},
               {"result", s.ok()           ? "done"
                          : s.IsConflict() ? "refused"
                                           : "failed"},
               {"message", e.hint.empty() ? message : message + "\n" + e.hint},
               {"error", s.ok() ? nlohmann::json(nullptr) : StatusJson(s)},
               {"exit_code", code}});
  }
  if (s.ok() && !o.json) PrintOut(Printable(message) + "\n");
  if (!s.ok()) PrintError(message, e.hint);
  return code;
}

void AddResolveCommand(CLI::App& app, Decision action, const GlobalOptions& global,
                       int* exit_code) {
  auto o = std::make_shared<ResolveOptions>();
  o->action = action;
  std::string help =
      action == Decision::kCommit
          ? "COMMIT PREPARED one branch, if the decision log says commit (else --force)"
          : "ROLLBACK PREPARED one branch, if the log says abort or it is an undecided orphan "
            "(else --force)";
  CLI::App* cmd = app.add_subcommand(Verb(action), help);
  cmd->add_option("gid", o->gid, "The prepared transaction's gid (see `twopc status`)")->required();
  cmd->add_option("-p,--participant", o->participant,
                  "The participant it is prepared on (needed when several hold the gid)");
  cmd->add_flag("--force", o->force,
                "Act even against the decision log or on a foreign gid: a heuristic decision, "
                "recorded in the log (read docs/operations.md first)");
  cmd->add_flag("--json", o->json, "Print the outcome as one JSON document");
  cmd->callback([&global, exit_code, o] { *exit_code = RunResolve(global, *o); });
}

}  // namespace

void AddResolveCommands(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  AddResolveCommand(app, Decision::kCommit, global, exit_code);
  AddResolveCommand(app, Decision::kAbort, global, exit_code);
}

}  // namespace twopc::cli
