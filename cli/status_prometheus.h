// `twopc status --prometheus`: the status report as Prometheus gauges, for
// hosts where only the CLI runs (node_exporter's textfile collector reads the
// file `--output` writes). docs/operations.md "`twopc status --prometheus`".
#pragma once

#include <string>

#include "cli/status_report.h"
#include "twopc/config.h"
#include "twopc/status.h"

namespace twopc::cli {

// The text exposition format of `report`. Labels carry participant names
// from the config only, never a conninfo (it may hold a password). A
// participant that could not be asked has twopc_participant_up 0 and no
// branch gauges (unknown is not zero); a log that could not be read leaves
// out the gauges read from it and sets twopc_decision_log_readable 0.
std::string StatusPrometheusText(const StatusReport& report, const CoordinatorOptions& options);

// Writes `text` to `path` so that a reader sees the old file or the new one,
// never half of one: a temporary file in the same directory (rename() is
// atomic only within one file system), fsynced, then renamed over `path`.
// The textfile collector reads files at any moment.
Status WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace twopc::cli
