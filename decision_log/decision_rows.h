// The decision rows of the store kept inside PostgreSQL (store = "postgres";
// docs/protocol.md, "Decisions inside PostgreSQL"): the `twopc` schema, the
// COMMIT row that the decider's own transaction inserts, and how a row reads
// back as a DecisionRecord. Shared by the store (decision_log/
// pg_decision_log.cc) and the commit protocol, which sends the COMMIT row in
// the decider's last pipeline.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "participants/query.h"
#include "twopc/decision_log.h"
#include "twopc/status.h"

namespace twopc::internal {

// Creates the schema; idempotent, and safe when several coordinators start
// at once (an advisory transaction lock serializes the CREATEs, which would
// otherwise race on the catalogs).
extern const char* const kCreateDecisionSchemaSql;

// One row: 'ready' (every object exists and the current role may use it),
// 'missing' or 'denied'; then the role (quoted as an identifier) and the
// database, for the message that says what to run.
extern const char* const kDecisionSchemaReadySql;

// The columns every read of twopc.decisions selects, in RecordOfRow's order.
extern const char* const kDecisionColumns;

// The advisory-lock class of a coordinator incarnation's registration
// (the key is (this class, incarnation)); ("twpi" in ASCII).
inline constexpr int64_t kIncarnationLockClass = 1953984617;

// "node-a.17@host:pid": who wrote a row (for people; recovery reads the
// incarnation column).
std::string CoordinatorLabel(std::string_view node_id, uint64_t incarnation);

// The statement the decider's transaction runs right before its COMMIT:
// the COMMIT decision of `record` (gtrid, the other branches). The gtrid is
// the table's primary key, so it fails (23505) when a fence is there first,
// and the decider's whole transaction, its work included, rolls back
// (docs/protocol.md, "First decision wins").
Query CommitRowQuery(const DecisionRecord& record, std::string_view coordinator);

// The ABORT fence: inserted unless a row for the gtrid exists (waiting for an
// insert in progress to end). $1 gtrid, $2 incarnation, $3 coordinator,
// $4 branches. The fence keeps the xmax of its snapshot: it may be deleted
// only once every transaction that was running then has ended.
extern const char* const kInsertFenceSql;

// Deletes the rows of the gtrids in $1 (a text[] literal) that may go: a
// COMMIT row whenever asked (its branches are all committed), an ABORT
// fence only under the xmin rule.
extern const char* const kDeleteEndedSql;

// Every fence that the xmin rule lets go.
extern const char* const kDeleteOldFencesSql;

std::string EncodeBranches(const std::vector<BranchRef>& branches);
Result<std::vector<BranchRef>> DecodeBranches(std::string_view text);

// A text[] literal of `values` (each quoted and escaped), for `= ANY($1)`.
std::string TextArrayLiteral(const std::vector<std::string>& values);

// A row selected with kDecisionColumns, read as a record kept at `decider`.
Result<DecisionRecord> RecordOfRow(const std::vector<std::optional<std::string>>& row,
                                   const std::string& decider);

}  // namespace twopc::internal
