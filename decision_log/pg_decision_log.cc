#include "decision_log/pg_decision_log.h"

#include <algorithm>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "common/logging.h"
#include "decision_log/decision_rows.h"
#include "twopc/gid.h"

namespace twopc::internal {
namespace {

bool ConnectionTrouble(const Status& s) { return s.IsUnavailable() || s.IsTimedOut(); }

int64_t ToInt(const std::optional<std::string>& v) {
  return v ? std::strtoll(v->c_str(), nullptr, 10) : 0;
}

std::string SchemaDeniedMessage(const std::string& participant, const std::string& role,
                                const std::string& database, bool missing) {
  if (missing) {
    return fmt::format(
        "role {1} may not create the twopc schema in database \"{2}\" of participant {0} (the "
        "decision store needs it once; creating a schema takes the CREATE privilege on the "
        "database). Run once, as the database owner or a superuser:\n"
        "  CREATE SCHEMA twopc AUTHORIZATION {1};\n"
        "then start again: twopc creates its tables in that schema itself",
        participant, role, database);
  }
  return fmt::format(
      "role {0} may not use the twopc schema of database \"{2}\" of participant {1}, which another "
      "role created. Run once, as its owner:\n"
      "  GRANT USAGE ON SCHEMA twopc TO {0};\n"
      "  GRANT SELECT, INSERT, DELETE ON twopc.decisions TO {0};\n"
      "  GRANT SELECT, INSERT, UPDATE ON twopc.heuristics TO {0};\n"
      "  GRANT USAGE, SELECT, UPDATE ON SEQUENCE twopc.incarnations, twopc.heuristics_id_seq TO {0};",
      role, participant, database);
}

// The participant whose table holds the decision of a transaction with
// these branches: the decider that their (version 2) gids name.
Result<std::string> DeciderOf(const DecisionRecord& record) {
  if (!record.decider.empty()) return record.decider;
  for (const BranchRef& b : record.branches) {
    auto parts = DecodeGid(b.gid);
    if (parts.ok() && !parts->decider.empty()) return parts->decider;
  }
  return Status::InvalidArgument(
      "no branch of " + record.gtrid +
      " names a decider (a tpc1 gid: its decision is in the SQLite log of the node that "
      "prepared it, not in PostgreSQL)");
}

}  // namespace

Result<std::unique_ptr<PgDecisionLog>> PgDecisionLog::Open(const CoordinatorOptions& options,
                                                            Role role) {
  if (options.participants.empty()) return Status::InvalidArgument("no participants configured");
  // The decisions live in the PostgreSQL participants; MariaDB ones are
  // never deciders (docs/protocol.md, "MariaDB participants").
  bool any_postgres = false;
  for (const auto& p : options.participants) any_postgres |= p.kind == ParticipantKind::kPostgres;
  if (!any_postgres) {
    return Status::InvalidArgument(
        "[log] store = \"postgres\" keeps the decisions in the PostgreSQL participants, and "
        "this config has none");
  }
  std::unique_ptr<PgDecisionLog> log(new PgDecisionLog(options, role));
  if (Status s = log->Start(); !s.ok()) return s;
  return log;
}

PgDecisionLog::PgDecisionLog(const CoordinatorOptions& options, Role role)
    : options_(options), role_(role), timeouts_{options.connect_timeout, options.default_deadline} {
  app_name_ = role == Role::kCoordinator ? "twopc-store." + options.node_id : "twopc-operator";
  for (const auto& p : options.participants) {
    if (p.kind != ParticipantKind::kPostgres) continue;  // no decision table there
    auto s = std::make_unique<Session>();
    s->name = p.name;
    s->conninfo = p.conninfo;
    sessions_.push_back(std::move(s));
  }
  // The registry: the first PostgreSQL participant (Open checked there is one).
  if (!sessions_.empty()) {
    registration_.name = sessions_.front()->name;
    registration_.conninfo = sessions_.front()->conninfo;
  }
}

Status PgDecisionLog::Start() {
  // The registry must answer: it gives the incarnation. The other
  // participants are set up now if they answer, else when first reached.
  for (size_t i = 0; i < sessions_.size(); ++i) {
    Session& s = *sessions_[i];
    MutexLock lock(s.mutex);
    Status c = Connect(s);
    if (c.ok()) continue;
    if (c.IsNotFound()) continue;  // an operator's view of a database without the schema
    if (c.IsInvalidArgument() || i == 0) return c;
    LogWith(LogLevel::kWarn,
            {.event = "participant_unreachable", .participant = s.name, .sqlstate = c.sqlstate()},
            "twopc: decision store: participant {} not reachable at start ({}); its decisions "
            "are read once it is back",
            s.name, c.message());
  }
  if (role_ == Role::kCoordinator) {
    if (Status s = DrawIncarnation(); !s.ok()) return s;
  }
  label_ = CoordinatorLabel(options_.node_id, incarnation_);
  deleter_ = std::thread([this] { DeleteLoop(); });
  return Status::OK();
}

PgDecisionLog::~PgDecisionLog() {
  {
    MutexLock lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.SignalAll();
  if (deleter_.joinable()) deleter_.join();
}

Status PgDecisionLog::Connect(Session& s) {
  s.client.reset();
  s.schema_ready = false;
  auto c = PgClient::Connect(s.name, s.conninfo, timeouts_, app_name_);
  if (!c.ok()) return c.TakeStatus();
  s.client = std::move(c.value());
  return EnsureSchema(s);
}

Status PgDecisionLog::EnsureSchema(Session& s) {
  auto ready = s.client->Query(kDecisionSchemaReadySql);
  if (!ready.ok()) return ready.TakeStatus();
  const auto& row = ready->at(0);
  std::string state = row[0].value_or("missing"), role = row[1].value_or("?"),
              database = row[2].value_or("?");
  if (state == "ready") {
    s.schema_ready = true;
    return Status::OK();
  }
  if (role_ == Role::kOperator) {
    // An operator tool creates nothing: a database without the schema holds
    // no decision.
    if (state == "missing") return Status::NotFound("participant " + s.name + " has no twopc schema");
    return Status::InvalidArgument(SchemaDeniedMessage(s.name, role, database, false));
  }
  if (state == "missing") {
    Status created = s.client->Exec(kCreateDecisionSchemaSql);
    if (!created.ok()) {
      (void)s.client->Exec("ROLLBACK");
      if (created.sqlstate() == "42501") {
        return Status::InvalidArgument(SchemaDeniedMessage(s.name, role, database, true))
            .WithParticipant(s.name);
      }
      return created;
    }
    auto again = s.client->Query(kDecisionSchemaReadySql);
    if (!again.ok()) return again.TakeStatus();
    state = again->at(0)[0].value_or("missing");
    if (state == "ready") {
      s.schema_ready = true;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(SchemaDeniedMessage(s.name, role, database, false))
      .WithParticipant(s.name);
}

PgDecisionLog::Session* PgDecisionLog::FindSession(const std::string& participant) {
  for (auto& s : sessions_) {
    if (s->name == participant) return s.get();
  }
  return nullptr;
}

template <class T>
Result<T> PgDecisionLog::With(Session& s, const std::function<Result<T>(PgClient&)>& fn) {
  MutexLock lock(s.mutex);
  if (s.client == nullptr || !s.client->usable() || !s.schema_ready) {
    if (Status c = Connect(s); !c.ok()) {
      s.client.reset();
      return c;
    }
  }
  Result<T> r = fn(*s.client);
  if (!r.ok() && ConnectionTrouble(r.status())) s.client.reset();
  return r;
}

Status PgDecisionLog::DrawIncarnation() {
  // Another participant's sequence is ahead when it was once the registry
  // (the config's order changed): never hand out an incarnation twice.
  int64_t floor = 0;
  for (size_t i = 1; i < sessions_.size(); ++i) {
    auto last = With<int64_t>(*sessions_[i], [](PgClient& c) -> Result<int64_t> {
      auto rows = c.Query("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM twopc.incarnations");
      if (!rows.ok()) return rows.TakeStatus();
      return ToInt(rows->at(0)[0]);
    });
    if (last.ok()) floor = std::max(floor, *last);
  }
  MutexLock lock(registration_.mutex);
  auto c = PgClient::Connect(registration_.name, registration_.conninfo, timeouts_, app_name_);
  if (!c.ok()) return c.TakeStatus();
  registration_.client = std::move(c.value());
  PgClient& reg = *registration_.client;
  auto drawn = reg.Query(
      "SELECT CASE WHEN $1::bigint > coalesce((SELECT CASE WHEN is_called THEN last_value END "
      "FROM twopc.incarnations), 0) THEN setval('twopc.incarnations', $1::bigint + 1) "
      "ELSE nextval('twopc.incarnations') END",
      {std::to_string(floor)});
  if (!drawn.ok()) return drawn.TakeStatus();
  incarnation_ = static_cast<uint64_t>(ToInt(drawn->at(0)[0]));
  auto locked = reg.Query("SELECT pg_try_advisory_lock($1::int, $2::int)",
                          {std::to_string(kIncarnationLockClass), std::to_string(incarnation_)});
  if (!locked.ok()) return locked.TakeStatus();
  if (locked->at(0)[0].value_or("f") != "t") {
    return Status::Conflict(fmt::format("incarnation {} drawn from the registry ({}) is held by "
                                        "another process: is the sequence twopc.incarnations reset?",
                                        incarnation_, registration_.name));
  }
  return Status::OK();
}

Status PgDecisionLog::Reregister() {
  if (role_ != Role::kCoordinator) return Status::OK();
  MutexLock lock(registration_.mutex);
  if (registration_.client != nullptr && registration_.client->usable()) {
    auto probe = registration_.client->Query("SELECT 1");
    if (probe.ok()) {
      registered_ = true;
      return Status::OK();
    }
  }
  // The connection, and with it the registration and any claims, is gone.
  registered_ = false;
  claims_.clear();
  registration_.client.reset();
  auto c = PgClient::Connect(registration_.name, registration_.conninfo, timeouts_, app_name_);
  if (!c.ok()) return c.TakeStatus();
  auto locked = c.value()->Query("SELECT pg_try_advisory_lock($1::int, $2::int)",
                                 {std::to_string(kIncarnationLockClass), std::to_string(incarnation_)});
  if (!locked.ok()) return locked.TakeStatus();
  if (locked->at(0)[0].value_or("f") != "t") {
    return Status::Conflict(fmt::format(
        "the registration of incarnation {} was lost and another process holds it now (it is "
        "resolving this coordinator's transactions): deciding stays off until it is released",
        incarnation_));
  }
  registration_.client = std::move(c.value());
  registered_ = true;
  LogWith(LogLevel::kWarn, {.event = "registration_retaken"},
          "twopc: decision store: registration of incarnation {} taken again", incarnation_);
  return Status::OK();
}

Result<bool> PgDecisionLog::ClaimIfGone(uint64_t incarnation) {
  if (role_ == Role::kCoordinator && incarnation == incarnation_) return false;
  if (incarnation == 0 || incarnation > INT32_MAX) {
    return Status::InvalidArgument(fmt::format("incarnation {} was never drawn from a registry", incarnation));
  }
  MutexLock lock(registration_.mutex);
  if (claims_.count(incarnation)) return true;
  if (registration_.client == nullptr || !registration_.client->usable()) {
    // This process's own registration went with the connection: only
    // Reregister takes it again (it may have been claimed meanwhile).
    if (role_ == Role::kCoordinator) {
      registered_ = false;
      return Status::Unavailable("the registry connection was lost; registering again first");
    }
    auto c = PgClient::Connect(registration_.name, registration_.conninfo, timeouts_, app_name_);
    if (!c.ok()) return c.TakeStatus();
    registration_.client = std::move(c.value());
  }
  auto r = registration_.client->Query("SELECT pg_try_advisory_lock($1::int, $2::int)",
                                       {std::to_string(kIncarnationLockClass), std::to_string(incarnation)});
  if (!r.ok()) return r.TakeStatus();
  if (r->at(0)[0].value_or("f") != "t") return false;
  claims_.insert(incarnation);
  return true;
}

void PgDecisionLog::ReleaseClaims() {
  MutexLock lock(registration_.mutex);
  if (registration_.client == nullptr || !registration_.client->usable()) {
    claims_.clear();  // they went with the connection
    return;
  }
  for (uint64_t i : claims_) {
    (void)registration_.client->Query("SELECT pg_advisory_unlock($1::int, $2::int)",
                                      {std::to_string(kIncarnationLockClass), std::to_string(i)});
  }
  claims_.clear();
}

void PgDecisionLog::DecideAsync(DecisionRecord record, std::function<void(Status)> done) {
  if (record.decision == Decision::kCommit) {
    // Nothing but the decider's own transaction may record COMMIT: a COMMIT
    // row written beside it would make the decider's insert fail, and its
    // work roll back, under a COMMIT decision (docs/protocol.md).
    return done(Status::InvalidArgument(
        "with the postgres store only the decider's own transaction records COMMIT"));
  }
  done(Fence(record));
}

std::vector<Status> PgDecisionLog::DecideMany(std::vector<DecisionRecord> records) {
  constexpr size_t kFencesPerStatement = 500;
  std::vector<Status> out(records.size());
  std::map<Session*, std::vector<size_t>> by_decider;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].decision == Decision::kCommit) {
      out[i] = Status::InvalidArgument("with the postgres store only the decider's own transaction records COMMIT");
      continue;
    }
    auto decider = DeciderOf(records[i]);
    if (!decider.ok()) {
      out[i] = decider.TakeStatus();
      continue;
    }
    Session* s = FindSession(*decider);
    if (s == nullptr) {
      out[i] = Status::NotFound("the decider of " + records[i].gtrid + ", participant '" + *decider +
                                "', is not in the configuration");
      continue;
    }
    by_decider[s].push_back(i);
  }
  for (auto& [session, which] : by_decider) {
    // One order for every fencer: two recovery processes fencing the same
    // backlog then wait on each other's rows instead of deadlocking.
    std::sort(which.begin(), which.end(),
              [&](size_t a, size_t b) { return records[a].gtrid < records[b].gtrid; });
    for (size_t from = 0; from < which.size(); from += kFencesPerStatement) {
      size_t to = std::min(which.size(), from + kFencesPerStatement);
      FenceMany(*session, records, std::vector<size_t>(which.begin() + from, which.begin() + to), &out);
    }
  }
  return out;
}

void PgDecisionLog::FenceMany(Session& s, const std::vector<DecisionRecord>& records,
                              const std::vector<size_t>& which, std::vector<Status>* out) {
  std::vector<std::string> gtrids, branches;
  for (size_t i : which) {
    gtrids.push_back(records[i].gtrid);
    branches.push_back(EncodeBranches(records[i].branches));
  }
  // Which fences went in, and what the others found there.
  auto found = With<std::map<std::string, std::string>>(
      s, [&](PgClient& c) -> Result<std::map<std::string, std::string>> {
        std::map<std::string, std::string> decision_of;
        auto ins = c.Query(kInsertFencesSql, {TextArrayLiteral(gtrids), std::to_string(incarnation_), label_,
                                              TextArrayLiteral(branches)});
        if (!ins.ok()) return ins.TakeStatus();
        if (!ins->empty()) fence_statements_++;
        for (const auto& row : *ins) decision_of[row[0].value_or("")] = "fenced";
        std::vector<std::string> rest;
        for (const std::string& g : gtrids) {
          if (!decision_of.count(g)) rest.push_back(g);
        }
        if (rest.empty()) return decision_of;
        auto rows = c.Query("SELECT gtrid, decision FROM twopc.decisions WHERE gtrid = ANY($1::text[])",
                            {TextArrayLiteral(rest)});
        if (!rows.ok()) return rows.TakeStatus();
        for (const auto& row : *rows) decision_of.emplace(row[0].value_or(""), row[1].value_or(""));
        return decision_of;
      });
  for (size_t i : which) {
    const DecisionRecord& r = records[i];
    if (!found.ok() && ConnectionTrouble(found.status())) {
      // The decider cannot be reached now: one record at a time would only
      // wait out the same timeout once per record. The pass retries later.
      (*out)[i] = found.status();
      continue;
    }
    const std::string* decision = nullptr;
    if (found.ok()) {
      if (auto it = found->find(r.gtrid); it != found->end()) decision = &it->second;
    }
    if (decision == nullptr) {
      // The statement was refused (e.g. a deadlock with another fencer), or
      // the row that stopped the insert was gone by the SELECT (a fence whose
      // time was up): the one-record path answers, retrying.
      (*out)[i] = Fence(r);
    } else if (*decision == "fenced") {
      fences_++;
    } else if (*decision != "abort") {
      (*out)[i] = Status::Conflict(fmt::format("{} is already decided COMMIT (at {})", r.gtrid, s.name));
    }
  }
}

Status PgDecisionLog::Fence(const DecisionRecord& record) {
  auto decider = DeciderOf(record);
  if (!decider.ok()) return decider.TakeStatus();
  Session* s = FindSession(*decider);
  if (s == nullptr) {
    return Status::NotFound("the decider of " + record.gtrid + ", participant '" + *decider +
                            "', is not in the configuration");
  }
  auto won = With<bool>(*s, [&](PgClient& c) -> Result<bool> {
    // ON CONFLICT waits for an insert in progress (a COMMIT row the decider
    // is committing right now) and then either inserts or finds it.
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto ins = c.Query(std::string(kInsertFenceSql) + " RETURNING 1",
                         {record.gtrid, std::to_string(incarnation_), label_,
                          EncodeBranches(record.branches)});
      if (!ins.ok()) return ins.TakeStatus();
      if (!ins->empty()) return true;
      auto found = c.Query("SELECT decision FROM twopc.decisions WHERE gtrid = $1", {record.gtrid});
      if (!found.ok()) return found.TakeStatus();
      if (!found->empty()) return found->at(0)[0].value_or("") == "abort";
      // Deleted in between (a fence whose time was up): insert again.
    }
    return Status::Unavailable("the decision row of " + record.gtrid + " kept changing");
  });
  if (!won.ok()) return won.TakeStatus();
  if (!*won) {
    return Status::Conflict(fmt::format("{} is already decided COMMIT (at {})", record.gtrid, *decider));
  }
  fences_++;
  fence_statements_++;
  return Status::OK();
}

