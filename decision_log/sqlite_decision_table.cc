#include "decision_log/sqlite_decision_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "twopc/gid.h"

namespace twopc::internal {
namespace {

// Version 2 added heuristics.forgotten_at_ms (`twopc forget`). A version-1
// log is migrated at its first writable open; read-only opens read it as it
// is (they must not write: a full disk, a coordinator holding the log).
constexpr int64_t kFormatVersion = 2;
constexpr int64_t kOldestReadableVersion = 1;

constexpr const char* kCreateSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
INSERT INTO meta(key, value) VALUES ('incarnation', 0);
CREATE TABLE decisions(
  gtrid TEXT PRIMARY KEY NOT NULL,
  decision TEXT NOT NULL CHECK (decision IN ('commit', 'abort')),
  branches TEXT NOT NULL,
  heuristic INTEGER NOT NULL,
  incarnation INTEGER NOT NULL,
  decided_at_ms INTEGER NOT NULL,
  ended_at_ms INTEGER);
-- Recovery reads the records without END at every start and pass, while
-- ended ones pile up until compaction: index only the unended ones, in the
-- order Unended() returns them (rowid is implied).
CREATE INDEX decisions_unended ON decisions(decided_at_ms) WHERE ended_at_ms IS NULL;
)sql";

// Forced operator decisions, kept apart from `decisions` (which stay
// first-wins) and never compacted: they are what `twopc status` reports as
// heuristic or mixed outcomes.
constexpr const char* kCreateHeuristics = R"sql(
CREATE TABLE IF NOT EXISTS heuristics(
  id INTEGER PRIMARY KEY,
  gtrid TEXT NOT NULL,
  gid TEXT NOT NULL,
  participant TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('commit', 'abort')),
  logged TEXT CHECK (logged IN ('commit', 'abort')),
  at_ms INTEGER NOT NULL,
  note TEXT NOT NULL,
  forgotten_at_ms INTEGER);
)sql";

// Version 1 -> 2. A version-1 log may lack `heuristics` altogether (it was
// added to version 1 without a migration); kCreateHeuristics runs first and
// then already has the column, hence the check in MigrateToVersion2.
constexpr const char* kAddForgottenAt = "ALTER TABLE heuristics ADD COLUMN forgotten_at_ms INTEGER";

#define TWOPC_RECORD_COLUMNS \
  "gtrid, decision, branches, heuristic, incarnation, decided_at_ms, ended_at_ms"

// True when `text` needs no escaping in a JSON string: printable ASCII
// without quote or backslash. Gids and participant names always are (the gid
// codec and the config allow nothing else), so the common path is plain
// concatenation; anything else goes through nlohmann, which escapes it and
// rejects invalid UTF-8.
bool IsPlainJsonText(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
}

// What nlohmann's dump() writes for the same branches (object keys sorted):
// the fast path must not change the stored format.
std::optional<std::string> EncodePlainBranches(const std::vector<BranchRef>& branches) {
  size_t size = 2;
  for (const BranchRef& b : branches) {
    if (!IsPlainJsonText(b.participant) || !IsPlainJsonText(b.gid)) return std::nullopt;
    size += b.participant.size() + b.gid.size() + 32;
  }
  std::string out;
  out.reserve(size);
  out += '[';
  for (const BranchRef& b : branches) {
    if (out.size() > 1) out += ',';
    out += R"({"gid":")";
    out += b.gid;
    out += R"(","participant":")";
    out += b.participant;
    out += '"';
    if (b.txid != 0) {
      out += R"(,"txid":)";
      out += std::to_string(b.txid);
    }
    out += '}';
  }
  out += ']';
  return out;
}

Result<std::string> EncodeBranches(const std::vector<BranchRef>& branches) {
  // The log writer encodes every COMMIT record on its one thread: the
  // profile showed nlohmann's document building as a tenth of its work.
  if (auto plain = EncodePlainBranches(branches)) return std::move(*plain);
  nlohmann::json array = nlohmann::json::array();
  for (const BranchRef& b : branches) {
    nlohmann::json item = {{"participant", b.participant}, {"gid", b.gid}};
    if (b.txid != 0) item["txid"] = b.txid;
    array.push_back(std::move(item));
  }
  try {
    return array.dump();
  } catch (const nlohmann::json::exception& e) {
    // Only invalid UTF-8 makes dump() throw.
    return Status::InvalidArgument(fmt::format("branch is not valid UTF-8: {}", e.what()));
  }
}

