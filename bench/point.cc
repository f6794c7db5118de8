#include "bench/point.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "saga/applied_table.h"

namespace twopc::bench {
namespace {

int ShardsOf(const PointSpec& spec) {
  return spec.workload == WorkloadKind::kOrder ? 3 : spec.participants;
}

// Library tables that outlive a point: idempotency keys of finished sagas
// and the outbox's inbox. Emptied between points (no saga or event is in
// flight then) so that every point starts from the same state.
constexpr char kResetLibraryTables[] = R"(DO $$
BEGIN
  IF to_regclass('twopc_saga_applied') IS NOT NULL THEN TRUNCATE twopc_saga_applied; END IF;
  IF to_regclass('twopc_inbox') IS NOT NULL THEN TRUNCATE twopc_inbox; END IF;
END $$)";

// The same on MariaDB, which has no DO blocks: truncate what exists. The
// saga keys' table is created here: twopc cannot create it inside an XA
// branch (docs/sagas.md, "Idempotency keys").
Status ResetMariaDbLibraryTables(DbClient& c) {
  if (Status s = c.Exec(internal::kCreateSagaAppliedMariaDb); !s.ok()) return s;
  auto rows = c.Query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
      " AND table_name IN ('twopc_saga_applied', 'twopc_inbox')");
  if (!rows.ok()) return rows.TakeStatus();
  for (const auto& row : *rows) {
    if (!row.empty() && row[0]) {
      if (Status s = c.Exec("TRUNCATE TABLE " + *row[0]); !s.ok()) return s;
    }
  }
  return Status::OK();
}

constexpr std::chrono::milliseconds kSetupTimeout = std::chrono::minutes(30);

}  // namespace

std::vector<DbClient*> PointFixture::client_ptrs() const {
  std::vector<DbClient*> out;
  for (const auto& c : clients) out.push_back(c.get());
  return out;
}

std::optional<LogStore> DecisionStoreOf(Mode mode, const CoordinatorOptions& options) {
  if (mode == Mode::kNull) return LogStore::kSqlite;
  if (UsesDecisionStore(mode)) return options.log.store;
  return std::nullopt;
}

std::string ModeLabel(const PointSpec& spec) {
  std::string label = ModeName(spec.mode);
  if (spec.log_store == LogStore::kPostgres) label += "-pg";
  return label;
}

std::string PointLabel(const PointSpec& s) {
  std::string label = fmt::format("{} {} clients={} participants={}", ModeLabel(s),
                                  WorkloadName(s.workload), s.clients, s.participants);
  if (!s.over.empty()) label += " over=" + ParticipantsLabel(s);
  if (s.hot_set > 0) label += fmt::format(" hot-set={}", s.hot_set);
  if (s.failure_rate > 0) label += fmt::format(" failure-rate={}", s.failure_rate);
  return label;
}

std::string ParticipantsLabel(const PointSpec& s) {
  if (s.over.empty()) return std::to_string(s.participants);
  return fmt::format("{}", fmt::join(s.over, "+"));
}

CoordinatorOptions PointOptions(const PointSpec& spec, const DriverEnv& env) {
  CoordinatorOptions o = env.options;
  // A transaction holds one connection per participant it touches: enough
  // for every client, the auditors' own are separate (PgClient).
  for (auto& p : o.participants) p.max_connections = std::max(spec.clients + 8, 16);
  o.io_threads = env.flags->io_threads;
  return o;
}

RunnerContext MakeRunnerContext(const PointSpec& spec, const DriverEnv& env,
                                const PointFixture& fixture) {
  RunnerContext ctx;
  ctx.options = PointOptions(spec, env);
  ctx.layout = fixture.layout;
  ctx.work_dir = env.work_dir;
  ctx.point_tag =
      fmt::format("{}-c{}-k{}-h{}-f{}-r{}", ModeName(spec.mode), spec.clients, spec.participants,
                  spec.hot_set, static_cast<int>(spec.failure_rate * 10000), spec.run);
  if (!spec.over.empty()) ctx.point_tag += "-" + fmt::format("{}", fmt::join(spec.over, "_"));
  ctx.txn.lock_timeout = env.flags->lock_timeout;
  ctx.null_participants = static_cast<int>(fixture.layout.shard_participant.size());
  ctx.outbox_relays = env.flags->outbox_relays;
  return ctx;
}

