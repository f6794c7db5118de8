// The transfer workload: accounts(id, balance) in every shard; a transfer
// moves an amount from an account of one shard to an account of another.
// Invariant: the total balance over all shards never changes.
#include <fmt/format.h>

#include "bench/workload.h"

namespace twopc::bench {
namespace {

constexpr int64_t kOpeningBalance = 1000000;
constexpr char kAccounts[] = "bench_accounts";

class TransferWorkload : public Workload {
 public:
  TransferWorkload(const WorkloadParams& params, Layout layout)
      : Workload(params, std::move(layout)) {
    // Built once: Next() runs on the clients' measured path.
    // MariaDB takes each parameter as a string literal (docs/protocol.md,
    // "MariaDB participants", rule 6): cast, so that the sum stays integer.
    for (int s = 0; s < params_.shards; ++s) {
      std::string table = layout_.Table(kAccounts, s);
      update_sql_.push_back(
          layout_.mariadb(s)
              ? fmt::format("UPDATE {} SET balance = balance + CAST($1 AS SIGNED)"
                            " WHERE id = CAST($2 AS SIGNED)",
                            table)
              : fmt::format("UPDATE {} SET balance = balance + $1 WHERE id = $2", table));
    }
  }

  Status Reset(const std::vector<DbClient*>& clients) const override {
    for (int s = 0; s < params_.shards; ++s) {
      // No CHECK (balance >= 0): a transfer never fails for business
      // reasons, so aborts measure conflicts and the protocol alone.
      std::string t = layout_.Table(kAccounts, s);
      if (layout_.mariadb(s)) {
        // No generate_series on MariaDB: a recursive CTE counts to N, once
        // the session allows that many iterations (1000 by default).
        std::string sql = fmt::format(
            "SET SESSION max_recursive_iterations = {2} + 10; DROP TABLE IF EXISTS {0}; CREATE TABLE {0}(id bigint PRIMARY KEY,"
            " balance bigint NOT NULL) ENGINE=InnoDB; INSERT INTO {0}(id, balance)"
            " WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {2})"
            " SELECT n, {1} FROM g; ANALYZE TABLE {0}; {3}",
            t, kOpeningBalance, params_.accounts, JournalDdl(s));
        if (Status st = ClientOf(clients, s)->Exec(sql); !st.ok()) return st;
        continue;
      }
      std::string sql = fmt::format(
          "DROP TABLE IF EXISTS {0}; CREATE TABLE {0}(id bigint PRIMARY KEY,"
          " balance bigint NOT NULL); INSERT INTO {0} SELECT g, {1} FROM"
          " generate_series(1, {2}) g; ANALYZE {0}; {3}",
          t, kOpeningBalance, params_.accounts, JournalDdl(s));
      if (Status st = ClientOf(clients, s)->Exec(sql); !st.ok()) return st;
    }
    return Status::OK();
  }

  Operation Next(std::mt19937_64& rng, uint64_t id) const override {
    int k = params_.shards;
    int from = std::uniform_int_distribution<int>(0, k - 1)(rng);
    int to = (from + std::uniform_int_distribution<int>(1, k - 1)(rng)) % k;
    int64_t a = PickId(rng, params_.accounts);
    int64_t b = PickId(rng, params_.accounts);
    int64_t amount = std::uniform_int_distribution<int64_t>(1, 100)(rng);
    Operation op;
    op.id = id;
    op.steps.push_back(Move("debit", from, a, -amount));
    op.steps.push_back(Move("credit", to, b, amount));
    for (int i = 0; i < 2; ++i) AddJournal(id, i, op.steps[i]);
    return op;
  }

  std::vector<std::string> AuditExpressions(int shard) const override {
    return {
        fmt::format("SELECT coalesce(sum(balance), 0) FROM {}", layout_.Table(kAccounts, shard))};
  }

  InvariantCheck Check(const std::vector<std::vector<int64_t>>& by_shard) const override {
    int64_t total = 0;
    for (const auto& v : by_shard) total += v.at(0);
    int64_t expected = kOpeningBalance * params_.accounts * params_.shards;
    if (total == expected) return {};
    return {true,
            fmt::format("total balance {} != {} (off by {})", total, expected, total - expected)};
  }

 private:
  Step Move(const char* name, int shard, int64_t account, int64_t delta) const {
    const std::string& sql = update_sql_[shard];
    Step s;
    s.name = name;
    s.shard = shard;
    s.action.push_back({sql, {delta, account}});
    s.guarded = s.action;
    s.compensation.push_back({sql, {-delta, account}});
    return s;
  }

  std::vector<std::string> update_sql_;  // by shard
};

}  // namespace

std::unique_ptr<Workload> MakeTransferWorkload(const WorkloadParams& params, Layout layout) {
  return std::make_unique<TransferWorkload>(params, std::move(layout));
}

}  // namespace twopc::bench