void PgDecisionLog::End(const std::string& gtrid) {
  {
    MutexLock lock(queue_mutex_);
    to_delete_.push_back(gtrid);
    queued_++;
  }
  queue_cv_.Signal();
}

// Rows are deleted in batches, one statement per participant for everything
// queued meanwhile (docs/protocol.md, "Complete and forget").
void PgDecisionLog::DeleteLoop() {
  for (;;) {
    std::vector<std::string> batch;
    {
      MutexLock lock(queue_mutex_);
      while (!stopping_ && to_delete_.empty()) queue_cv_.Wait(queue_mutex_);
      if (to_delete_.empty()) return;  // stopping, nothing left
      size_t n = std::min<size_t>(to_delete_.size(), 4096);
      batch.assign(to_delete_.begin(), to_delete_.begin() + static_cast<ptrdiff_t>(n));
      to_delete_.erase(to_delete_.begin(), to_delete_.begin() + static_cast<ptrdiff_t>(n));
    }
    DeleteEnded(batch);
    {
      MutexLock lock(queue_mutex_);
      deleted_ += batch.size();
    }
    drained_cv_.SignalAll();
  }
}

void PgDecisionLog::DeleteEnded(const std::vector<std::string>& gtrids) {
  std::string array = TextArrayLiteral(gtrids);
  for (auto& s : sessions_) {
    auto r = With<int>(*s, [&](PgClient& c) -> Result<int> {
      auto rows = c.Query(kDeleteEndedSql, {array});
      if (!rows.ok()) return rows.TakeStatus();
      return 0;
    });
    // A row left behind is found by the next recovery pass, which ends it
    // again once its branches are seen done.
    if (!r.ok() && !r.status().IsNotFound()) {
      LogWith(LogLevel::kDebug,
              {.event = "decision_delete_failed",
               .participant = s->name,
               .sqlstate = r.status().sqlstate()},
              "twopc: decision store: deleting ended rows at {} failed: {}", s->name,
              r.status().ToString());
    }
  }
}