Result<PointFixture> PreparePoint(const PointSpec& spec, const DriverEnv& env, bool journal,
                                  bool reset) {
  PointFixture f;
  int shards = ShardsOf(spec);
  std::vector<std::string> names;
  std::vector<ParticipantKind> kinds;
  if (UsesDatabases(spec.mode) && !spec.over.empty()) {
    for (const auto& name : spec.over) {
      auto it = std::find_if(env.options.participants.begin(), env.options.participants.end(),
                             [&](const ParticipantOptions& p) { return p.name == name; });
      if (it == env.options.participants.end()) {
        return Status::InvalidArgument("--over: the config names no participant " + name);
      }
      names.push_back(name);
      kinds.push_back(it->kind);
    }
    if (static_cast<int>(names.size()) < shards) {
      return Status::InvalidArgument(fmt::format("{} needs {} participants, --over names {}",
                                                 PointLabel(spec), shards, names.size()));
    }
  } else if (UsesDatabases(spec.mode)) {
    for (const auto& p : env.options.participants) {
      names.push_back(p.name);
      kinds.push_back(p.kind);
    }
    if (static_cast<int>(names.size()) < shards) {
      return Status::InvalidArgument(fmt::format("{} needs {} participants, the config names {}",
                                                 PointLabel(spec), shards, names.size()));
    }
  } else {
    for (int i = 0; i < shards; ++i) names.push_back("null-" + std::to_string(i));
  }
  f.node_id = env.options.node_id;
  f.layout = MakeLayout(names, shards, spec.mode == Mode::kLocal, kinds);
  WorkloadParams wp;
  wp.kind = spec.workload;
  wp.shards = shards;
  wp.accounts = env.flags->accounts;
  wp.hot_set = spec.hot_set;
  wp.failure_rate = spec.failure_rate;
  wp.journal = journal;
  f.workload = MakeWorkload(wp, f.layout);
  if (!UsesDatabases(spec.mode)) return f;

  for (const auto& name : f.layout.Participants()) {
    auto it = std::find_if(env.options.participants.begin(), env.options.participants.end(),
                           [&](const ParticipantOptions& p) { return p.name == name; });
    auto c = DbClient::Connect(*it, TimeoutsOf(env.options));
    if (!c.ok()) return c.TakeStatus();
    f.clients.push_back(std::move(c.value()));
  }
  if (!reset) return f;
  // Filling the tables and the checkpoint may take far longer than a read:
  // their deadline only guards against a server that stopped answering.
  const auto read_timeout = f.clients.front()->statement_timeout();
  for (auto& c : f.clients) c->set_statement_timeout(std::max(read_timeout, kSetupTimeout));
  if (Status s = f.workload->Reset(f.client_ptrs()); !s.ok()) return s;
  for (auto& c : f.clients) {
    if (c->is_mariadb()) {
      if (Status s = ResetMariaDbLibraryTables(*c); !s.ok()) return s;
      c->set_statement_timeout(read_timeout);
      continue;  // no CHECKPOINT: InnoDB flushes on its own
    }
    if (Status s = c->Exec(kResetLibraryTables); !s.ok()) return s;
    // Every point starts right after a checkpoint, so that no mode pays for
    // the dirty pages another one left (a superuser-only command: skipped
    // quietly on servers where the bench's role may not run it).
    (void)c->Exec("CHECKPOINT");
    c->set_statement_timeout(read_timeout);
  }
  return f;
}

int64_t CountPrepared(const PointFixture& f) {
  int64_t n = 0;
  // Only this coordinator's gids (docs/gid-format.md): the servers of a
  // user's config may hold other managers' prepared transactions.
  for (const auto& c : f.clients) {
    auto count = c->CountPrepared(f.node_id);
    if (count.ok()) n += *count;
  }
  return n;
}

void CheckFinalState(const PointFixture& f, PointResult* r) {
  if (f.clients.empty()) return;
  auto inv = ReadInvariant(*f.workload, f.client_ptrs());
  if (!inv.ok()) {
    r->final_violations = 1;
    r->final_detail = "final check could not read: " + inv.status().ToString();
  } else if (inv->violated) {
    r->final_violations = 1;
    r->final_detail = inv->detail;
  }
  r->prepared_left = CountPrepared(f);
  if (r->prepared_left > 0) {
    r->final_violations += r->prepared_left;
    r->final_detail += fmt::format("{}{} prepared transactions left in doubt",
                                   r->final_detail.empty() ? "" : "; ", r->prepared_left);
  }
}

void CheckAccounting(PointResult* r) {
  r->accounting_ok = r->committed + r->aborted == r->attempted;
  if (!r->accounting_ok) {
    std::fprintf(
        stderr, "twopc-bench: error: %s: committed %llu + aborted %llu != attempted %llu\n",
        PointLabel(r->spec).c_str(), static_cast<unsigned long long>(r->committed),
        static_cast<unsigned long long>(r->aborted), static_cast<unsigned long long>(r->attempted));
  }
}

}  // namespace twopc::bench
