#include "coordinator/sqlite_decision_table.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace twopc::internal {
namespace {

constexpr int64_t kFormatVersion = 1;

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
PRAGMA user_version = 1;
)sql";

#define TWOPC_RECORD_COLUMNS \
  "gtrid, decision, branches, heuristic, incarnation, decided_at_ms, ended_at_ms"

Result<std::string> EncodeBranches(const std::vector<BranchRef>& branches) {
  nlohmann::json array = nlohmann::json::array();
  for (const BranchRef& b : branches) {
    array.push_back({{"participant", b.participant}, {"gid", b.gid}});
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
    branches.push_back({participant->get<std::string>(), gid->get<std::string>()});
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
  if (version == kFormatVersion) return Status::OK();
  if (version == 0) {
    return Status::InvalidArgument(fmt::format("{} is not a twopc decision log", db->path()));
  }
  return Status::InvalidArgument(
      fmt::format("decision log {} has format version {}; this twopc reads version {}", db->path(),
                  version, kFormatVersion));
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

// REQUIRES: a write transaction is open on `db`.
Status CreateSchemaIfNew(SqliteDb* db) {
  bool is_new = false;
  Status s = CheckFormat(db, &is_new);
  if (!s.ok() || !is_new) return s;
  return db->Exec(kCreateSchema);
}

Result<uint64_t> BumpIncarnation(SqliteDb* db) {
  Status s = db->Exec("UPDATE meta SET value = value + 1 WHERE key = 'incarnation'");
  if (!s.ok()) return s;
  auto incarnation = db->QueryInt("SELECT value FROM meta WHERE key = 'incarnation'");
  if (!incarnation.ok()) return incarnation.TakeStatus();
  return static_cast<uint64_t>(*incarnation);
}

}  // namespace

Result<uint64_t> InitializeLog(SqliteDb* db) {
  // Refuse a foreign database before switching it to WAL: leave it untouched.
  bool is_new = false;
  Status s = CheckFormat(db, &is_new);
  if (!s.ok()) return s;
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
  s = CreateSchemaIfNew(db);
  Result<uint64_t> incarnation = s.ok() ? BumpIncarnation(db) : Result<uint64_t>(s);
  if (incarnation.ok()) s = db->Exec("COMMIT");
  if (!incarnation.ok() || !s.ok()) {
    db->RollbackIfOpen();
    return incarnation.ok() ? s : incarnation.TakeStatus();
  }
  return incarnation;
}

Result<uint64_t> ReadIncarnation(SqliteDb* db) {
  auto version = db->QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.TakeStatus();
  Status s = CheckFormatVersion(db, *version);
  if (!s.ok()) return s;
  auto incarnation = db->QueryInt("SELECT value FROM meta WHERE key = 'incarnation'");
  if (!incarnation.ok()) return incarnation.TakeStatus();
  return static_cast<uint64_t>(*incarnation);
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
  std::unique_ptr<DecisionWrites> writes(new DecisionWrites);
  struct {
    std::unique_ptr<SqliteStatement>* stmt;
    const char* sql;
  } statements[] = {
      {&writes->insert_,
       "INSERT INTO decisions(gtrid, decision, branches, heuristic, incarnation, decided_at_ms)"
       " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(gtrid) DO NOTHING"},
      {&writes->existing_, "SELECT decision FROM decisions WHERE gtrid = ?1"},
      {&writes->end_,
       "UPDATE decisions SET ended_at_ms = ?2 WHERE gtrid = ?1 AND ended_at_ms IS NULL"},
      {&writes->delete_ended_, "DELETE FROM decisions WHERE ended_at_ms IS NOT NULL"},
  };
  for (auto& [stmt, sql] : statements) {
    auto prepared = db->Prepare(sql);
    if (!prepared.ok()) return prepared.TakeStatus();
    *stmt = std::move(prepared).value();
  }
  return writes;
}

Status DecisionWrites::Insert(const DecisionRecord& record, Status* answer) {
  if (record.gtrid.empty()) {
    *answer = Status::InvalidArgument("decision record without gtrid");
    return Status::OK();
  }
  auto branches = EncodeBranches(record.branches);
  if (!branches.ok()) {
    *answer = branches.TakeStatus();
    return Status::OK();
  }
  {
    ScopedReset reset(insert_.get());
    insert_->BindText(1, record.gtrid);
    insert_->BindText(2, DecisionName(record.decision));
    insert_->BindText(3, *branches);
    insert_->BindInt64(4, record.heuristic ? 1 : 0);
    insert_->BindInt64(5, static_cast<int64_t>(record.incarnation));
    insert_->BindInt64(6, record.decided_at_ms);
    Status s = insert_->Run();
    if (!s.ok()) return s;
    if (insert_->Changes() == 1) {
      *answer = Status::OK();
      return Status::OK();
    }
  }
  // Fencing (DESIGN.md §2): the first decision for a gtrid stands, so a late
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

Status DecisionWrites::MarkEnded(const std::string& gtrid, int64_t now_ms) {
  ScopedReset reset(end_.get());
  end_->BindText(1, gtrid);
  end_->BindInt64(2, now_ms);
  return end_->Run();
}

Result<uint64_t> DecisionWrites::DeleteEnded() {
  ScopedReset reset(delete_ended_.get());
  Status s = delete_ended_->Run();
  if (!s.ok()) return s;
  return static_cast<uint64_t>(delete_ended_->Changes());
}

}  // namespace twopc::internal