Status PgDecisionLog::Flush() {
  MutexLock lock(queue_mutex_);
  uint64_t target = queued_;
  while (deleted_ < target) drained_cv_.Wait(queue_mutex_);
  return Status::OK();
}

Result<std::vector<DecisionRecord>> PgDecisionLog::ReadAll(int* failed) {
  *failed = 0;
  std::vector<DecisionRecord> all;
  Status first_error;
  for (auto& s : sessions_) {
    auto rows = With<std::vector<TextRow>>(*s, [](PgClient& c) {
      return c.Query(std::string("SELECT ") + kDecisionColumns + " FROM twopc.decisions");
    });
    if (!rows.ok()) {
      if (rows.status().IsNotFound()) continue;  // no schema: no decisions there
      if (first_error.ok()) first_error = rows.status();
      (*failed)++;
      continue;
    }
    for (const auto& row : *rows) {
      auto rec = RecordOfRow(row, s->name);
      if (!rec.ok()) {
        LogWith(LogLevel::kError, {.event = "decision_unreadable", .participant = s->name},
                "twopc: decision store: {}", rec.status().ToString());
        continue;
      }
      all.push_back(std::move(*rec));
    }
  }
  if (*failed == static_cast<int>(sessions_.size())) return first_error;
  std::stable_sort(all.begin(), all.end(), [](const DecisionRecord& a, const DecisionRecord& b) {
    return a.decided_at_ms < b.decided_at_ms;
  });
  return all;
}

