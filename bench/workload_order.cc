// The order workload of examples/order_flow.cc, in three shards:
//   shard 0 (orders)     bench_orders(id, customer, item, quantity, amount, status)
//   shard 1 (payments)   bench_wallets(customer, balance CHECK >= 0)
//   shard 2 (inventory)  bench_stock(item, quantity CHECK >= 0, price)
// An order is three steps: create the order, reserve the stock, charge the
// customer. --failure-rate of the orders fail for business reasons, half of
// them out of stock (item 0 has none), half declined (customer 0 has no money).
// Invariants: money paid == value of the confirmed orders, and stock taken ==
// quantity of the confirmed orders.
#include <fmt/format.h>

#include "bench/workload.h"

namespace twopc::bench {
namespace {

constexpr int64_t kOpening = 1000000000;  // per wallet and per stock item
constexpr int kOrdersShard = 0, kPaymentsShard = 1, kInventoryShard = 2;

int64_t PriceOf(int64_t item) { return 1 + item % 97; }

class OrderWorkload : public Workload {
 public:
  OrderWorkload(const WorkloadParams& params, Layout layout)
      : Workload(params, std::move(layout)) {}

  Status Reset(const std::vector<DbClient*>& clients) const override {
    for (int s = 0; s < params_.shards; ++s) {
      if (layout_.mariadb(s)) {
        return Status::InvalidArgument(
            "the order workload runs on PostgreSQL participants only (" + layout_.participant(s) +
            " is MariaDB)");
      }
    }
    const int64_t n = params_.accounts;
    std::string orders = fmt::format(
        "DROP TABLE IF EXISTS {0}; CREATE TABLE {0}(id bigint PRIMARY KEY, customer bigint NOT"
        " NULL, item bigint NOT NULL, quantity int NOT NULL, amount bigint NOT NULL,"
        " status text NOT NULL); {1}",
        layout_.Table("bench_orders", kOrdersShard), JournalDdl(kOrdersShard));
    // Row 0 of each table is the business failure: a customer with no money,
    // an item out of stock.
    std::string wallets = fmt::format(
        "DROP TABLE IF EXISTS {0}; CREATE TABLE {0}(customer bigint PRIMARY KEY,"
        " balance bigint NOT NULL CHECK (balance >= 0)); INSERT INTO {0} SELECT g,"
        " CASE WHEN g = 0 THEN 0 ELSE {1} END FROM generate_series(0, {2}) g; ANALYZE {0}; {3}",
        layout_.Table("bench_wallets", kPaymentsShard), kOpening, n, JournalDdl(kPaymentsShard));
    std::string stock = fmt::format(
        "DROP TABLE IF EXISTS {0}; CREATE TABLE {0}(item bigint PRIMARY KEY, quantity bigint NOT"
        " NULL CHECK (quantity >= 0), price bigint NOT NULL); INSERT INTO {0} SELECT g,"
        " CASE WHEN g = 0 THEN 0 ELSE {1} END, 1 + g % 97 FROM generate_series(0, {2}) g;"
        " ANALYZE {0}; {3}",
        layout_.Table("bench_stock", kInventoryShard), kOpening, n, JournalDdl(kInventoryShard));
    for (auto [shard, sql] : {std::pair{kOrdersShard, &orders}, std::pair{kPaymentsShard, &wallets},
                              std::pair{kInventoryShard, &stock}}) {
      if (Status s = ClientOf(clients, shard)->Exec(*sql); !s.ok()) return s;
    }
    return Status::OK();
  }

