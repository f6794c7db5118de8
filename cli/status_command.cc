// twopc status: every prepared transaction on every participant, the
// decisions waiting for completion, the heuristic decisions operators forced
// and the participants that could not be asked.
#include <fmt/format.h>

#include <memory>

#include "cli/cli_context.h"
#include "cli/commands.h"
#include "cli/json.h"
#include "cli/status_prometheus.h"
#include "cli/status_report.h"
#include "cli/table.h"
#include "cli/text.h"
#include "twopc/config.h"

namespace twopc::cli {
namespace {

struct StatusOptions {
  bool json = false;
  bool prometheus = false;
  std::string output;  // --output: the Prometheus text goes to this file, not stdout
};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

Cell DecisionCell(const StatusReport& report, const PreparedBranch& b, bool pg_store) {
  std::string text = b.decision                                ? DecisionName(b.decision->decision)
                     : b.classified.kind == GidKind::kThisNode ? "none"
                                                               : "-";
  // With store = "postgres" an ABORT row is always a recovery fence.
  if (pg_store && b.decision && b.decision->decision == Decision::kAbort) text += " (fence)";
  if (!b.decision && !b.decision_error.ok()) {
    return Cell("unknown: " + Printable(b.decision_error.message()), Tone::kBad);
  }
  if (report.IsHeuristic(b)) return Cell(text + " (heuristic)", Tone::kBad);
  // This node's branch waits for recovery, whatever the log says.
  return Cell(text, b.classified.kind == GidKind::kThisNode ? Tone::kWarn : Tone::kPlain);
}

std::string PreparedSection(const StatusReport& report, bool pg_store, const Terminal& term) {
  const auto& branches = report.listing.branches;
  if (branches.empty()) return term.Paint("Prepared transactions: none", Tone::kHeader) + "\n";
  // With store = "postgres" the DECIDER column says whose twopc.decisions
  // table holds each branch's decision (from its tpc2 gid; "-" for others).
  std::vector<std::string> header = {"PARTICIPANT", "DATABASE",    "GID", "KIND",
                                     "XID",         "PREPARED AT", "AGE", "OWNER"};
  if (pg_store) header.emplace_back("DECIDER");
  for (const char* h : {"DECISION", "LOCKED RELATIONS", "WAITING", "XMIN AGE"})
    header.emplace_back(h);
  Table table(header);
  size_t shift = pg_store ? 1 : 0;
  for (size_t column : {6, 10, 11}) table.AlignRight(column < 8 ? column : column + shift);
  for (const PreparedBranch& b : branches) {
    std::vector<Cell> row = {b.participant,
                             b.database,
                             b.gid,
                             GidKindName(b.classified.kind),
                             b.classified.xid ? XidText(*b.classified.xid) : "-",
                             IsoUtc(b.prepared_at_ms),
                             Age(b.prepared_at_ms, report.now_ms),
                             b.owner_role};
    if (pg_store) {
      const auto& parts = b.classified.parts;
      row.emplace_back(parts && !parts->decider.empty() ? parts->decider : "-");
    }
    row.push_back(DecisionCell(report, b, pg_store));
    row.emplace_back(b.locked_relations.empty() ? "-" : Join(b.locked_relations));
    row.emplace_back(std::to_string(b.waiting_sessions),
                     b.waiting_sessions > 0 ? Tone::kBad : Tone::kPlain);
    row.emplace_back(std::to_string(b.xmin_age));
    table.AddRow(std::move(row));
  }
  return term.Paint(fmt::format("Prepared transactions: {}", branches.size()), Tone::kHeader) +
         "\n" + table.Render(term);
}

std::string PendingSection(const StatusReport& report, bool pg_store, const Terminal& term) {
  if (report.pending.empty()) return "";
  std::vector<std::string> header = {"GTRID",      "DECISION", "BRANCHES", "INCARNATION",
                                     "DECIDED AT", "AGE",      "HEURISTIC"};
  if (pg_store) header.insert(header.begin() + 1, "DECIDER");
  Table table(header);
  table.AlignRight(3 + (pg_store ? 1 : 0));
  table.AlignRight(5 + (pg_store ? 1 : 0));
  for (const DecisionRecord& r : report.pending) {
    bool heuristic = report.IsHeuristic(r);
    std::vector<Cell> row = {r.gtrid,
                             Cell(DecisionName(r.decision), Tone::kWarn),
                             BranchesText(r.branches),
                             std::to_string(r.incarnation),
                             IsoUtc(r.decided_at_ms),
                             Age(r.decided_at_ms, report.now_ms),
                             Cell(heuristic ? "yes" : "no", heuristic ? Tone::kBad : Tone::kPlain)};
    if (pg_store) row.insert(row.begin() + 1, Cell(r.decider.empty() ? "-" : r.decider));
    table.AddRow(std::move(row));
  }
  return "\n" +
         term.Paint(
             fmt::format("Pending completion (decided, no END yet): {}", report.pending.size()),
             Tone::kHeader) +
         "\n" + table.Render(term);
}

std::string HeuristicSection(const StatusReport& report, const Terminal& term) {
  if (report.heuristics.empty()) return "";
  Table table({"AT", "GTRID", "GID", "PARTICIPANT", "ACTION", "LOG SAID", "OUTCOME", "NOTE"});
  for (const HeuristicRecord& h : report.heuristics) {
    bool foreign = report.IsForeign(h);
    table.AddRow({IsoUtc(h.at_ms), h.gtrid, h.gid, h.participant,
                  Cell(DecisionName(h.action), foreign ? Tone::kWarn : Tone::kBad),
                  h.logged ? DecisionName(*h.logged) : "none",
                  foreign ? Cell("foreign gid: no twopc decision") : Cell("mixed", Tone::kBad),
                  h.note});
  }
  return "\n" +
         term.Paint(fmt::format("Heuristic decisions (forced by an operator; `twopc forget` "
                                "acknowledges one once repaired): {}",
                                report.heuristics.size()),
                    Tone::kBad) +
         "\n" + table.Render(term);
}

std::string ConninfoOf(const CoordinatorOptions& options, const std::string& participant) {
  for (const ParticipantOptions& p : options.participants) {
    if (p.name == participant) return RedactConninfo(p.conninfo);
  }
  return "-";
}

std::string UnreachableSection(const StatusReport& report, const CoordinatorOptions& options,
                               const Terminal& term) {
  const auto& unreachable = report.listing.unreachable;
  if (unreachable.empty()) return "";
  Table table({"PARTICIPANT", "CONNINFO", "ERROR"});
  for (const Status& s : unreachable) {
    table.AddRow({Cell(s.participant(), Tone::kBad), ConninfoOf(options, s.participant()),
                  fmt::format("{}: {}", Status::CodeName(s.code()), s.message())});
  }
  return "\n" +
         term.Paint(fmt::format("Unreachable participants: {}", unreachable.size()), Tone::kBad) +
         "\n" + table.Render(term);
}

std::string LogErrorSection(const StatusReport& report, const Terminal& term) {
  std::string out;
  for (const Status& s : report.log_errors) {
    out +=
        "\n" + term.Paint("Decision log unreadable: ", Tone::kBad) + Printable(s.ToString()) + "\n";
  }
  return out;
}

void PrintHuman(RecoveryManager& manager, const StatusReport& report, const Terminal& term) {
  bool pg_store = PostgresStore(manager);
  PrintOut(Printable(LogLine(manager)) + "\n\n" + PreparedSection(report, pg_store, term) +
           PendingSection(report, pg_store, term) + HeuristicSection(report, term) +
           UnreachableSection(report, manager.options(), term) + LogErrorSection(report, term));
}

void PrintStatusJson(RecoveryManager& manager, const StatusReport& report) {
  nlohmann::json prepared = nlohmann::json::array();
  for (const PreparedBranch& b : report.listing.branches) {
    prepared.push_back(BranchJson(b, report.IsHeuristic(b), report.now_ms));
  }
  nlohmann::json pending = nlohmann::json::array();
  for (const DecisionRecord& r : report.pending) {
    pending.push_back(RecordJson(r, report.IsHeuristic(r), report.now_ms));
  }
  nlohmann::json heuristics = nlohmann::json::array();
  for (const HeuristicRecord& h : report.heuristics) {
    nlohmann::json item = HeuristicJson(h);
    item["foreign"] = report.IsForeign(h);
    heuristics.push_back(std::move(item));
  }
  nlohmann::json unreachable = nlohmann::json::array();
  for (const Status& s : report.listing.unreachable) {
    unreachable.push_back({{"participant", s.participant()},
                           {"conninfo", ConninfoOf(manager.options(), s.participant())},
                           {"error", StatusJson(s)}});
  }
  nlohmann::json log_errors = nlohmann::json::array();
  for (const Status& s : report.log_errors) log_errors.push_back(StatusJson(s));
  PrintJson({{"node_id", manager.options().node_id},
             {"decision_log", LogJson(manager)},
             {"prepared", prepared},
             {"pending", pending},
             {"heuristics", heuristics},
             {"unreachable", unreachable},
             {"log_errors", log_errors},
             {"exit_code", report.ExitCode()}});
}

int RunStatus(const GlobalOptions& global, const StatusOptions& options) {
  int exit_code = kExitOk;
  auto manager = OpenManager(global, &exit_code, RecoveryManager::LogAccess::kReadOnly);
  if (manager == nullptr) return exit_code;
  StatusReport report = GatherStatus(*manager);
  if (options.prometheus) {
    std::string text = StatusPrometheusText(report, manager->options());
    if (options.output.empty()) {
      PrintOut(text);
    } else if (Status s = WriteFileAtomically(options.output, text); !s.ok()) {
      PrintError(s.ToString());
      return kExitInDoubt;
    }
    // The same exit code as the table: a cron job that alerts on it keeps
    // working, and the file is written whatever the code (an unreachable
    // participant is exactly what it must show).
    return report.ExitCode();
  }
  if (options.json) {
    PrintStatusJson(*manager, report);
  } else {
    PrintHuman(*manager, report, global.terminal);
  }
  return report.ExitCode();
}

}  // namespace

void AddStatusCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand(
      "status",
      "Show every prepared transaction, decisions pending completion, heuristic decisions and "
      "unreachable participants");
  CLI::Option* json =
      cmd->add_flag("--json", options->json, "Print one JSON document instead of tables");
  CLI::Option* prometheus =
      cmd->add_flag("--prometheus", options->prometheus,
                    "Print Prometheus gauges (text exposition format) instead of tables, e.g. for "
                    "node_exporter's textfile collector");
  prometheus->excludes(json);
  cmd->add_option("--output", options->output,
                  "With --prometheus: write the gauges to FILE atomically (a temporary file in "
                  "its directory, then rename) instead of printing them")
      ->needs(prometheus);
  cmd->callback([&global, exit_code, options] { *exit_code = RunStatus(global, *options); });
}

}  // namespace twopc::cli