// Rows of unreachable participants are left out: their transactions' other
// branches look undecided meanwhile, and fencing them needs the decider,
// which is the unreachable one -- so nothing is concluded from the gap.
Result<std::vector<DecisionRecord>> PgDecisionLog::Unended() {
  int failed = 0;
  return ReadAll(&failed);
}

Result<std::vector<DecisionRecord>> PgDecisionLog::All() {
  int failed = 0;
  auto all = ReadAll(&failed);
  if (all.ok() && failed > 0) {
    return Status::Unavailable(fmt::format("{} participant(s) did not answer", failed));
  }
  return all;
}

Result<std::optional<DecisionRecord>> PgDecisionLog::Lookup(const std::string& gtrid) {
  Status first_error;
  for (auto& s : sessions_) {
    auto rows = With<std::vector<TextRow>>(*s, [&](PgClient& c) {
      return c.Query(std::string("SELECT ") + kDecisionColumns + " FROM twopc.decisions WHERE gtrid = $1",
                     {gtrid});
    });
    if (!rows.ok()) {
      if (!rows.status().IsNotFound() && first_error.ok()) first_error = rows.status();
      continue;
    }
    if (rows->empty()) continue;
    auto rec = RecordOfRow(rows->front(), s->name);
    if (!rec.ok()) return rec.TakeStatus();
    return std::optional<DecisionRecord>(std::move(*rec));
  }
  if (!first_error.ok()) return first_error;
  return std::optional<DecisionRecord>();
}

