// A bank whose accounts live in several databases, moved between with the
// asynchronous API: each transfer is a C++20 coroutine on the application's
// own io_context, awaiting twopc::async_execute / async_commit.
//
//   bank_transfer CONFIG [TRANSFERS]
//
// Every participant of CONFIG gets accounts(id, balance); TRANSFERS (default
// 200) transfers run 16 at a time between random accounts of two different
// databases. At the end the total balance must be what it was.
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <random>

#include "twopc/asio.h"
#include "twopc/coordinator.h"

namespace asio = boost::asio;

namespace {

constexpr int kAccounts = 20;
constexpr int64_t kOpening = 1000;

struct Tally {
  int committed = 0, aborted = 0, in_doubt = 0;
};

asio::awaitable<void> Transfer(twopc::Coordinator& c, std::string from_db, std::string to_db,
                               int from, int to, int64_t amount, Tally& tally) {
  twopc::Transaction tx = c.Begin();
  // Statements and parameters are named locals: GCC 12 miscompiles braced
  // temporaries inside a co_await expression ("array used as initializer").
  const std::string select = "SELECT balance FROM accounts WHERE id = $1";
  const std::string debit_sql = "UPDATE accounts SET balance = balance - $1 WHERE id = $2";
  const std::string credit_sql = "UPDATE accounts SET balance = balance + $1 WHERE id = $2";
  std::vector<twopc::Param> who, debit_params, credit_params;
  who.emplace_back(from);
  debit_params.emplace_back(amount);
  debit_params.emplace_back(from);
  credit_params.emplace_back(amount);
  credit_params.emplace_back(to);

  // Read first (async_execute returns the rows), then write: the debit is
  // refused by the CHECK constraint if it would overdraw.
  auto rows = co_await twopc::async_execute(tx, from_db, select, who, asio::use_awaitable);
  if (!rows.ok() || rows->empty()) {
    tally.aborted++;
    co_return;
  }
  auto debit = co_await twopc::async_execute(tx, from_db, debit_sql, debit_params, asio::use_awaitable);
  auto credit = co_await twopc::async_execute(tx, to_db, credit_sql, credit_params, asio::use_awaitable);
  twopc::Status s;
  if (debit.ok() && credit.ok()) {
    s = co_await twopc::async_commit(tx, asio::use_awaitable);
  } else {
    s = co_await twopc::async_rollback(tx, asio::use_awaitable);
  }
  if (s.ok() && debit.ok() && credit.ok()) {
    tally.committed++;
  } else if (s.IsInDoubt()) {
    tally.in_doubt++;
  } else {
    tally.aborted++;
  }
}

// Runs `count` transfers, at most `width` in flight.
asio::awaitable<void> Worker(twopc::Coordinator& c, const std::vector<std::string>& dbs,
                             int count, unsigned seed, Tally& tally) {
  std::mt19937 rng(seed);
  for (int i = 0; i < count; ++i) {
    size_t a = rng() % dbs.size(), b = (a + 1 + rng() % (dbs.size() - 1)) % dbs.size();
    int from = 1 + rng() % kAccounts, to = 1 + rng() % kAccounts;
    int64_t amount = 1 + rng() % 300;
    co_await Transfer(c, dbs[a], dbs[b], from, to, amount, tally);
  }
}

int64_t Total(twopc::Coordinator& c, const std::vector<std::string>& dbs) {
  twopc::Transaction tx = c.Begin();
  int64_t total = 0;
  for (const auto& db : dbs) {
    auto r = tx.Execute(db, "SELECT sum(balance) FROM accounts");
    if (!r.ok()) return -1;
    total += r->Int(0, 0);
  }
  return tx.Commit().ok() ? total : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CONFIG [TRANSFERS]\n", argv[0]);
    return 2;
  }
  int transfers = argc > 2 ? std::atoi(argv[2]) : 200;
  auto coord = twopc::Coordinator::OpenFromConfigFile(argv[1]);
  if (!coord.ok()) {
    std::fprintf(stderr, "cannot open coordinator: %s\n", coord.status().ToString().c_str());
    return 1;
  }
  twopc::Coordinator& c = **coord;
  std::vector<std::string> dbs;
  for (const auto& p : c.options().participants) dbs.push_back(p.name);
  if (dbs.size() < 2) {
    std::fprintf(stderr, "need at least two participants\n");
    return 2;
  }

  twopc::Transaction setup = c.Begin();
  for (const auto& db : dbs) {
    (void)setup.Queue(db, "DROP TABLE IF EXISTS accounts");
    (void)setup.Queue(db, "CREATE TABLE accounts(id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))");
    (void)setup.Queue(db, "INSERT INTO accounts SELECT g, $1 FROM generate_series(1, $2) g",
                      {kOpening, kAccounts});
  }
  if (twopc::Status s = setup.Commit(); !s.ok()) {
    std::fprintf(stderr, "setup failed: %s\n", s.ToString().c_str());
    return 1;
  }
  const int64_t before = Total(c, dbs);

  asio::io_context io;
  Tally tally;
  constexpr int kWidth = 16;
  for (int w = 0; w < kWidth; ++w) {
    int share = transfers / kWidth + (w < transfers % kWidth ? 1 : 0);
    asio::co_spawn(io, Worker(c, dbs, share, 1234 + w, tally), asio::detached);
  }
  io.run();

  const int64_t after = Total(c, dbs);
  std::printf("%d transfers: %d committed, %d aborted, %d in doubt; total balance %lld -> %lld\n",
              transfers, tally.committed, tally.aborted, tally.in_doubt,
              static_cast<long long>(before), static_cast<long long>(after));
  bool ok = before == after && tally.in_doubt == 0 &&
            tally.committed + tally.aborted == transfers && tally.committed > 0;
  std::printf("%s\n", ok ? "bank transfer: total balance conserved" : "bank transfer: INVARIANT BROKEN");
  return ok ? 0 : 1;
}