  Operation Next(std::mt19937_64& rng, uint64_t id) const override {
    int64_t customer = PickId(rng, params_.accounts);
    int64_t item = PickId(rng, params_.accounts);
    int64_t quantity = std::uniform_int_distribution<int64_t>(1, 3)(rng);
    Operation op;
    op.id = id;
    if (std::uniform_real_distribution<double>(0, 1)(rng) < params_.failure_rate) {
      op.doomed = true;
      (std::uniform_int_distribution<int>(0, 1)(rng) == 0 ? item : customer) = 0;
    }
    int64_t amount = PriceOf(item) * quantity;
    auto oid = static_cast<int64_t>(id);

    Step create;
    create.name = "create-order";
    create.shard = kOrdersShard;
    std::string orders = layout_.Table("bench_orders", kOrdersShard);
    create.action.push_back(
        {fmt::format("INSERT INTO {} VALUES ($1, $2, $3, $4, $5, 'confirmed')", orders),
         {oid, customer, item, quantity, amount}});
    create.guarded = create.action;
    create.compensation.push_back(
        {fmt::format("UPDATE {} SET status = 'cancelled' WHERE id = $1", orders), {oid}});

    std::string stock = layout_.Table("bench_stock", kInventoryShard);
    Step reserve =
        Refusable("reserve-stock", kInventoryShard,
                  fmt::format("UPDATE {} SET quantity = quantity - $1 WHERE item = $2", stock),
                  fmt::format("UPDATE {} SET quantity = quantity - $1 WHERE item = $2"
                              " AND quantity >= $1",
                              stock),
                  fmt::format("UPDATE {} SET quantity = quantity + $1 WHERE item = $2", stock),
                  quantity, item);

    std::string wallets = layout_.Table("bench_wallets", kPaymentsShard);
    Step charge = Refusable(
        "charge-payment", kPaymentsShard,
        fmt::format("UPDATE {} SET balance = balance - $1 WHERE customer = $2", wallets),
        fmt::format("UPDATE {} SET balance = balance - $1 WHERE customer = $2 AND balance >= $1",
                    wallets),
        fmt::format("UPDATE {} SET balance = balance + $1 WHERE customer = $2", wallets), amount,
        customer);

    op.steps = {std::move(create), std::move(reserve), std::move(charge)};
    for (int i = 0; i < 3; ++i) AddJournal(id, i, op.steps[i]);
    return op;
  }

  std::vector<std::string> AuditExpressions(int shard) const override {
    switch (shard) {
      case kOrdersShard: {
        std::string t = layout_.Table("bench_orders", shard);
        return {
            fmt::format("SELECT coalesce(sum(amount), 0) FROM {} WHERE status = 'confirmed'", t),
            fmt::format("SELECT coalesce(sum(quantity), 0) FROM {} WHERE status = 'confirmed'", t)};
      }
      case kPaymentsShard:
        return {fmt::format("SELECT coalesce(sum(balance), 0) FROM {}",
                            layout_.Table("bench_wallets", shard))};
      default:
        return {fmt::format("SELECT coalesce(sum(quantity), 0) FROM {}",
                            layout_.Table("bench_stock", shard))};
    }
  }

  InvariantCheck Check(const std::vector<std::vector<int64_t>>& v) const override {
    int64_t confirmed_value = v.at(kOrdersShard).at(0);
    int64_t confirmed_quantity = v.at(kOrdersShard).at(1);
    int64_t paid = kOpening * params_.accounts - v.at(kPaymentsShard).at(0);
    int64_t taken = kOpening * params_.accounts - v.at(kInventoryShard).at(0);
    if (paid == confirmed_value && taken == confirmed_quantity) return {};
    return {true,
            fmt::format("paid {} vs confirmed orders worth {}; stock taken {} vs {} confirmed",
                        paid, confirmed_value, taken, confirmed_quantity)};
  }

 private:
  Step Refusable(const char* name, int shard, std::string sql, std::string guarded_sql,
                 std::string undo_sql, int64_t amount, int64_t key) const {
    Step s;
    s.name = name;
    s.shard = shard;
    s.refusable = true;
    s.action.push_back({std::move(sql), {amount, key}});
    s.guarded.push_back({std::move(guarded_sql), {amount, key}});
    s.compensation.push_back({std::move(undo_sql), {amount, key}});
    return s;
  }
};

}  // namespace

std::unique_ptr<Workload> MakeOrderWorkload(const WorkloadParams& params, Layout layout) {
  return std::make_unique<OrderWorkload>(params, std::move(layout));
}

}  // namespace twopc::bench