Result<std::optional<DecisionRecord>> PgDecisionLog::LookupForGid(const std::string& gid) {
  auto parts = DecodeGid(gid);
  if (!parts.ok()) return parts.TakeStatus();
  if (parts->decider.empty()) {
    return Status::InvalidArgument("gid " + gid +
                                   " is a tpc1 gid: its decision is in the SQLite log of the node "
                                   "that prepared it, not in PostgreSQL");
  }
  Session* s = FindSession(parts->decider);
  if (s == nullptr) {
    return Status::NotFound("gid " + gid + " names decider '" + parts->decider +
                            "', which is not in the configuration");
  }
  std::string gtrid = GtridOf(*parts);
  auto rows = With<std::vector<TextRow>>(*s, [&](PgClient& c) {
    return c.Query(std::string("SELECT ") + kDecisionColumns + " FROM twopc.decisions WHERE gtrid = $1",
                   {gtrid});
  });
  if (!rows.ok()) {
    if (rows.status().IsNotFound()) return std::optional<DecisionRecord>();
    return rows.TakeStatus();
  }
  if (rows->empty()) return std::optional<DecisionRecord>();
  auto rec = RecordOfRow(rows->front(), s->name);
  if (!rec.ok()) return rec.TakeStatus();
  return std::optional<DecisionRecord>(std::move(*rec));
}

