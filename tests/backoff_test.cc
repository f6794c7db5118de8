// common/backoff.h: the one backoff every retry in twopc uses.
#include "common/backoff.h"

#include <gtest/gtest.h>

#include "saga/outbox_backoff.h"

#include <climits>
#include <cstdint>
#include <vector>

namespace twopc::internal {
namespace {

using std::chrono::milliseconds;

// Jitter that always picks the top of the range, so the ceiling shows.
int64_t Top(int64_t bound) { return bound; }

TEST(BackoffTest, CeilingDoublesFromInitialUpToMax) {
  BackoffPolicy p{milliseconds(10), milliseconds(100), /*full_jitter=*/false};
  std::vector<int64_t> got;
  for (int retry = 1; retry <= 6; ++retry) got.push_back(Backoff(p, retry).count());
  EXPECT_EQ(got, (std::vector<int64_t>{10, 20, 40, 80, 100, 100}));
}

TEST(BackoffTest, RetryBelowOneIsTheFirstRetry) {
  BackoffPolicy p{milliseconds(10), milliseconds(100), false};
  EXPECT_EQ(Backoff(p, 0), milliseconds(10));
  EXPECT_EQ(Backoff(p, -5), milliseconds(10));
}

TEST(BackoffTest, FullJitterIsTheSourcesPickWithinZeroAndCeiling) {
  BackoffPolicy p{milliseconds(10), milliseconds(100), /*full_jitter=*/true};
  EXPECT_EQ(Backoff(p, 3, Top), milliseconds(40));
  EXPECT_EQ(Backoff(p, 3, [](int64_t) { return int64_t{0}; }), milliseconds(0));
  int64_t asked = -1;
  EXPECT_EQ(Backoff(p, 2,
                    [&](int64_t bound) {
                      asked = bound;
                      return int64_t{7};
                    }),
            milliseconds(7));
  EXPECT_EQ(asked, 20);  // the jitter source is asked for [0, ceiling]
}

TEST(BackoffTest, ABadJitterSourceIsClampedIntoRange) {
  BackoffPolicy p{milliseconds(10), milliseconds(100), true};
  EXPECT_EQ(Backoff(p, 1, [](int64_t) { return int64_t{-3}; }), milliseconds(0));
  EXPECT_EQ(Backoff(p, 1, [](int64_t) { return INT64_MAX; }), milliseconds(10));
}

TEST(BackoffTest, RandomJitterStaysInRangeAndVaries) {
  BackoffPolicy p{milliseconds(1000), milliseconds(1000), true};
  bool varied = false;
  int64_t first = Backoff(p, 1).count();
  for (int i = 0; i < 200; ++i) {
    int64_t v = Backoff(p, 1).count();
    ASSERT_GE(v, 0);
    ASSERT_LE(v, 1000);
    varied = varied || v != first;
  }
  EXPECT_TRUE(varied);
  EXPECT_EQ(RandomJitter(0), 0);
  EXPECT_EQ(RandomJitter(-1), 0);
}

// The functions this one replaced shifted initial by the retry count (up to
// 30 doublings): a large initial overflowed int64, undefined behaviour that
// UBSan reports. Doubling now stops at the cap.
TEST(BackoffTest, HugeValuesAndRetryCountsNeverOverflow) {
  BackoffPolicy p{milliseconds(INT64_MAX / 3), milliseconds(INT64_MAX), false};
  EXPECT_EQ(Backoff(p, 2), milliseconds(INT64_MAX / 3 * 2));
  EXPECT_EQ(Backoff(p, 3), milliseconds(INT64_MAX));
  EXPECT_EQ(Backoff(p, INT_MAX), milliseconds(INT64_MAX));
  BackoffPolicy one{milliseconds(1), milliseconds(INT64_MAX), false};
  EXPECT_EQ(Backoff(one, 63), milliseconds(int64_t{1} << 62));
  EXPECT_EQ(Backoff(one, 64), milliseconds(INT64_MAX));
  EXPECT_EQ(Backoff(one, INT_MAX), milliseconds(INT64_MAX));
}

TEST(BackoffTest, ZeroAndNegativeDurationsGiveNoPause) {
  EXPECT_EQ(Backoff({milliseconds(0), milliseconds(100), false}, INT_MAX), milliseconds(0));
  EXPECT_EQ(Backoff({milliseconds(0), milliseconds(100), true}, 5, Top), milliseconds(0));
  EXPECT_EQ(Backoff({milliseconds(-10), milliseconds(100), false}, 3), milliseconds(0));
  EXPECT_EQ(Backoff({milliseconds(10), milliseconds(-1), false}, 3), milliseconds(0));
}

TEST(BackoffTest, MaxBelowInitialCapsTheFirstPause) {
  EXPECT_EQ(Backoff({milliseconds(50), milliseconds(20), false}, 1), milliseconds(20));
}

}  // namespace
}  // namespace twopc::internal

namespace twopc::internal {
namespace {

// EventBackoff keeps its own "which events wait" state but takes its delays
// from Backoff: initial * 2^(failures-1), capped, no jitter.
TEST(EventBackoffTest, WaitsFollowTheOneBackoff) {
  using std::chrono::milliseconds;
  EventBackoff b(milliseconds(10), milliseconds(35));
  const auto t0 = EventBackoff::Clock::time_point() + std::chrono::hours(1);
  const BackoffPolicy policy{milliseconds(10), milliseconds(35), false};
  auto t = t0;
  for (int failures = 1; failures <= 4; ++failures) {
    b.Failed(7, t);
    auto wait = Backoff(policy, failures);
    EXPECT_EQ(b.Waiting(t + wait - milliseconds(1)), std::vector<int64_t>{7}) << failures;
    EXPECT_TRUE(b.Waiting(t + wait).empty()) << failures;
    t += wait;
  }
  EXPECT_EQ(Backoff(policy, 4), milliseconds(35));  // 80 capped
  b.Forget(7);
  b.Failed(7, t);  // forgotten: starts over at initial
  EXPECT_TRUE(b.Waiting(t + milliseconds(10)).empty());
}

}  // namespace
}  // namespace twopc::internal
