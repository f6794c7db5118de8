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
inline constexpr char kCreateDecisionSchemaSql[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(1953984617, 0);"
    // CREATE SCHEMA checks the CREATE privilege on the database even when the
    // schema exists: only create it when it does not (an owner may have made
    // it for a role without that privilege).
    "DO $$BEGIN IF to_regnamespace('twopc') IS NULL THEN CREATE SCHEMA twopc; END IF; END$$;"
    // One row per decided transaction: the COMMIT row of the decider's own
    // transaction, or an ABORT fence written by recovery. The primary key is
    // what makes the first decision win (docs/protocol.md).
    "CREATE TABLE IF NOT EXISTS twopc.decisions ("
    " gtrid text PRIMARY KEY,"
    " decision text NOT NULL CHECK (decision IN ('commit', 'abort')),"
    " incarnation bigint NOT NULL,"
    " coordinator text NOT NULL,"
    " branches text NOT NULL,"
    " decided_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " fence_xmax bigint,"
    " CHECK ((decision = 'abort') = (fence_xmax IS NOT NULL)));"
    // Coordinator identities (the registry's: the first participant's).
    "CREATE SEQUENCE IF NOT EXISTS twopc.incarnations AS integer;"
    // Operator decisions against the protocol, kept as the audit trail.
    "CREATE TABLE IF NOT EXISTS twopc.heuristics ("
    " id bigserial PRIMARY KEY,"
    " gtrid text NOT NULL,"
    " gid text NOT NULL,"
    " participant text NOT NULL,"
    " action text NOT NULL,"
    " logged text,"
    " at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " note text NOT NULL,"
    " forgotten_at timestamptz);"
    "COMMIT;";

// One row: 'ready' (every object exists and the current role may use it),
// 'missing' or 'denied'; then the role (quoted as an identifier) and the
// database, for the message that says what to run.
inline constexpr char kDecisionSchemaReadySql[] =
    "SELECT CASE WHEN to_regclass('twopc.decisions') IS NULL"
    " OR to_regclass('twopc.heuristics') IS NULL"
    " OR to_regclass('twopc.incarnations') IS NULL THEN 'missing'"
    " WHEN has_table_privilege('twopc.decisions', 'SELECT, INSERT, DELETE')"
    " AND has_table_privilege('twopc.heuristics', 'SELECT, INSERT, UPDATE')"
    " AND has_sequence_privilege('twopc.incarnations', 'USAGE, SELECT, UPDATE') THEN 'ready'"
    " ELSE 'denied' END, quote_ident(current_user), current_database()";

// The columns every read of twopc.decisions selects, in RecordOfRow's order.
inline constexpr char kDecisionColumns[] =
    "gtrid, decision, incarnation, coordinator, branches,"
    " (extract(epoch FROM decided_at) * 1000)::bigint, fence_xmax";

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

// The snapshot bounds below are scalar subqueries on purpose: PostgreSQL
// runs an uncorrelated one once per statement (an InitPlan), but calls a
// volatile function written in the row's expression once per row. With
// thousands of prepared transactions open, each pg_current_snapshot() lists
// them all: 500 fences took 140 ms per statement instead of 5 ms.

// The ABORT fence: inserted unless a row for the gtrid exists (waiting for an
// insert in progress to end). $1 gtrid, $2 incarnation, $3 coordinator,
// $4 branches. The fence keeps the xmax of its snapshot: it may be deleted
// only once every transaction that was running then has ended.
inline constexpr char kInsertFenceSql[] =
    "INSERT INTO twopc.decisions (gtrid, decision, incarnation, coordinator, branches, fence_xmax)"
    " VALUES ($1, 'abort', $2::bigint, $3, $4,"
    " (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint))"
    " ON CONFLICT (gtrid) DO NOTHING";

// Many fences in one statement (recovery of a backlog): $1 the gtrids and
// $4 their branches, as text[] literals of equal length; $2 incarnation, $3
// coordinator. Returns the gtrids whose fence went in; for the others a row
// was already there (a COMMIT, or an earlier fence).
inline constexpr char kInsertFencesSql[] =
    "INSERT INTO twopc.decisions (gtrid, decision, incarnation, coordinator, branches, fence_xmax)"
    " SELECT t.gtrid, 'abort', $2::bigint, $3, t.branches, (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
    " FROM unnest($1::text[], $4::text[]) AS t(gtrid, branches)"
    " ON CONFLICT (gtrid) DO NOTHING RETURNING gtrid";

// Deletes the rows of the gtrids in $1 (a text[] literal) that may go: a
// COMMIT row whenever asked (its branches are all committed), an ABORT
// fence only under the xmin rule.
inline constexpr char kDeleteEndedSql[] =
    "DELETE FROM twopc.decisions WHERE gtrid = ANY($1::text[]) AND (decision = 'commit'"
    " OR fence_xmax <= (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint))";

// Every fence that the xmin rule lets go.
inline constexpr char kDeleteOldFencesSql[] =
    "DELETE FROM twopc.decisions WHERE decision = 'abort'"
    " AND fence_xmax <= (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)";

std::string EncodeBranches(const std::vector<BranchRef>& branches);
Result<std::vector<BranchRef>> DecodeBranches(std::string_view text);

// A text[] literal of `values` (each quoted and escaped), for `= ANY($1)`.
std::string TextArrayLiteral(const std::vector<std::string>& values);

// A row selected with kDecisionColumns, read as a record kept at `decider`.
Result<DecisionRecord> RecordOfRow(const std::vector<std::optional<std::string>>& row,
                                   const std::string& decider);

}  // namespace twopc::internal