std::vector<Result<std::optional<DecisionRecord>>> PgDecisionLog::LookupManyForGids(
    const std::vector<std::string>& gids) {
  constexpr size_t kPerStatement = 1000;
  std::vector<Result<std::optional<DecisionRecord>>> out(gids.size(), std::optional<DecisionRecord>());
  std::map<Session*, std::vector<std::pair<size_t, std::string>>> by_decider;  // -> (index, gtrid)
  for (size_t i = 0; i < gids.size(); ++i) {
    auto parts = DecodeGid(gids[i]);
    Session* s = parts.ok() && !parts->decider.empty() ? FindSession(parts->decider) : nullptr;
    if (s == nullptr) {
      out[i] = LookupForGid(gids[i]);  // the error, without a round trip
      continue;
    }
    by_decider[s].emplace_back(i, GtridOf(*parts));
  }
  for (auto& [session, wanted] : by_decider) {
    for (size_t from = 0; from < wanted.size(); from += kPerStatement) {
      size_t to = std::min(wanted.size(), from + kPerStatement);
      std::vector<std::string> gtrids;
      for (size_t k = from; k < to; ++k) gtrids.push_back(wanted[k].second);
      auto rows = With<std::vector<TextRow>>(*session, [&](PgClient& c) {
        return c.Query(std::string("SELECT ") + kDecisionColumns +
                           " FROM twopc.decisions WHERE gtrid = ANY($1::text[])",
                       {TextArrayLiteral(gtrids)});
      });
      std::map<std::string, Result<std::optional<DecisionRecord>>> found;
      if (rows.ok()) {
        for (const auto& row : *rows) {
          auto rec = RecordOfRow(row, session->name);
          if (!rec.ok()) {
            if (row[0]) found.emplace(*row[0], rec.TakeStatus());
            continue;
          }
          std::string gtrid = rec->gtrid;
          found.emplace(std::move(gtrid), std::optional<DecisionRecord>(std::move(*rec)));
        }
      }
      for (size_t k = from; k < to; ++k) {
        size_t i = wanted[k].first;
        if (!rows.ok()) {
          // As LookupForGid: a store not set up there yet holds no decision.
          out[i] = rows.status().IsNotFound() ? Result<std::optional<DecisionRecord>>(std::optional<DecisionRecord>())
                                              : Result<std::optional<DecisionRecord>>(rows.status());
        } else if (auto it = found.find(wanted[k].second); it != found.end()) {
          out[i] = it->second;
        }
      }
    }
  }
  return out;
}

