// The order flow of order_flow.cc across two kinds of database: the order
// row in `orders` and the stock in `inventory` on PostgreSQL, the payment in
// `payments` on MariaDB (an XA participant) -- one atomic commit.
//
//   order_flow_mixed CONFIG
//
// CONFIG names participants "orders" and "inventory" (PostgreSQL) and
// "payments" (kind = "mariadb"), e.g. the twopc.toml of `scripts/pg-sandbox
// start DIR --databases "orders inventory"` with the participants file of
// `scripts/mariadb-sandbox start DIR/m --databases payments` appended.
//
// What differs from order_flow.cc is only the SQL of the MariaDB side:
//  - MariaDB refuses DDL inside an XA branch (it would end the transaction;
//    docs/protocol.md, "MariaDB participants", rule 5), so the wallets table
//    is created beforehand on a plain connection of MariaDB's own client
//    library; emptying and filling it is DML and joins the setup transaction;
//  - a $n parameter reaches MariaDB as a string literal (rule 6), so
//    arithmetic on it is cast to an integer.
#include <mysql.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/retry.h"

namespace {

// host=127.0.0.1 port=P user=U password=W dbname=D (no quoting: the
// sandbox's conninfo has no spaces inside values).
std::map<std::string, std::string> ParseConninfo(const std::string& conninfo) {
  std::map<std::string, std::string> kv;
  std::istringstream in(conninfo);
  for (std::string word; in >> word;) {
    auto eq = word.find('=');
    if (eq != std::string::npos) kv[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return kv;
}

// CREATE TABLE on MariaDB, outside any XA branch.
bool CreateWallets(const twopc::ParticipantOptions& payments) {
  auto kv = ParseConninfo(payments.conninfo);
  MYSQL* mysql = mysql_init(nullptr);
  if (mysql == nullptr) return false;
  unsigned timeout = 10;
  mysql_optionsv(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_optionsv(mysql, MYSQL_OPT_READ_TIMEOUT, &timeout);
  bool ok = mysql_real_connect(mysql, kv["host"].c_str(), kv["user"].c_str(),
                               kv["password"].c_str(), kv["dbname"].c_str(),
                               static_cast<unsigned>(std::atoi(kv["port"].c_str())), nullptr,
                               0) != nullptr;
  const char* ddl =
      "CREATE TABLE IF NOT EXISTS wallets(customer bigint PRIMARY KEY,"
      " balance bigint NOT NULL CHECK (balance >= 0)) ENGINE=InnoDB";
  ok = ok && mysql_query(mysql, ddl) == 0;
  if (!ok) std::fprintf(stderr, "payments: %s\n", mysql_error(mysql));
  mysql_close(mysql);
  return ok;
}

bool Setup(twopc::Coordinator& c) {
  twopc::Transaction tx = c.Begin();
  const std::pair<const char*, const char*> statements[] = {
      {"orders", "CREATE TABLE IF NOT EXISTS orders(id bigint PRIMARY KEY, customer bigint NOT NULL,"
                 " item text NOT NULL, quantity int NOT NULL)"},
      {"inventory", "CREATE TABLE IF NOT EXISTS stock(item text PRIMARY KEY,"
                    " quantity int NOT NULL CHECK (quantity >= 0), price bigint NOT NULL)"},
      {"orders", "TRUNCATE orders"},
      {"inventory", "TRUNCATE stock"},
      {"payments", "DELETE FROM wallets"},
      {"payments", "INSERT INTO wallets VALUES (1, 100), (2, 5)"},
      {"inventory", "INSERT INTO stock VALUES ('book', 3, 20), ('lamp', 0, 35)"},
  };
  for (auto [participant, sql] : statements) {
    if (twopc::Status s = tx.Queue(participant, sql); !s.ok()) return false;
  }
  twopc::Status s = tx.Commit();
  if (!s.ok()) std::fprintf(stderr, "setup failed: %s\n", s.ToString().c_str());
  return s.ok();
}

// Places an order: both PostgreSQL databases and the MariaDB one change, or
// none does.
twopc::Status PlaceOrder(twopc::Coordinator& c, int64_t order_id, int64_t customer,
                         const std::string& item, int quantity) {
  return twopc::RunTransaction(c, [&](twopc::Transaction& tx) -> twopc::Status {
    auto price = tx.Execute("inventory", "SELECT price FROM stock WHERE item = $1", {item});
    if (!price.ok()) return price.status();
    if (price->empty()) return twopc::Status::InvalidArgument("no such item: " + item);
    int64_t total = price->Int(0, 0) * quantity;
    // CHECK constraints on both kinds refuse overdrafts and negative stock
    // (MariaDB enforces CHECK since 10.2): the whole order then aborts and
    // names the branch that refused.
    if (auto s = tx.Queue("inventory", "UPDATE stock SET quantity = quantity - $1 WHERE item = $2",
                          {quantity, item});
        !s.ok()) {
      return s;
    }
    if (auto s = tx.Queue("payments",
                          "UPDATE wallets SET balance = balance - CAST($1 AS SIGNED)"
                          " WHERE customer = CAST($2 AS SIGNED)",
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
  auto options = twopc::LoadConfigFile(argv[1]);
  if (!options.ok()) {
    std::fprintf(stderr, "cannot read config: %s\n", options.status().ToString().c_str());
    return 1;
  }
  const twopc::ParticipantOptions* payments = nullptr;
  for (const auto& p : options->participants) {
    if (p.name == "payments") payments = &p;
  }
  if (payments == nullptr || payments->kind != twopc::ParticipantKind::kMariaDb) {
    std::fprintf(stderr, "the config needs a participant \"payments\" of kind \"mariadb\"\n");
    return 2;
  }
  if (!CreateWallets(*payments)) return 1;

  auto coord = twopc::Coordinator::Open(*options);
  if (!coord.ok()) {
    std::fprintf(stderr, "cannot open coordinator: %s\n", coord.status().ToString().c_str());
    return 1;
  }
  twopc::Coordinator& c = **coord;
  if (!Setup(c)) return 1;

  struct Attempt { int64_t id, customer; const char* item; int quantity; bool should_commit; };
  const Attempt attempts[] = {
      {1, 1, "book", 2, true},    // 40 of 100, 2 of 3 books
      {2, 2, "book", 1, false},   // wallet 5 < 20: payments (MariaDB) refuses
      {3, 1, "lamp", 1, false},   // out of stock: inventory (PostgreSQL) refuses
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
  std::printf("orders: %lld, wallet of customer 1 (MariaDB): %lld, books left: %lld\n",
              static_cast<long long>(orders->Int(0, 0)), static_cast<long long>(wallet->Int(0, 0)),
              static_cast<long long>(books->Int(0, 0)));
  if (orders->Int(0, 0) != 2 || wallet->Int(0, 0) != 40 || books->Int(0, 0) != 0) ++wrong;
  if (!check.Commit().ok()) ++wrong;
  std::printf("%s\n", wrong == 0 ? "mixed order flow: all outcomes as expected"
                                 : "mixed order flow: UNEXPECTED outcome");
  return wrong == 0 ? 0 : 1;
}
