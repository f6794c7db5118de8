// twopc-demo: the main job. Runs distributed transfers through a
// coordinator (the decision store its config names) and shows what happened:
// one commit, one abort caused by a failing branch, a burst of concurrent
// transfers, and the final balances on every database. The coordinator's
// Prometheus metrics are served on a free loopback port while it runs
// (--metrics), and the demo ends with a few lines of them.
//
//   twopc-demo --config FILE [--transfers N] [--threads T] [--metrics ADDR]
//   twopc-demo --config FILE --loop [--pause-ms MS]
//
// --loop keeps transferring, one transfer at a time, until SIGINT or SIGTERM,
// and creates the accounts only where they are missing: several copies can
// share one config (store = "postgres", the README's "Two replicas on one
// config") and one can be killed while the others keep going.
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <random>
#include <sstream>
#include <thread>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/retry.h"

namespace {

constexpr int kAccounts = 3;
constexpr int64_t kOpening = 100;

twopc::Status Transfer(twopc::Coordinator& c, const std::string& from_db, int from,
                       const std::string& to_db, int to, int64_t amount, std::string* gtrid) {
  // Two transfers that lock the same two rows in opposite databases wait on
  // each other across servers, a deadlock neither server can see. A short
  // lock_timeout turns it into SQLSTATE 55P03, which RunTransaction retries.
  twopc::TransactionOptions options;
  options.lock_timeout = std::chrono::milliseconds(200);
  options.deadline = std::chrono::seconds(10);
  return twopc::RunTransaction(c, [&](twopc::Transaction& tx) -> twopc::Status {
    if (gtrid != nullptr) *gtrid = tx.gtrid();
    if (auto s = tx.Queue(from_db, "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
                          {amount, from});
        !s.ok()) {
      return s;
    }
    return tx.Queue(to_db, "UPDATE accounts SET balance = balance + $1 WHERE id = $2", {amount, to});
  }, options);
}

void PrintBalances(twopc::Coordinator& c, const std::vector<std::string>& dbs) {
  twopc::Transaction tx = c.Begin();
  int64_t total = 0;
  std::printf("  %-12s %8s %8s %8s\n", "participant", "acct 1", "acct 2", "acct 3");
  for (const auto& db : dbs) {
    auto r = tx.Execute(db, "SELECT balance FROM accounts ORDER BY id");
    if (!r.ok()) {
      std::printf("  %-12s %s\n", db.c_str(), r.status().ToString().c_str());
      continue;
    }
    std::printf("  %-12s", db.c_str());
    for (size_t i = 0; i < r->size(); ++i) {
      std::printf(" %8lld", static_cast<long long>(r->Int(i, 0)));
      total += r->Int(i, 0);
    }
    std::printf("\n");
  }
  (void)tx.Commit();
  std::printf("  total balance: %lld\n", static_cast<long long>(total));
}

// The transaction counters as GET /metrics shows them, read in-process
// (the same registry the endpoint serves), so the demo needs no HTTP client.
void PrintTransactionMetrics(twopc::Coordinator& c) {
  std::printf("\nmetrics (twopc_transactions_total as GET /metrics serves it, series at 0 left out;\n"
              "aborted counts every try RunTransaction made):\n");
  std::istringstream scrape(prometheus::TextSerializer().Serialize(c.metrics()->Collect()));
  std::string line;
  while (std::getline(scrape, line)) {
    if (line.rfind("twopc_transactions_total{", 0) == 0 && line.substr(line.rfind(' ')) != " 0") {
      std::printf("  %s\n", line.c_str());
    }
  }
}

std::atomic<bool> stop_requested{false};

extern "C" void RequestStop(int /*signal*/) { stop_requested = true; }

// --loop: random transfers one after the other until a signal; a progress
// line every 50 transfers and one for every outcome that is neither a commit
// nor an abort. Exit 1 if any transfer was in doubt.
int RunLoop(twopc::Coordinator& c, const std::vector<std::string>& dbs, int pause_ms) {
  std::signal(SIGINT, RequestStop);
  std::signal(SIGTERM, RequestStop);
  std::printf("\nlooping: one transfer at a time until SIGINT/SIGTERM\n");
  std::fflush(stdout);
  std::mt19937 rng(static_cast<unsigned>(c.incarnation()));
  long committed = 0, aborted = 0, in_doubt = 0;
  while (!stop_requested) {
    size_t a = rng() % dbs.size(), b = (a + 1 + rng() % (dbs.size() - 1)) % dbs.size();
    std::string gtrid;
    twopc::Status r = Transfer(c, dbs[a], 1 + static_cast<int>(rng() % kAccounts), dbs[b],
                               1 + static_cast<int>(rng() % kAccounts), 1 + rng() % 40, &gtrid);
    if (r.ok()) {
      ++committed;
    } else if (r.IsAborted()) {
      ++aborted;
    } else {
      ++in_doubt;
      std::printf("   %s: %s\n", gtrid.c_str(), r.ToString().c_str());
    }
    if ((committed + aborted + in_doubt) % 50 == 0) {
      std::printf("   %ld committed, %ld aborted, %ld in doubt (last %s)\n", committed, aborted,
                  in_doubt, gtrid.c_str());
      std::fflush(stdout);
    }
    if (pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  std::printf("\nstopped: %ld committed, %ld aborted, %ld in doubt\n", committed, aborted,
              in_doubt);
  std::printf("balances:\n");
  PrintBalances(c, dbs);
  PrintTransactionMetrics(c);
  return in_doubt == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"twopc-demo: atomic transfers across PostgreSQL databases"};
  std::string config;
  int transfers = 200, threads = 8;
  app.add_option("--config", config, "twopc TOML config (participants, decision log)")->required();
  app.add_option("--transfers", transfers, "concurrent transfers in the burst")->check(CLI::Range(0, 100000));
  app.add_option("--threads", threads, "client threads in the burst")->check(CLI::Range(1, 256));
  bool loop = false;
  int pause_ms = 20;
  app.add_flag(
      "--loop", loop,
      "Transfer until SIGINT/SIGTERM instead of the scripted run; keeps existing accounts, "
      "so several copies can share one config");
  app.add_option("--pause-ms", pause_ms, "--loop: pause between transfers")
      ->check(CLI::Range(0, 60000));
  std::string metrics = "127.0.0.1:0";
  app.add_option("--metrics", metrics,
                 "serve GET /metrics at HOST:PORT (port 0: a free one); empty: the config's "
                 "[metrics] listen")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto options = twopc::LoadConfigFile(config);
  if (!options.ok()) {
    std::fprintf(stderr, "twopc-demo: %s\n", options.status().ToString().c_str());
    return 1;
  }
  if (!metrics.empty()) options->metrics.listen = metrics;
  auto opened = twopc::Coordinator::Open(std::move(options.value()));
  if (!opened.ok()) {
    std::fprintf(stderr, "twopc-demo: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  twopc::Coordinator& c = **opened;
  std::vector<std::string> dbs;
  const std::string store = c.options().log.store == twopc::LogStore::kPostgres
                                ? "decisions in the participants (store postgres)"
                                : "decision log " + c.options().log.path;
  std::printf("coordinator %s, incarnation %llu, %s\n", c.options().node_id.c_str(),
              static_cast<unsigned long long>(c.incarnation()), store.c_str());
  for (const auto& p : c.options().participants) {
    dbs.push_back(p.name);
    std::printf("  participant %-10s %s\n", p.name.c_str(), twopc::RedactConninfo(p.conninfo).c_str());
  }
  if (!c.metrics_endpoint().empty()) {
    std::printf("metrics: http://%s/metrics\n", c.metrics_endpoint().c_str());
  }
  if (dbs.size() < 2) {
    std::fprintf(stderr, "twopc-demo: the config must name at least two participants\n");
    return 2;
  }

  // Set-up runs one local transaction per participant (one phase): the first
  // two-phase commit of the demo is transfer 1, so TWOPC_CRASH_AT points
  // (see the README's "stuck transaction" walkthrough) land on it.
  // --loop keeps the accounts another copy may be using.
  for (const auto& db : dbs) {
    twopc::Transaction setup = c.Begin();
    if (!loop) (void)setup.Queue(db, "DROP TABLE IF EXISTS accounts");
    (void)setup.Queue(db,
                      "CREATE TABLE IF NOT EXISTS accounts(id bigint PRIMARY KEY,"
                      " balance bigint NOT NULL CHECK (balance >= 0))");
    (void)setup.Queue(db,
                      "INSERT INTO accounts SELECT g, $1 FROM generate_series(1, $2) g"
                      " ON CONFLICT (id) DO NOTHING",
                      {kOpening, kAccounts});
    if (auto s = setup.Commit(); !s.ok()) {
      std::fprintf(stderr, "twopc-demo: setup of %s failed: %s\n", db.c_str(), s.ToString().c_str());
      return 1;
    }
  }
  std::printf("\nopening balances:\n");
  PrintBalances(c, dbs);
  if (loop) return RunLoop(c, dbs, pause_ms);

  int unexpected = 0;
  std::string gtrid;
  std::printf("\n1. transfer 30 from %s/1 to %s/1\n", dbs[0].c_str(), dbs[1].c_str());
  twopc::Status s = Transfer(c, dbs[0], 1, dbs[1], 1, 30, &gtrid);
  std::printf("   -> %s (%s)\n", s.ok() ? "COMMITTED" : s.ToString().c_str(), gtrid.c_str());
  if (!s.ok()) ++unexpected;
  if (auto rec = c.log().Lookup(gtrid); rec.ok() && rec.value()) {
    std::printf("   decision log: %s, %zu branches:", twopc::DecisionName(rec.value()->decision),
                rec.value()->branches.size());
    for (const auto& b : rec.value()->branches) std::printf(" %s@%s", b.gid.c_str(), b.participant.c_str());
    std::printf("\n");
  }

  std::printf("\n2. transfer 500 from %s/2 (balance %lld) to %s/2 -- the debit overdraws\n",
              dbs[1].c_str(), static_cast<long long>(kOpening), dbs[0].c_str());
  s = Transfer(c, dbs[1], 2, dbs[0], 2, 500, &gtrid);
  std::printf("   -> %s\n", s.ok() ? "COMMITTED (unexpected!)" : s.ToString().c_str());
  std::printf("   nothing of %s is applied anywhere, and the decision log has no record of it\n",
              gtrid.c_str());
  if (!s.IsAborted()) ++unexpected;

  std::printf("\n3. %d concurrent transfers from %d threads\n", transfers, threads);
  std::atomic<int> committed{0}, aborted{0}, in_doubt{0};
  auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = t; i < transfers; i += threads) {
        size_t a = rng() % dbs.size(), b = (a + 1 + rng() % (dbs.size() - 1)) % dbs.size();
        twopc::Status r = Transfer(c, dbs[a], 1 + rng() % kAccounts, dbs[b],
                                   1 + rng() % kAccounts, 1 + rng() % 40, nullptr);
        (r.ok() ? committed : r.IsInDoubt() ? in_doubt : aborted)++;
      }
    });
  }
  for (auto& th : pool) th.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto st = c.stats();
  std::printf("   %d committed, %d aborted (overdrafts, lock timeouts after retries), %d in doubt in %.2f s (%.1f tx/s)\n",
              committed.load(), aborted.load(), in_doubt.load(), secs,
              secs > 0 ? committed.load() / secs : 0.0);
  std::printf("   decision log: %llu COMMIT records forced in %llu fsyncs (group commit)\n",
              static_cast<unsigned long long>(st.log.records_forced),
              static_cast<unsigned long long>(st.log.forces));
  if (in_doubt > 0) ++unexpected;

  std::printf("\nfinal balances:\n");
  PrintBalances(c, dbs);
  PrintTransactionMetrics(c);
  std::printf("\n%s\n", unexpected == 0 ? "demo finished: every outcome as expected"
                                        : "demo finished with UNEXPECTED outcomes");
  return unexpected == 0 ? 0 : 1;
}