Result<uint64_t> PgDecisionLog::Compact() {
  uint64_t deleted = 0;
  Status first_error;
  for (auto& s : sessions_) {
    auto n = With<uint64_t>(*s, [](PgClient& c) -> Result<uint64_t> {
      auto rows = c.Query(std::string(kDeleteOldFencesSql) + " RETURNING 1");
      if (!rows.ok()) return rows.TakeStatus();
      return rows->size();
    });
    if (n.ok()) {
      deleted += *n;
    } else if (!n.status().IsNotFound() && first_error.ok()) {
      first_error = n.status();
    }
  }
  if (!first_error.ok() && deleted == 0) return first_error;
  return deleted;
}

Status PgDecisionLog::RecordHeuristic(const HeuristicRecord& h) {
  auto r = With<int>(*sessions_.front(), [&](PgClient& c) -> Result<int> {
    auto rows = c.Query(
        "INSERT INTO twopc.heuristics (gtrid, gid, participant, action, logged, note) "
        "VALUES ($1, $2, $3, $4, nullif($5, ''), $6)",
        {h.gtrid, h.gid, h.participant, DecisionName(h.action),
         h.logged ? DecisionName(*h.logged) : "", h.note});
    if (!rows.ok()) return rows.TakeStatus();
    return 0;
  });
  return r.ok() ? Status::OK() : r.status();
}