Result<std::vector<BranchRef>> DecodeBranches(const std::string& text) {
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return Status::Corruption("branches are not a JSON array");
  std::vector<BranchRef> branches;
  for (const auto& item : json) {
    auto participant = item.is_object() ? item.find("participant") : item.end();
    auto gid = item.is_object() ? item.find("gid") : item.end();
    if (participant == item.end() || gid == item.end() || !participant->is_string() ||
        !gid->is_string()) {
      return Status::Corruption("a branch lacks a participant or gid string");
    }
    BranchRef b{participant->get<std::string>(), gid->get<std::string>()};
    // Records written before transaction ids were kept have none (0).
    auto txid = item.find("txid");
    if (txid != item.end()) {
      if (!txid->is_number_unsigned()) return Status::Corruption("a branch's txid is not a number");
      b.txid = txid->get<uint64_t>();
    }
    branches.push_back(std::move(b));
  }
  return branches;
}

std::optional<Decision> ParseDecision(const std::string& name) {
  if (name == DecisionName(Decision::kCommit)) return Decision::kCommit;
  if (name == DecisionName(Decision::kAbort)) return Decision::kAbort;
  return std::nullopt;
}

// The row under `stmt`, selected as TWOPC_RECORD_COLUMNS.
Result<DecisionRecord> ReadRecord(SqliteStatement* stmt, const std::string& path) {
  DecisionRecord record;
  record.gtrid = stmt->ColumnText(0);
  auto corrupt = [&](std::string_view why) {
    return Status::Corruption(
        fmt::format("decision log {}: record for gtrid '{}': {}", path, record.gtrid, why));
  };
  std::optional<Decision> decision = ParseDecision(stmt->ColumnText(1));
  if (!decision) return corrupt("unknown decision");
  record.decision = *decision;
  auto branches = DecodeBranches(stmt->ColumnText(2));
  if (!branches.ok()) return corrupt(branches.status().message());
  record.branches = std::move(branches).value();
  record.heuristic = stmt->ColumnInt64(3) != 0;
  record.incarnation = static_cast<uint64_t>(stmt->ColumnInt64(4));
  record.decided_at_ms = stmt->ColumnInt64(5);
  if (!stmt->ColumnIsNull(6)) record.ended_at_ms = stmt->ColumnInt64(6);
  return record;
}

Status CheckFormatVersion(SqliteDb* db, int64_t version) {
  if (version >= kOldestReadableVersion && version <= kFormatVersion) return Status::OK();
  if (version == 0) {
    return Status::InvalidArgument(fmt::format("{} is not a twopc decision log", db->path()));
  }
  return Status::InvalidArgument(
      fmt::format("decision log {} has format version {}; this twopc reads versions {} to {}",
                  db->path(), version, kOldestReadableVersion, kFormatVersion));
}

// A file without any schema (0 bytes, or an SQLite database nobody wrote a
// table into) is a log that was never initialized: what a coordinator's
// first start leaves when it dies between creating the file and committing
// the schema. It is "no log yet", the same as a missing file.
Status NoLogYet(SqliteDb* db) {
  return Status::NotFound(
      fmt::format("decision log {} is empty: no coordinator has initialized it", db->path()));
}

// Sets *is_new for a file without any schema (a new log); fails for a
// database that is someone else's or of another format version.
Status CheckFormat(SqliteDb* db, bool* is_new) {
  auto version = db->QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.TakeStatus();
  *is_new = false;
  if (*version != 0) return CheckFormatVersion(db, *version);
  auto objects = db->QueryInt("SELECT count(*) FROM sqlite_schema");
  if (!objects.ok()) return objects.TakeStatus();
  if (*objects != 0) return CheckFormatVersion(db, 0);
  *is_new = true;
  return Status::OK();
}

Result<bool> HasColumn(SqliteDb* db, const char* table, const char* column);

Status MigrateToVersion2(SqliteDb* db) {
  auto has = HasColumn(db, "heuristics", "forgotten_at_ms");
  if (!has.ok()) return has.TakeStatus();
  if (!*has) {
    if (Status s = db->Exec(kAddForgottenAt); !s.ok()) return s;
  }
  return Status::OK();
}

