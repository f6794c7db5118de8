// twopc saga status: the sagas a saga log holds unfinished -- running,
// compensating, and above all parked ones (a compensation kept failing and an
// operator must step in). It reads the log without its lock, so it works
// beside a live orchestrator and never blocks one starting.
// twopc saga retry: hands a parked saga back once the operator fixed the
// cause. It writes the log, so it takes the log's lock and refuses while an
// orchestrator runs.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/json.h"
#include "cli/table.h"
#include "cli/text.h"
#include "twopc/saga.h"

namespace twopc::cli {
namespace {

constexpr const char* kSagaExitCodesHelp =
    "Exit codes:\n"
    "  0  no unfinished saga\n"
    "  1  sagas are running or compensating (normal while an orchestrator works;\n"
    "     after it stopped, its next start resumes them)\n"
    "  2  usage error, or no saga log at the path\n"
    "  3  a saga is parked: its compensation kept failing; an operator must act\n"
    "The saga log is --saga-log, else twopc-sagas.db beside the config file.";

struct SagaStatusOptions {
  bool json = false;
  std::string log_path;  // empty: beside the config file
};

std::string DefaultLogPath(const GlobalOptions& global) {
  std::filesystem::path dir = std::filesystem::path(global.config_path).parent_path();
  return (dir.empty() ? std::filesystem::path(".") : dir) / "twopc-sagas.db";
}

int ExitCodeOf(const std::vector<SagaRecord>& sagas) {
  int code = kExitOk;
  for (const SagaRecord& s : sagas) {
    if (s.state == SagaState::kParked) return kExitHeuristic;
    code = kExitInDoubt;
  }
  return code;
}

Tone StateTone(SagaState s) {
  switch (s) {
    case SagaState::kParked:
      return Tone::kBad;
    case SagaState::kCompensating:
      return Tone::kWarn;
    default:
      return Tone::kPlain;
  }
}

// Forward: the step about to run; backward: the step about to be undone.
std::string StepText(const SagaRecord& s) {
  if (s.state == SagaState::kRunning) return fmt::format("{}/{}", s.next_step + 1, s.steps);
  if (s.next_step < 0) return "-";
  return fmt::format("undo {}/{}", s.next_step + 1, s.steps);
}

void PrintHuman(const std::string& path, const std::vector<SagaRecord>& sagas,
                const Terminal& term) {
  size_t parked = std::count_if(sagas.begin(), sagas.end(),
                                [](const SagaRecord& s) { return s.state == SagaState::kParked; });
  std::string out = "saga log " + Printable(path) + "\n\n";
  if (sagas.empty()) {
    PrintOut(out + term.Paint("Unfinished sagas: none", Tone::kHeader) + "\n");
    return;
  }
  int64_t now = NowMs();
  Table table({"SAGA", "NAME", "STATE", "STEP", "STARTED AT", "AGE", "IDLE", "LAST ERROR"});
  table.AlignRight(5);
  table.AlignRight(6);
  for (const SagaRecord& s : sagas) {
    table.AddRow({s.saga_id, s.name, Cell(SagaStateName(s.state), StateTone(s.state)), StepText(s),
                  IsoUtc(s.started_at_ms), Age(s.started_at_ms, now), Age(s.updated_at_ms, now),
                  Cell(s.last_error.empty() ? "-" : s.last_error,
                       s.state == SagaState::kParked ? Tone::kBad : Tone::kPlain)});
  }
  std::string title = fmt::format("Unfinished sagas: {}", sagas.size());
  if (parked > 0) title += fmt::format(" ({} parked: an operator must act)", parked);
  PrintOut(out + term.Paint(title, parked > 0 ? Tone::kBad : Tone::kHeader) + "\n" +
           table.Render(term));
}

nlohmann::json SagaJson(const SagaRecord& s) {
  return {{"saga_id", s.saga_id},
          {"name", s.name},
          {"state", SagaStateName(s.state)},
          {"parked", s.state == SagaState::kParked},
          {"steps", s.steps},
          {"next_step", s.next_step},
          {"last_error", s.last_error},
          {"started_at", IsoUtc(s.started_at_ms)},
          {"started_at_ms", s.started_at_ms},
          {"updated_at", IsoUtc(s.updated_at_ms)},
          {"updated_at_ms", s.updated_at_ms}};
}

void PrintSagaJson(const std::string& path, const std::vector<SagaRecord>& sagas, int exit_code) {
  nlohmann::json list = nlohmann::json::array();
  nlohmann::json counts = {{"running", 0}, {"compensating", 0}, {"parked", 0}};
  for (const SagaRecord& s : sagas) {
    list.push_back(SagaJson(s));
    auto& n = counts[SagaStateName(s.state)];
    n = n.get<int>() + 1;
  }
  PrintJson({{"saga_log", path}, {"sagas", list}, {"counts", counts}, {"exit_code", exit_code}});
}

int RunSagaStatus(const GlobalOptions& global, const SagaStatusOptions& options) {
  std::string path = options.log_path.empty() ? DefaultLogPath(global) : options.log_path;
  auto sagas = ReadUnfinishedSagas(path);
  if (!sagas.ok()) {
    PrintError(sagas.status().ToString());
    return ExitCodeFor(sagas.status());
  }
  int exit_code = ExitCodeOf(*sagas);
  if (options.json) {
    PrintSagaJson(path, *sagas, exit_code);
  } else {
    PrintHuman(path, *sagas, global.terminal);
  }
  return exit_code;
}

constexpr const char* kRetryExitCodesHelp =
    "Exit codes:\n"
    "  0  handed back: the orchestrator's next start undoes the remaining steps\n"
    "  1  not done: an orchestrator holds the saga log (call\n"
    "     SagaOrchestrator::RetryParked in it, or stop it and run this again),\n"
    "     or the log could not be written\n"
    "  2  usage error, no saga log at the path, no such saga, or it is not parked";

struct SagaRetryOptions {
  bool json = false;
  std::string log_path;  // empty: beside the config file
  std::string saga_id;
};

int RunSagaRetry(const GlobalOptions& global, const SagaRetryOptions& options) {
  std::string path = options.log_path.empty() ? DefaultLogPath(global) : options.log_path;
  auto saga = HandBackParkedSaga(path, options.saga_id);
  if (!saga.ok()) {
    std::string message = saga.status().ToString();
    if (saga.status().IsBusy()) {
      message +=
          "\nhint: while it runs, have the application call "
          "SagaOrchestrator::RetryParked(\"" +
          options.saga_id + "\"), or stop it and run this command again";
    }
    PrintError(message);
    return ExitCodeFor(saga.status());
  }
  if (options.json) {
    PrintJson({{"saga_log", path}, {"saga", SagaJson(*saga)}, {"exit_code", kExitOk}});
  } else {
    PrintOut(fmt::format(
        "saga {} ({}) handed back: compensating from step {} of {}.\n"
        "The next start of its orchestrator (SagaOrchestrator::Open) undoes the remaining "
        "steps;\ncompensations already applied are skipped. Check with: twopc saga status\n",
        Printable(saga->saga_id), Printable(saga->name), saga->next_step + 1, saga->steps));
  }
  return kExitOk;
}

}  // namespace

void AddSagaCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  CLI::App* saga = app.add_subcommand(
      "saga", "Inspect the orchestrated sagas of a saga log; hand parked ones back");
  saga->require_subcommand(1);
  auto options = std::make_shared<SagaStatusOptions>();
  CLI::App* status = saga->add_subcommand(
      "status",
      "List unfinished sagas (running, compensating, parked); parked ones need an "
      "operator");
  status->footer(kSagaExitCodesHelp);
  status->add_flag("--json", options->json, "Print one JSON document instead of a table");
  status->add_option("--saga-log", options->log_path,
                     "The saga log (default: twopc-sagas.db beside the config file)");
  status->callback([&global, exit_code, options] { *exit_code = RunSagaStatus(global, *options); });

  auto retry_options = std::make_shared<SagaRetryOptions>();
  CLI::App* retry = saga->add_subcommand(
      "retry",
      "Hand a parked saga back to its orchestrator once the cause is fixed: its next "
      "start undoes the remaining steps (only while no orchestrator holds the log)");
  retry->footer(kRetryExitCodesHelp);
  retry->add_option("saga-id", retry_options->saga_id, "The parked saga (from twopc saga status)")
      ->required();
  retry->add_flag("--json", retry_options->json, "Print one JSON document");
  retry->add_option("--saga-log", retry_options->log_path,
                    "The saga log (default: twopc-sagas.db beside the config file)");
  retry->callback(
      [&global, exit_code, retry_options] { *exit_code = RunSagaRetry(global, *retry_options); });
}

}  // namespace twopc::cli