Result<std::vector<HeuristicRecord>> PgDecisionLog::Heuristics() {
  auto rows = With<std::vector<TextRow>>(*sessions_.front(), [](PgClient& c) {
    return c.Query(
        "SELECT gtrid, gid, participant, action, logged, (extract(epoch FROM at) * 1000)::bigint, "
        "note, (extract(epoch FROM forgotten_at) * 1000)::bigint FROM twopc.heuristics ORDER BY id");
  });
  if (!rows.ok()) {
    if (rows.status().IsNotFound()) return std::vector<HeuristicRecord>();
    return rows.TakeStatus();
  }
  std::vector<HeuristicRecord> out;
  for (const auto& row : *rows) {
    HeuristicRecord h;
    h.gtrid = row[0].value_or("");
    h.gid = row[1].value_or("");
    h.participant = row[2].value_or("");
    h.action = row[3].value_or("") == "commit" ? Decision::kCommit : Decision::kAbort;
    if (row[4]) h.logged = *row[4] == "commit" ? Decision::kCommit : Decision::kAbort;
    h.at_ms = ToInt(row[5]);
    h.note = row[6].value_or("");
    if (row[7]) h.forgotten_at_ms = ToInt(row[7]);
    out.push_back(std::move(h));
  }
  return out;
}

Result<uint64_t> PgDecisionLog::ForgetHeuristic(const std::string& key) {
  return With<uint64_t>(*sessions_.front(), [&](PgClient& c) -> Result<uint64_t> {
    auto rows = c.Query(
        "UPDATE twopc.heuristics SET forgotten_at = clock_timestamp() "
        "WHERE (gtrid = $1 OR gid = $1) AND forgotten_at IS NULL RETURNING 1",
        {key});
    if (!rows.ok()) return rows.TakeStatus();
    return rows->size();
  });
}

Result<std::vector<std::string>> PgDecisionLog::Verify() {
  std::vector<std::string> problems;
  for (auto& s : sessions_) {
    auto rows = With<std::vector<TextRow>>(*s, [](PgClient& c) {
      return c.Query(std::string("SELECT ") + kDecisionColumns + " FROM twopc.decisions");
    });
    if (!rows.ok()) {
      if (!rows.status().IsNotFound()) problems.push_back(s->name + ": " + rows.status().ToString());
      continue;
    }
    for (const auto& row : *rows) {
      auto rec = RecordOfRow(row, s->name);
      if (!rec.ok()) {
        problems.push_back(rec.status().message());
        continue;
      }
      for (const BranchRef& b : rec->branches) {
        auto parts = DecodeGid(b.gid);
        if (!parts.ok()) {
          problems.push_back(fmt::format("{} at {}: branch gid does not decode: {}", rec->gtrid, s->name,
                                         parts.status().message()));
        } else if (GtridOf(*parts) != rec->gtrid) {
          problems.push_back(fmt::format("{} at {}: branch {} belongs to another transaction",
                                         rec->gtrid, s->name, b.gid));
        } else if (parts->decider != s->name) {
          problems.push_back(fmt::format("{} at {}: branch {} names decider '{}'", rec->gtrid, s->name,
                                         b.gid, parts->decider));
        }
      }
    }
  }
  return problems;
}

LogStats PgDecisionLog::stats() const {
  LogStats s;
  s.records_forced = fences_;
  s.forces = fence_statements_;  // FenceMany: one commit for many fences
  return s;
}

}  // namespace twopc::internal

namespace twopc {

Result<std::unique_ptr<DecisionLog>> OpenPgDecisionLog(const CoordinatorOptions& options) {
  auto log = internal::PgDecisionLog::Open(options, internal::PgDecisionLog::Role::kCoordinator);
  if (!log.ok()) return log.TakeStatus();
  return std::unique_ptr<DecisionLog>(std::move(log.value()));
}

Result<std::unique_ptr<DecisionLog>> OpenPgDecisionLogForOperator(const CoordinatorOptions& options) {
  auto log = internal::PgDecisionLog::Open(options, internal::PgDecisionLog::Role::kOperator);
  if (!log.ok()) return log.TakeStatus();
  return std::unique_ptr<DecisionLog>(std::move(log.value()));
}

}  // namespace twopc