// Creates the whole schema in a new file, and in an existing one the tables
// and columns added since it was written; leaves user_version at
// kFormatVersion.
// REQUIRES: a write transaction is open on `db`.
Status CreateMissingTables(SqliteDb* db, bool create_if_missing) {
  bool is_new = false;
  Status s = CheckFormat(db, &is_new);
  if (s.ok() && is_new && !create_if_missing) return NoLogYet(db);
  if (s.ok() && is_new) s = db->Exec(kCreateSchema);
  if (s.ok()) s = db->Exec(kCreateHeuristics);
  if (s.ok()) s = MigrateToVersion2(db);
  if (s.ok()) s = db->Exec("PRAGMA user_version = 2");
  static_assert(kFormatVersion == 2, "update the PRAGMA above with the migration");
  return s;
}

Result<uint64_t> BumpIncarnation(SqliteDb* db) {
  Status s = db->Exec("UPDATE meta SET value = value + 1 WHERE key = 'incarnation'");
  if (!s.ok()) return s;
  auto incarnation = db->QueryInt("SELECT value FROM meta WHERE key = 'incarnation'");
  if (!incarnation.ok()) return incarnation.TakeStatus();
  return static_cast<uint64_t>(*incarnation);
}

// --- Heuristic records ---------------------------------------------------------

#define TWOPC_HEURISTIC_COLUMNS "gtrid, gid, participant, action, logged, at_ms, note"
// Version 1 has no forgotten_at_ms: read as NULL (nothing was forgotten).
#define TWOPC_FORGOTTEN_V2 ", forgotten_at_ms"
#define TWOPC_FORGOTTEN_V1 ", NULL"

// The row under `stmt`, selected as TWOPC_HEURISTIC_COLUMNS.
Result<HeuristicRecord> ReadHeuristic(SqliteStatement* stmt, const std::string& path) {
  HeuristicRecord record;
  record.gtrid = stmt->ColumnText(0);
  record.gid = stmt->ColumnText(1);
  record.participant = stmt->ColumnText(2);
  std::optional<Decision> action = ParseDecision(stmt->ColumnText(3));
  if (!action) {
    return Status::Corruption(fmt::format(
        "decision log {}: heuristic record for gid '{}': unknown action", path, record.gid));
  }
  record.action = *action;
  if (!stmt->ColumnIsNull(4)) record.logged = ParseDecision(stmt->ColumnText(4));
  record.at_ms = stmt->ColumnInt64(5);
  record.note = stmt->ColumnText(6);
  if (!stmt->ColumnIsNull(7)) record.forgotten_at_ms = stmt->ColumnInt64(7);
  return record;
}

Result<bool> HasTable(SqliteDb* db, const char* name) {
  auto stmt = db->Prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
  if (!stmt.ok()) return stmt.TakeStatus();
  (*stmt)->BindText(1, name);
  return (*stmt)->Step();
}

Result<bool> HasColumn(SqliteDb* db, const char* table, const char* column) {
  auto stmt = db->Prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
  if (!stmt.ok()) return stmt.TakeStatus();
  (*stmt)->BindText(1, table);
  (*stmt)->BindText(2, column);
  return (*stmt)->Step();
}

// --- Verification ------------------------------------------------------------------

// Record fields are quoted in problem sentences as they are: a corrupt one
// may hold control characters, and the reader needs to see which (the CLI
// prints them as "\xNN" on a terminal, JSON escapes them itself). Replacing
// them here would hide the very corruption being reported.
std::string Shown(std::string_view text) { return std::string(text); }

Status CheckIntegrity(SqliteDb* db, std::vector<std::string>* problems) {
  auto stmt = db->Prepare("PRAGMA integrity_check");
  if (!stmt.ok()) return stmt.TakeStatus();
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.TakeStatus();
    if (!*row) return Status::OK();
    std::string line = (*stmt)->ColumnText(0);
    if (line != "ok") problems->push_back("storage: " + Shown(line));
  }
}

