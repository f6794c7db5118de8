// The order flow: an order row in `orders`, the payment in
// `payments`, the stock in `inventory` -- three databases, one atomic commit.
//
//   order_flow CONFIG
//
// CONFIG names participants "orders", "payments" and "inventory" (e.g. the
// twopc.toml written by `scripts/pg-sandbox start DIR --databases
// "orders payments inventory"`).
#include <cstdio>

#include "twopc/coordinator.h"
#include "twopc/retry.h"

namespace {

bool Setup(twopc::Coordinator& c) {
  twopc::Transaction tx = c.Begin();
  const std::pair<const char*, const char*> ddl[] = {
      {"orders", "CREATE TABLE IF NOT EXISTS orders(id bigint PRIMARY KEY, customer bigint NOT NULL,"
                 " item text NOT NULL, quantity int NOT NULL)"},
      {"payments", "CREATE TABLE IF NOT EXISTS wallets(customer bigint PRIMARY KEY,"
                   " balance bigint NOT NULL CHECK (balance >= 0))"},
      {"inventory", "CREATE TABLE IF NOT EXISTS stock(item text PRIMARY KEY,"
                    " quantity int NOT NULL CHECK (quantity >= 0), price bigint NOT NULL)"},
      {"orders", "TRUNCATE orders"},
      {"payments", "TRUNCATE wallets"},
      {"inventory", "TRUNCATE stock"},
      {"payments", "INSERT INTO wallets VALUES (1, 100), (2, 5)"},
      {"inventory", "INSERT INTO stock VALUES ('book', 3, 20), ('lamp', 0, 35)"},
  };
  for (auto [participant, sql] : ddl) {
    if (twopc::Status s = tx.Queue(participant, sql); !s.ok()) return false;
  }
  twopc::Status s = tx.Commit();
  if (!s.ok()) std::fprintf(stderr, "setup failed: %s\n", s.ToString().c_str());
  return s.ok();
}

// Places an order: all three databases change, or none does.
twopc::Status PlaceOrder(twopc::Coordinator& c, int64_t order_id, int64_t customer,
                         const std::string& item, int quantity) {
  return twopc::RunTransaction(c, [&](twopc::Transaction& tx) -> twopc::Status {
    auto price = tx.Execute("inventory", "SELECT price FROM stock WHERE item = $1", {item});
    if (!price.ok()) return price.status();
    if (price->empty()) return twopc::Status::InvalidArgument("no such item: " + item);
    int64_t total = price->Int(0, 0) * quantity;
    // The CHECK constraints refuse overdrafts and negative stock at PREPARE
    // time: the whole order then aborts and names the branch that refused.
    if (auto s = tx.Queue("inventory", "UPDATE stock SET quantity = quantity - $1 WHERE item = $2",
                          {quantity, item});
        !s.ok()) {
      return s;
    }
    if (auto s = tx.Queue("payments", "UPDATE wallets SET balance = balance - $1 WHERE customer = $2",
                          {total, customer});
        !s.ok()) {
      return s;
    }
    return tx.Queue("orders", "INSERT INTO orders VALUES ($1, $2, $3, $4)",
                    {order_id, customer, item, quantity});
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
    return 2;
  }
  auto coord = twopc::Coordinator::OpenFromConfigFile(argv[1]);
  if (!coord.ok()) {
    std::fprintf(stderr, "cannot open coordinator: %s\n", coord.status().ToString().c_str());
    return 1;
  }
  twopc::Coordinator& c = **coord;
  if (!Setup(c)) return 1;

  struct Attempt { int64_t id, customer; const char* item; int quantity; bool should_commit; };
  const Attempt attempts[] = {
      {1, 1, "book", 2, true},    // 40 of 100, 2 of 3 books
      {2, 2, "book", 1, false},   // wallet 5 < 20: payments refuses
      {3, 1, "lamp", 1, false},   // out of stock: inventory refuses
      {4, 1, "book", 1, true},
  };
  int wrong = 0;
  for (const Attempt& a : attempts) {
    twopc::Status s = PlaceOrder(c, a.id, a.customer, a.item, a.quantity);
    std::printf("order %lld (%d x %s for customer %lld): %s\n", static_cast<long long>(a.id),
                a.quantity, a.item, static_cast<long long>(a.customer),
                s.ok() ? "COMMITTED" : s.ToString().c_str());
    if (s.ok() != a.should_commit) ++wrong;
  }

  // Every database agrees: two orders, 3 books sold, customer 1 paid 60.
  twopc::Transaction check = c.Begin();
  auto orders = check.Execute("orders", "SELECT count(*) FROM orders");
  auto wallet = check.Execute("payments", "SELECT balance FROM wallets WHERE customer = 1");
  auto books = check.Execute("inventory", "SELECT quantity FROM stock WHERE item = 'book'");
  if (!orders.ok() || !wallet.ok() || !books.ok()) return 1;
  std::printf("orders: %lld, wallet of customer 1: %lld, books left: %lld\n",
              static_cast<long long>(orders->Int(0, 0)), static_cast<long long>(wallet->Int(0, 0)),
              static_cast<long long>(books->Int(0, 0)));
  if (orders->Int(0, 0) != 2 || wallet->Int(0, 0) != 40 || books->Int(0, 0) != 0) ++wrong;
  if (!check.Commit().ok()) ++wrong;
  std::printf("%s\n", wrong == 0 ? "order flow: all outcomes as expected" : "order flow: UNEXPECTED outcome");
  return wrong == 0 ? 0 : 1;
}
