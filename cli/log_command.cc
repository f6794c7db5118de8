// twopc log show|verify|compact: the decision log itself.
#include <fmt/format.h>

#include <memory>

#include "cli/cli_context.h"
#include "cli/commands.h"
#include "cli/json.h"
#include "cli/table.h"
#include "cli/text.h"

namespace twopc::cli {
namespace {

struct LogCommandOptions {
  bool all = false;
  bool json = false;
};

// With store = "postgres" a DECIDER column says which participant's
// twopc.decisions table holds each row.
std::string ShowTable(const std::vector<DecisionRecord>& records, bool pg_store,
                      const Terminal& term) {
  std::vector<std::string> header = {"GTRID",      "DECISION", "BRANCHES", "INCARNATION",
                                     "DECIDED AT", "ENDED AT", "HEURISTIC"};
  if (pg_store) header.insert(header.begin() + 1, "DECIDER");
  Table table(header);
  table.AlignRight(pg_store ? 4 : 3);
  for (const DecisionRecord& r : records) {
    std::vector<Cell> row = {
        r.gtrid,
        DecisionName(r.decision),
        BranchesText(r.branches),
        std::to_string(r.incarnation),
        IsoUtc(r.decided_at_ms),
        r.ended_at_ms ? Cell(IsoUtc(*r.ended_at_ms)) : Cell("pending", Tone::kWarn),
        r.heuristic ? Cell("yes", Tone::kBad) : Cell("no")};
    if (pg_store) row.insert(row.begin() + 1, Cell(r.decider.empty() ? "-" : r.decider));
    table.AddRow(std::move(row));
  }
  return table.Render(term);
}

// What the log commands call the log: its path, or the postgres store.
std::string LogName(const RecoveryManager& manager) {
  return PostgresStore(manager) ? StoreText(manager) : manager.options().log.path;
}

// The "path" of the log commands' JSON (null with store = "postgres") and
// the "store".
void AddStoreJson(const RecoveryManager& manager, nlohmann::json* doc) {
  bool pg = PostgresStore(manager);
  (*doc)["store"] = pg ? "postgres" : "sqlite";
  (*doc)["path"] = pg ? nlohmann::json(nullptr) : nlohmann::json(manager.options().log.path);
}

// Heuristic records: the unforgotten ones, and with --all the forgotten
// ones too (the audit trail of what operators forced and acknowledged).
std::string HeuristicsTable(const std::vector<HeuristicRecord>& records, const Terminal& term) {
  Table table({"AT", "GTRID", "GID", "PARTICIPANT", "ACTION", "LOG SAID", "FORGOTTEN AT"});
  for (const HeuristicRecord& h : records) {
    table.AddRow(
        {IsoUtc(h.at_ms), h.gtrid, h.gid, h.participant, DecisionName(h.action),
         h.logged ? DecisionName(*h.logged) : "none",
         h.forgotten_at_ms ? Cell(IsoUtc(*h.forgotten_at_ms)) : Cell("not yet", Tone::kBad)});
  }
  return table.Render(term);
}

int RunShow(const GlobalOptions& global, const LogCommandOptions& o) {
  int exit_code = kExitOk;
  auto manager = OpenManager(global, &exit_code, RecoveryManager::LogAccess::kReadOnly);
  if (manager == nullptr) return exit_code;
  auto records = o.all ? manager->log().All() : manager->PendingDecisions();
  auto heuristics = manager->Heuristics();
  if (!records.ok() || !heuristics.ok()) {
    const Status& s = records.ok() ? heuristics.status() : records.status();
    PrintError("cannot read the decision log: " + s.ToString());
    return ExitCodeFor(s);
  }
  if (!o.all) {
    std::erase_if(*heuristics,
                  [](const HeuristicRecord& h) { return h.forgotten_at_ms.has_value(); });
  }
  int64_t now_ms = NowMs();
  if (o.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const DecisionRecord& r : *records) list.push_back(RecordJson(r, false, now_ms));
    nlohmann::json forced = nlohmann::json::array();
    for (const HeuristicRecord& h : *heuristics) forced.push_back(HeuristicJson(h));
    nlohmann::json doc = {{"all", o.all}, {"records", list}, {"heuristics", forced}};
    AddStoreJson(*manager, &doc);
    PrintJson(doc);
    return kExitOk;
  }
  std::string title = fmt::format("{}: {}", o.all ? "Decision records" : "Pending (no END)",
                                  Plural(records->size(), "record", "records"));
  std::string out =
      Printable(LogLine(*manager)) + "\n\n" + global.terminal.Paint(title, Tone::kHeader) + "\n";
  if (!records->empty()) out += ShowTable(*records, PostgresStore(*manager), global.terminal);
  if (!heuristics->empty()) {
    out += "\n" +
           global.terminal.Paint(fmt::format("Heuristic decisions{}: {}",
                                             o.all ? "" : " (not forgotten)", heuristics->size()),
                                 Tone::kHeader) +
           "\n" + HeuristicsTable(*heuristics, global.terminal);
  }
  PrintOut(out);
  return kExitOk;
}

int RunVerify(const GlobalOptions& global, const LogCommandOptions& o) {
  int exit_code = kExitOk;
  auto manager = OpenManager(global, &exit_code, RecoveryManager::LogAccess::kReadOnly);
  if (manager == nullptr) return exit_code;
  auto problems = manager->log().Verify();
  bool mixed = false;
  if (!problems.ok()) {
    PrintError("cannot verify the decision log: " + problems.status().ToString());
    return kExitInDoubt;
  }
  // A mixed outcome nobody acknowledged is a problem of the log's content
  // too: the databases disagree about a committed transaction.
  auto heuristics = manager->Heuristics();
  if (heuristics.ok()) {
    for (const HeuristicRecord& h : UnresolvedHeuristics(*heuristics, manager->options().node_id)) {
      problems->push_back(fmt::format(
          "{}: mixed outcome: branch {} on {} ended {} against the log's {} ({}); repair it, "
          "then `twopc forget {}`",
          h.gtrid, h.gid, h.participant, DecisionName(h.action),
          h.logged ? DecisionName(*h.logged) : "presumed abort", h.note, h.gid));
      mixed = true;
    }
  }
  const std::string path = LogName(*manager);
  if (o.json) {
    nlohmann::json doc = {{"ok", problems->empty()}, {"problems", *problems}};
    AddStoreJson(*manager, &doc);
    PrintJson(doc);
  } else if (problems->empty()) {
    // Printable escapes a newline too: only the log's path is made
    // printable here, never the line end.
    PrintOut(Printable(path) + ": no problem found\n");
  } else {
    std::string out = global.terminal.Paint(
        Printable(fmt::format("{}: {}", path, Plural(problems->size(), "problem", "problems"))),
        Tone::kBad);
    out += "\n";
    for (const std::string& p : *problems) out += "  " + Printable(p) + "\n";
    PrintOut(out);
  }
  if (mixed) return kExitHeuristic;
  return problems->empty() ? kExitOk : kExitInDoubt;
}

int RunCompact(const GlobalOptions& global, const LogCommandOptions& o) {
  int exit_code = kExitOk;
  auto manager = OpenManager(global, &exit_code);
  if (manager == nullptr) return exit_code;
  const std::string path = LogName(*manager);
  if (!manager->holds_log_lock()) {
    // Deleting under a live writer would race its END records; the
    // coordinator's own log handle is the one to compact while it runs.
    PrintError(
        fmt::format("a coordinator is running and holds the decision log {}: compaction "
                    "needs the log's lock. Stop the coordinator (or run this when it is "
                    "down).",
                    path));
    return kExitInDoubt;
  }
  auto deleted = manager->log().Compact();
  if (!deleted.ok()) {
    PrintError("cannot compact the decision log: " + deleted.status().ToString());
    return ExitCodeFor(deleted.status());
  }
  if (o.json) {
    nlohmann::json doc = {{"deleted", *deleted}};
    AddStoreJson(*manager, &doc);
    PrintJson(doc);
  } else if (PostgresStore(*manager)) {
    // The store keeps COMMIT rows only until END (it deletes them itself):
    // what compaction finds are ABORT fences old enough that no transaction
    // still running can contradict them (their xmin rule).
    PrintOut(Printable(path) + fmt::format(": deleted {} (no running transaction can "
                                           "contradict them)\n",
                                           Plural(*deleted, "ABORT fence", "ABORT fences")));
  } else {
    PrintOut(Printable(path) +
             fmt::format(": deleted {} (ended)\n", Plural(*deleted, "record", "records")));
  }
  return kExitOk;
}

using Runner = int (*)(const GlobalOptions&, const LogCommandOptions&);

// Registers `log <name>`; returns its options for verb-specific flags.
std::shared_ptr<LogCommandOptions> AddLogVerb(CLI::App& log, const char* name, const char* help,
                                              Runner run, const GlobalOptions& global,
                                              int* exit_code, CLI::App** cmd) {
  auto o = std::make_shared<LogCommandOptions>();
  *cmd = log.add_subcommand(name, help);
  (*cmd)->add_flag("--json", o->json, "Print one JSON document");
  (*cmd)->callback([&global, exit_code, o, run] { *exit_code = run(global, *o); });
  return o;
}

}  // namespace

void AddLogCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* log = app.add_subcommand("log", "Inspect and maintain the decision log");
  log->require_subcommand(1);
  CLI::App* cmd = nullptr;
  auto show =
      AddLogVerb(*log, "show", "List the decision records without END (--all: every record)",
                 RunShow, global, exit_code, &cmd);
  cmd->add_flag("--all", show->all, "Every record, ended ones included (default: pending only)");
  AddLogVerb(*log, "verify", "Check the log's storage and every record; exit 1 on a problem",
             RunVerify, global, exit_code, &cmd);
  AddLogVerb(*log, "compact", "Delete ended records (only while no coordinator runs)", RunCompact,
             global, exit_code, &cmd);
}

}  // namespace twopc::cli