// The branches of the record for `gtrid`: every gid a twopc gid of that very
// gtrid, none twice. Recovery acts on these gids, so a wrong one would commit
// or roll back somebody else's branch.
void CheckBranches(const std::string& gtrid, const std::string& branches_json,
                   std::vector<std::string>* problems) {
  std::string where = fmt::format("record for gtrid '{}'", Shown(gtrid));
  auto branches = DecodeBranches(branches_json);
  if (!branches.ok()) {
    problems->push_back(
        fmt::format("{}: branches do not parse: {}", where, branches.status().message()));
    return;
  }
  std::set<std::string> seen;
  for (const BranchRef& b : *branches) {
    auto owner = GtridOfGid(b.gid);
    if (!owner.ok()) {
      problems->push_back(fmt::format("{}: gid '{}' (participant {}) is not a twopc gid: {}", where,
                                      Shown(b.gid), Shown(b.participant),
                                      owner.status().message()));
    } else if (*owner != gtrid) {
      problems->push_back(fmt::format("{}: gid '{}' (participant {}) belongs to gtrid '{}'", where,
                                      Shown(b.gid), Shown(b.participant), *owner));
    }
    if (!seen.insert(b.gid).second) {
      problems->push_back(fmt::format("{}: gid '{}' is listed twice", where, Shown(b.gid)));
    }
  }
}

// The row under `stmt`: gtrid, decision, branches, decided_at_ms, ended_at_ms.
void CheckRecord(SqliteStatement* stmt, std::vector<std::string>* problems) {
  std::string gtrid = stmt->ColumnText(0);
  std::string where = fmt::format("record for gtrid '{}'", Shown(gtrid));
  std::string decision = stmt->ColumnText(1);
  if (!ParseDecision(decision)) {
    problems->push_back(
        fmt::format("{}: decision '{}' is neither commit nor abort", where, Shown(decision)));
  }
  CheckBranches(gtrid, stmt->ColumnText(2), problems);
  int64_t decided_at_ms = stmt->ColumnInt64(3);
  if (!stmt->ColumnIsNull(4) && stmt->ColumnInt64(4) < decided_at_ms) {
    problems->push_back(fmt::format("{}: ended at {} ms, before it was decided at {} ms", where,
                                    stmt->ColumnInt64(4), decided_at_ms));
  }
}

Status CheckRecords(SqliteDb* db, std::vector<std::string>* problems) {
  auto stmt = db->Prepare(
      "SELECT gtrid, decision, branches, decided_at_ms, ended_at_ms FROM decisions"
      " ORDER BY decided_at_ms, rowid");
  if (!stmt.ok()) return stmt.TakeStatus();
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.TakeStatus();
    if (!*row) return Status::OK();
    CheckRecord(stmt->get(), problems);
  }
}

// --- Batched writes ------------------------------------------------------------

// One statement for `rows` COMMIT/ABORT records; ON CONFLICT leaves out a
// row whose gtrid already has a decision (first decision wins).
std::string InsertRowsSql(size_t rows) {
  std::string sql =
      "INSERT INTO decisions(gtrid, decision, branches, heuristic, incarnation, decided_at_ms)"
      " VALUES ";
  for (size_t i = 0; i < rows; ++i) sql += i == 0 ? "(?,?,?,?,?,?)" : ",(?,?,?,?,?,?)";
  sql += " ON CONFLICT(gtrid) DO NOTHING";
  return sql;
}

// One statement for `rows` END records, each with its own time: pairs
// (gtrid, ended_at_ms), each looked up by the primary key. SQLite
// materializes the pairs first, a fixed cost that only pays off from about
// a dozen rows (DecisionWrites::kMinRowsPerEndStatement).
std::string EndRowsSql(size_t rows) {
  std::string sql = "UPDATE decisions SET ended_at_ms = e.column2 FROM (VALUES ";
  for (size_t i = 0; i < rows; ++i) sql += i == 0 ? "(?,?)" : ",(?,?)";
  sql += ") AS e WHERE decisions.gtrid = e.column1 AND decisions.ended_at_ms IS NULL";
  return sql;
}

}  // namespace

