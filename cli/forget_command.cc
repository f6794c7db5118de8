// twopc forget GID: the operator acknowledges a heuristic outcome after
// repairing it (XA's xa_forget). The heuristic records stay in the log as
// the audit trail, marked forgotten; recovery and `twopc status` stop
// reporting them, so that the exit code shows again what is left to do.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "cli/json.h"
#include "cli/text.h"

namespace twopc::cli {
namespace {

struct ForgetOptions {
  std::string gid;
  bool json = false;
};

int RunForget(const GlobalOptions& global, const ForgetOptions& o) {
  int exit_code = kExitOk;
  auto manager = OpenManager(global, &exit_code);
  if (manager == nullptr) return exit_code;
  auto marked = manager->Forget(o.gid);
  int code = marked.ok() ? kExitOk : ExitCodeFor(marked.status());
  if (o.json) {
    PrintJson({{"gid", o.gid},
               {"forgotten", marked.ok() ? *marked : 0},
               {"error", marked.ok() ? nlohmann::json(nullptr) : StatusJson(marked.status())},
               {"exit_code", code}});
    return code;
  }
  if (!marked.ok()) {
    PrintError(marked.status().message());
    return code;
  }
  PrintOut(fmt::format("Forgot {} on '{}': `twopc status` no longer reports it.\n",
                       Plural(*marked, "heuristic decision", "heuristic decisions"),
                       Printable(o.gid)));
  return kExitOk;
}

}  // namespace

void AddForgetCommand(CLI::App& app, const GlobalOptions& global, int* exit_code) {
  auto o = std::make_shared<ForgetOptions>();
  CLI::App* cmd = app.add_subcommand(
      "forget",
      "Acknowledge a heuristic decision once its outcome was repaired (XA's xa_forget): "
      "status and recover stop reporting it; the log keeps it as forgotten");
  cmd->add_option("gid", o->gid, "The gid or gtrid of the heuristic decision (see `twopc status`)")
      ->required();
  cmd->add_flag("--json", o->json, "Print the outcome as one JSON document");
  cmd->callback([&global, exit_code, o] { *exit_code = RunForget(global, *o); });
}

}  // namespace twopc::cli
