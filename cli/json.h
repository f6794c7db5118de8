// The --json shapes of the CLI's listings: one document on stdout, field
// names in snake_case, times both as ISO-8601 UTC and as unix milliseconds.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "twopc/decision_log.h"
#include "twopc/recovery.h"
#include "twopc/status.h"

namespace twopc::cli {

// {"format_id", "gtrid", "bqual", "gtrid_hex", "bqual_hex"}: a foreign
// manager's gtrid may be binary, so the hex forms are exact and the text
// forms are Printable().
nlohmann::json XidJson(const Xid& xid);

// `decision` is the log column as `twopc status` shows it ("commit",
// "abort", "none" for this node's undecided branch, null for foreign ones);
// `heuristic` says whether an operator forced any branch of its transaction.
nlohmann::json BranchJson(const PreparedBranch& branch, bool heuristic, int64_t now_ms);
nlohmann::json RecordJson(const DecisionRecord& record, bool heuristic, int64_t now_ms);
nlohmann::json HeuristicJson(const HeuristicRecord& record);
nlohmann::json ActionJson(const RecoveryAction& action);
// {"code", "participant", "sqlstate", "message"}
nlohmann::json StatusJson(const Status& status);

// The "decision_log" object of status and recover: {"store", "path",
// "incarnation", "held_by_coordinator"}; path and incarnation are null with
// store = "postgres" (no file; an operator draws no incarnation), which adds
// "participants" (whose twopc.decisions tables hold the decisions).
nlohmann::json LogJson(RecoveryManager& manager);

// Prints `doc` and a newline on stdout. Invalid UTF-8 (a binary gid) is
// replaced rather than aborting the dump half-way.
void PrintJson(const nlohmann::json& doc);

}  // namespace twopc::cli