Result<uint64_t> InitializeLog(SqliteDb* db, bool create_if_missing) {
  // Refuse a foreign database before switching it to WAL: leave it untouched.
  // So is an empty file that this open may not turn into a log.
  bool is_new = false;
  Status s = CheckFormat(db, &is_new);
  if (!s.ok()) return s;
  if (is_new && !create_if_missing) return NoLogYet(db);
  auto mode = db->QueryText("PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.TakeStatus();
  if (*mode != "wal") {
    return Status::IOError(
        fmt::format("decision log {}: cannot switch to WAL (journal mode {})", db->path(), *mode));
  }
  // FULL: every commit fsyncs the WAL, so a COMMIT record is durable when
  // COMMIT returns (NORMAL would only sync at checkpoints).
  s = db->Exec("PRAGMA synchronous = FULL");
  if (!s.ok()) return s;
  // One transaction: two processes racing to open a new file (only one gets
  // the lock, but be safe) cannot both create the schema, and an incarnation
  // is never handed out twice.
  s = db->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  s = CreateMissingTables(db, create_if_missing);
  Result<uint64_t> incarnation = s.ok() ? BumpIncarnation(db) : Result<uint64_t>(s);
  if (incarnation.ok()) s = db->Exec("COMMIT");
  if (!incarnation.ok() || !s.ok()) {
    db->RollbackIfOpen();
    return incarnation.ok() ? s : incarnation.TakeStatus();
  }
  return incarnation;
}

Result<uint64_t> ReadIncarnation(SqliteDb* db) {
  bool is_new = false;
  Status s = CheckFormat(db, &is_new);
  if (!s.ok()) return s;
  if (is_new) return NoLogYet(db);
  auto incarnation = db->QueryInt("SELECT value FROM meta WHERE key = 'incarnation'");
  if (!incarnation.ok()) return incarnation.TakeStatus();
  return static_cast<uint64_t>(*incarnation);
}

Result<std::vector<HeuristicRecord>> ReadHeuristics(SqliteDb* db) {
  auto exists = HasTable(db, "heuristics");
  if (!exists.ok()) return exists.TakeStatus();
  std::vector<HeuristicRecord> records;
  if (!*exists) return records;
  auto forgotten = HasColumn(db, "heuristics", "forgotten_at_ms");
  if (!forgotten.ok()) return forgotten.TakeStatus();
  auto stmt = db->Prepare(*forgotten ? "SELECT " TWOPC_HEURISTIC_COLUMNS TWOPC_FORGOTTEN_V2
                                       " FROM heuristics ORDER BY at_ms, id"
                                     : "SELECT " TWOPC_HEURISTIC_COLUMNS TWOPC_FORGOTTEN_V1
                                       " FROM heuristics ORDER BY at_ms, id");
  if (!stmt.ok()) return stmt.TakeStatus();
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.TakeStatus();
    if (!*row) return records;
    auto record = ReadHeuristic(stmt->get(), db->path());
    if (!record.ok()) return record.TakeStatus();
    records.push_back(std::move(record).value());
  }
}

Result<std::vector<std::string>> VerifyLog(SqliteDb* db) {
  std::vector<std::string> problems;
  Status s = CheckIntegrity(db, &problems);
  // A damaged b-tree can make the record scan fail: report what
  // integrity_check found rather than only that scan's error.
  if (s.ok()) s = CheckRecords(db, &problems);
  if (!s.ok() && problems.empty()) return s;
  if (!s.ok()) problems.push_back("records: cannot be read: " + s.message());
  return problems;
}

Result<std::unique_ptr<DecisionReads>> DecisionReads::Prepare(SqliteDb* db) {
  std::unique_ptr<DecisionReads> reads(new DecisionReads);
  struct {
    std::unique_ptr<SqliteStatement>* stmt;
    const char* sql;
  } statements[] = {
      {&reads->lookup_, "SELECT " TWOPC_RECORD_COLUMNS " FROM decisions WHERE gtrid = ?1"},
      {&reads->unended_, "SELECT " TWOPC_RECORD_COLUMNS " FROM decisions WHERE ended_at_ms IS NULL"
                         " ORDER BY decided_at_ms, rowid"},
      {&reads->all_,
       "SELECT " TWOPC_RECORD_COLUMNS " FROM decisions ORDER BY decided_at_ms, rowid"},
  };
  for (auto& [stmt, sql] : statements) {
    auto prepared = db->Prepare(sql);
    if (!prepared.ok()) return prepared.TakeStatus();
    *stmt = std::move(prepared).value();
  }
  reads->path_ = db->path();
  return reads;
}

Result<std::optional<DecisionRecord>> DecisionReads::Lookup(const std::string& gtrid) {
  ScopedReset reset(lookup_.get());
  lookup_->BindText(1, gtrid);
  auto row = lookup_->Step();
  if (!row.ok()) return row.TakeStatus();
  if (!*row) return std::optional<DecisionRecord>();
  auto record = ReadRecord(lookup_.get(), path_);
  if (!record.ok()) return record.TakeStatus();
  return std::optional<DecisionRecord>(std::move(record).value());
}

Result<std::vector<DecisionRecord>> DecisionReads::Unended() { return ReadAll(unended_.get()); }

Result<std::vector<DecisionRecord>> DecisionReads::All() { return ReadAll(all_.get()); }

