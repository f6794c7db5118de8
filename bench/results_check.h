// The pass/fail rules of --check and --check-results, applied to the JSON
// report (so that a results.json written earlier is judged exactly like a
// run that just ended):
//   * every point ran (no error) and attempted at least one operation;
//   * committed + aborted == attempted at every point;
//   * local, 2pc, 2pc-early-ack and null end with zero final violations;
//   * no acknowledged operation was lost in crash mode;
//   * every mode but `none` quiesced (nothing left in doubt or unfinished).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace twopc::bench {

// Prints each failure to stderr; returns how many there were.
int CheckResultsJson(const nlohmann::json& results);

// Reads and checks `path`. Returns the exit code: 0 passed, 3 failed, 2 the
// file is missing or is not a twopc-bench results.json.
int CheckResultsFile(const std::string& path);

}  // namespace twopc::bench
