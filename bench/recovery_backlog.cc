#include "bench/recovery_backlog.h"

#include <fmt/format.h>

#include <algorithm>

#include "bench/flags.h"
#include "bench/pg_client.h"
#include "twopc/coordinator.h"
#include "twopc/gid.h"
#include "twopc/recovery.h"

namespace twopc::bench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The backlog's gids, per participant (0 and 1).
std::vector<std::vector<std::string>> BacklogGids(int n, const std::string& node_id, uint64_t incarnation,
                                                  LogStore store, const std::vector<std::string>& names) {
  std::vector<std::vector<std::string>> gids(2);
  for (int i = 0; i < n; ++i) {
    int at = i % 2;
    GidParts parts;
    parts.node_id = node_id;
    parts.incarnation = incarnation;
    if (store == LogStore::kPostgres) {
      // One prepared branch per transaction; the decider, never prepared,
      // is the other database and has no row: undecided.
      parts.txn = static_cast<uint64_t>(i) + 1;
      parts.branch = static_cast<uint32_t>(at) + 1;
      parts.decider = names[1 - at];
    } else {
      parts.txn = static_cast<uint64_t>(i / 2) + 1;
      parts.branch = static_cast<uint32_t>(at) + 1;
    }
    gids[at].push_back(EncodeGid(parts));
  }
  return gids;
}

// Prepares `gids` on one database, 250 transactions per round trip, each
// with a transaction id (a write transaction, as a real branch would be).
Status PrepareAll(PgClient& c, const std::vector<std::string>& gids) {
  constexpr size_t kPerRoundTrip = 250;
  for (size_t from = 0; from < gids.size(); from += kPerRoundTrip) {
    std::string sql;
    for (size_t i = from; i < std::min(gids.size(), from + kPerRoundTrip); ++i) {
      // EncodeGid writes only [A-Za-z0-9._-]: nothing to escape.
      sql += fmt::format("BEGIN; SELECT txid_current(); PREPARE TRANSACTION '{}';", gids[i]);
    }
    if (Status s = c.Exec(sql); !s.ok()) return s;
  }
  return Status::OK();
}

Result<int64_t> PreparedOfNode(PgClient& c, const std::string& node_id) {
  auto n = c.QueryInts(fmt::format(
      "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'tpc_.{}.%' AND database = current_database()",
      node_id));
  if (!n.ok()) return n.TakeStatus();
  return n->at(0);
}

}  // namespace

int RunRecoveryBacklog(const DriverEnv& env) {
  const BenchFlags& f = *env.flags;
  CoordinatorOptions options = env.options;
  if (options.participants.size() < 2) {
    fmt::print(stderr, "twopc-bench: --recovery-backlog needs two participants in the config\n");
    return 2;
  }
  options.recovery.interval = std::chrono::milliseconds(0);  // no background pass meanwhile
  std::vector<std::string> names = {options.participants[0].name, options.participants[1].name};

  // A dead incarnation: a coordinator that started and is gone.
  uint64_t incarnation = 0;
  {
    auto coordinator = Coordinator::Open(options);
    if (!coordinator.ok()) {
      fmt::print(stderr, "twopc-bench: {}\n", coordinator.status().ToString());
      return 2;
    }
    incarnation = (*coordinator)->incarnation();
  }
  auto gids = BacklogGids(f.recovery_backlog, options.node_id, incarnation, options.log.store, names);
  std::vector<std::unique_ptr<PgClient>> clients;
  auto prepare_start = Clock::now();
  for (size_t i = 0; i < 2; ++i) {
    auto c = PgClient::Connect(names[i], options.participants[i].conninfo, TimeoutsOf(options));
    if (!c.ok()) {
      fmt::print(stderr, "twopc-bench: {}\n", c.status().ToString());
      return 2;
    }
    (*c)->set_statement_timeout(std::chrono::minutes(5));
    if (Status s = PrepareAll(**c, gids[i]); !s.ok()) {
      fmt::print(stderr, "twopc-bench: preparing the backlog: {}\n", s.ToString());
      return 2;
    }
    clients.push_back(std::move(c.value()));
  }
  double prepare_s = SecondsSince(prepare_start);
  fmt::print(stderr, "twopc-bench: {} branches of incarnation {} prepared in {:.1f} s; recovering...\n",
             f.recovery_backlog, incarnation, prepare_s);

  // What `twopc recover` runs.
  auto open_start = Clock::now();
  auto manager = RecoveryManager::Open(options);
  if (!manager.ok()) {
    fmt::print(stderr, "twopc-bench: {}\n", manager.status().ToString());
    return 2;
  }
  double open_s = SecondsSince(open_start);
  RecoveryPassOptions pass;
  pass.pace = options.recovery.pace;
  auto pass_start = Clock::now();
  RecoveryReport report = (*manager)->RunPass(pass);
  double pass_s = SecondsSince(pass_start);

  int fenced = 0;
  int rolled_back = 0;
  for (const RecoveryAction& a : report.actions) {
    if (a.kind == RecoveryActionKind::kFence) fenced++;
    if (a.kind == RecoveryActionKind::kRollbackPrepared) rolled_back++;
  }
  int64_t left = 0;
  for (auto& c : clients) {
    auto n = PreparedOfNode(*c, options.node_id);
    left += n.ok() ? *n : f.recovery_backlog;
  }
  fmt::print(
      "\n| store | branches | transactions | recovery open (s) | pass (s) | branches/s | fenced | rolled back "
      "| left prepared | exit code |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
      "| {} | {} | {} | {:.2f} | {:.2f} | {:.0f} | {} | {} | {} | {} |\n",
      LogStoreName(options.log.store), f.recovery_backlog,
      options.log.store == LogStore::kPostgres ? f.recovery_backlog : (f.recovery_backlog + 1) / 2, open_s,
      pass_s, f.recovery_backlog / std::max(pass_s, 1e-6), fenced, rolled_back, left, report.ExitCode());
  return left == 0 && report.ExitCode() == 0 ? 0 : 1;
}

}  // namespace twopc::bench