Result<std::vector<DecisionRecord>> DecisionReads::ReadAll(SqliteStatement* stmt) {
  ScopedReset reset(stmt);
  std::vector<DecisionRecord> records;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.TakeStatus();
    if (!*row) return records;
    auto record = ReadRecord(stmt, path_);
    if (!record.ok()) return record.TakeStatus();
    records.push_back(std::move(record).value());
  }
}

Result<std::unique_ptr<DecisionWrites>> DecisionWrites::Prepare(SqliteDb* db) {
  std::unique_ptr<DecisionWrites> writes(new DecisionWrites(db));
  struct {
    std::unique_ptr<SqliteStatement>* stmt;
    const char* sql;
  } statements[] = {
      {&writes->existing_, "SELECT decision FROM decisions WHERE gtrid = ?1"},
      {&writes->end_,
       "UPDATE decisions SET ended_at_ms = ?2 WHERE gtrid = ?1 AND ended_at_ms IS NULL"},
      // An ended ABORT written by the live incarnation is kept: it may fence
      // a transaction of that very process (recovery's live grace), which
      // could still try to decide COMMIT. See docs/protocol.md, "Forget".
      {&writes->delete_ended_,
       "DELETE FROM decisions WHERE ended_at_ms IS NOT NULL"
       " AND NOT (decision = 'abort' AND incarnation >= ?1)"},
      {&writes->insert_heuristic_,
       "INSERT INTO heuristics(" TWOPC_HEURISTIC_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
      {&writes->forget_heuristics_,
       "UPDATE heuristics SET forgotten_at_ms = ?2"
       " WHERE (gtrid = ?1 OR gid = ?1) AND forgotten_at_ms IS NULL"},
  };
  for (auto& [stmt, sql] : statements) {
    auto prepared = db->Prepare(sql);
    if (!prepared.ok()) return prepared.TakeStatus();
    *stmt = std::move(prepared).value();
  }
  writes->insert_rows_.resize(kMaxRowsPerStatement);
  writes->end_rows_.resize(kMaxRowsPerStatement);
  // The one-row insert now, as every statement was before batching: a log
  // whose schema cannot take it fails its open, not a later batch.
  if (auto one = writes->RowsStatement(&writes->insert_rows_, 1, InsertRowsSql); !one.ok()) {
    return one.TakeStatus();
  }
  return writes;
}

Result<SqliteStatement*> DecisionWrites::RowsStatement(
    std::vector<std::unique_ptr<SqliteStatement>>* cache, size_t rows,
    std::string (*sql)(size_t rows)) {
  std::unique_ptr<SqliteStatement>& slot = (*cache)[rows - 1];
  if (slot == nullptr) {
    auto prepared = db_->Prepare(sql(rows).c_str());
    if (!prepared.ok()) return prepared.TakeStatus();
    slot = std::move(prepared).value();
  }
  return slot.get();
}

Status DecisionWrites::InsertAll(const std::vector<Insertion>& insertions) {
  // Records that cannot be stored are answered here and left out of the
  // statements: they fail on their own, as a conflicting one does.
  valid_.clear();
  encoded_.clear();
  for (const Insertion& insertion : insertions) {
    if (insertion.record->gtrid.empty()) {
      *insertion.answer = Status::InvalidArgument("decision record without gtrid");
      continue;
    }
    auto branches = EncodeBranches(insertion.record->branches);
    if (!branches.ok()) {
      *insertion.answer = branches.TakeStatus();
      continue;
    }
    encoded_.push_back(std::move(branches).value());
    valid_.push_back(insertion);
  }
  for (size_t first = 0; first < valid_.size(); first += kMaxRowsPerStatement) {
    size_t rows = std::min(kMaxRowsPerStatement, valid_.size() - first);
    auto stmt = RowsStatement(&insert_rows_, rows, InsertRowsSql);
    if (!stmt.ok()) return stmt.TakeStatus();
    int64_t inserted = 0;
    {
      ScopedReset reset(*stmt);
      int param = 1;
      for (size_t i = first; i < first + rows; ++i) {
        const DecisionRecord& record = *valid_[i].record;
        (*stmt)->BindText(param++, record.gtrid);
        (*stmt)->BindText(param++, DecisionName(record.decision));
        (*stmt)->BindText(param++, encoded_[i]);
        (*stmt)->BindInt64(param++, record.heuristic ? 1 : 0);
        (*stmt)->BindInt64(param++, static_cast<int64_t>(record.incarnation));
        (*stmt)->BindInt64(param++, record.decided_at_ms);
      }
      Status s = (*stmt)->Run();
      if (!s.ok()) return s;
      inserted = (*stmt)->Changes();
    }
    // SQLite inserts the rows of one statement in order, each seeing those
    // before it, so a row left out met a decision for its gtrid: from an
    // earlier batch, or from an earlier record of this one. The count does
    // not say which rows those were; the stored decision does, and for a row
    // that was inserted it is the row's own.
    bool all_inserted = inserted == static_cast<int64_t>(rows);
    for (size_t i = first; i < first + rows; ++i) {
      if (all_inserted) {
        *valid_[i].answer = Status::OK();
      } else if (Status s = AnswerFromStored(*valid_[i].record, valid_[i].answer); !s.ok()) {
        return s;
      }
    }
  }
  return Status::OK();
}

Status DecisionWrites::AnswerFromStored(const DecisionRecord& record, Status* answer) {
  // Fencing (docs/protocol.md, "Decide"): the first decision for a gtrid stands, so a late
  // COMMIT cannot overturn the ABORT that recovery wrote, nor the reverse.
  ScopedReset reset(existing_.get());
  existing_->BindText(1, record.gtrid);
  auto row = existing_->Step();
  if (!row.ok()) return row.TakeStatus();
  std::string existing = *row ? existing_->ColumnText(0) : std::string("none");
  if (existing == DecisionName(record.decision)) {
    *answer = Status::OK();
  } else {
    *answer =
        Status::Conflict(fmt::format("decision log already holds {} for gtrid '{}' (asked: {})",
                                     existing, record.gtrid, DecisionName(record.decision)));
  }
  return Status::OK();
}

Status DecisionWrites::MarkAllEnded(const std::vector<Ending>& endings) {
  for (size_t first = 0; first < endings.size(); first += kMaxRowsPerStatement) {
    size_t rows = std::min(kMaxRowsPerStatement, endings.size() - first);
    if (rows < kMinRowsPerEndStatement) {
      for (size_t i = first; i < first + rows; ++i) {
        ScopedReset reset(end_.get());
        end_->BindText(1, endings[i].gtrid);
        end_->BindInt64(2, endings[i].now_ms);
        if (Status s = end_->Run(); !s.ok()) return s;
      }
      continue;
    }
    auto stmt = RowsStatement(&end_rows_, rows, EndRowsSql);
    if (!stmt.ok()) return stmt.TakeStatus();
    ScopedReset reset(*stmt);
    int param = 1;
    for (size_t i = first; i < first + rows; ++i) {
      (*stmt)->BindText(param++, endings[i].gtrid);
      (*stmt)->BindInt64(param++, endings[i].now_ms);
    }
    if (Status s = (*stmt)->Run(); !s.ok()) return s;
  }
  return Status::OK();
}

Result<uint64_t> DecisionWrites::DeleteEnded(uint64_t live_incarnation) {
  ScopedReset reset(delete_ended_.get());
  delete_ended_->BindInt64(1, static_cast<int64_t>(live_incarnation));
  Status s = delete_ended_->Run();
  if (!s.ok()) return s;
  return static_cast<uint64_t>(delete_ended_->Changes());
}

Status DecisionWrites::InsertHeuristic(const HeuristicRecord& record) {
  ScopedReset reset(insert_heuristic_.get());
  insert_heuristic_->BindText(1, record.gtrid);
  insert_heuristic_->BindText(2, record.gid);
  insert_heuristic_->BindText(3, record.participant);
  insert_heuristic_->BindText(4, DecisionName(record.action));
  if (record.logged) insert_heuristic_->BindText(5, DecisionName(*record.logged));
  insert_heuristic_->BindInt64(6, record.at_ms);
  insert_heuristic_->BindText(7, record.note);
  return insert_heuristic_->Run();
}

Result<uint64_t> DecisionWrites::ForgetHeuristics(const std::string& key, int64_t now_ms) {
  ScopedReset reset(forget_heuristics_.get());
  forget_heuristics_->BindText(1, key);
  forget_heuristics_->BindInt64(2, now_ms);
  Status s = forget_heuristics_->Run();
  if (!s.ok()) return s;
  return static_cast<uint64_t>(forget_heuristics_->Changes());
}

}  // namespace twopc::internal
