// Many concurrent distributed transfers: atomicity and no leftovers.
#include <random>
#include <thread>

#include "tests/support/bank_fixture.h"
#include "twopc/retry.h"

namespace twopc::testing {
namespace {

using namespace std::chrono_literals;

class ConcurrencyTest : public BankTest {};

// 16 threads x 500 transfers between accounts held in different databases.
// Some transfers abort (overdraft check, lock timeouts from distributed
// deadlocks that no single server can see); none may break the invariant.
TEST_F(ConcurrencyTest, SixteenThreadsOfTransfersKeepTotalBalance) {
  constexpr int kThreads = 16;
  constexpr int kTransfersPerThread = 500;
  auto coord = Open(Options());
  ASSERT_NE(coord, nullptr);
  const int64_t total_before = Total();

  std::atomic<int> committed{0}, aborted{0}, in_doubt{0};
  TransactionOptions topts;
  topts.lock_timeout = 200ms;  // turns a distributed deadlock into 55P03, retried
  topts.deadline = 10s;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      const char* dbs[] = {"a", "b", "c"};
      for (int i = 0; i < kTransfersPerThread; ++i) {
        int from_db = rng() % 3;
        int to_db = (from_db + 1 + rng() % 2) % 3;
        int from = 1 + rng() % kAccountsPerDb;
        int to_acct = 1 + rng() % kAccountsPerDb;
        int64_t amount = 1 + rng() % 400;
        Status s = RunTransaction(*coord, [&](Transaction& tx) {
          if (Status q = tx.Queue(dbs[from_db], "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
                                  {amount, from});
              !q.ok()) {
            return q;
          }
          return tx.Queue(dbs[to_db], "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
                          {amount, to_acct});
        }, topts);
        if (s.ok()) {
          committed++;
        } else if (s.IsInDoubt()) {
          in_doubt++;
        } else {
          aborted++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(committed + aborted + in_doubt, kThreads * kTransfersPerThread);
  EXPECT_EQ(in_doubt.load(), 0);
  EXPECT_GT(committed.load(), kThreads * kTransfersPerThread / 2);
  EXPECT_EQ(Total(), total_before);
  EXPECT_EQ(PreparedEverywhere(), 0);
  ASSERT_TRUE(coord->log().Flush().ok());
  EXPECT_TRUE(coord->log().Unended()->empty());
  auto st = coord->stats();
  EXPECT_EQ(st.committed, static_cast<uint64_t>(committed.load()));
  // Group commit: concurrent COMMIT records shared fsyncs.
  EXPECT_LT(st.log.forces, st.log.records_forced);
  std::printf("committed %d aborted %d; %llu COMMIT records in %llu forces\n", committed.load(),
              aborted.load(), static_cast<unsigned long long>(st.log.records_forced),
              static_cast<unsigned long long>(st.log.forces));
}

}  // namespace
}  // namespace twopc::testing
