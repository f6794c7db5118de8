// Latency histogram and percentiles.
//
// A log-linear histogram over microseconds (the layout of HdrHistogram with
// 64 sub-buckets per power of two): every value is kept within 1/64 (~1.6%)
// of its true size, from 1 us to hours, in a few kilobytes. Recording is a
// single increment, so each client thread keeps its own histogram and they
// are merged after the run -- no shared state on the measured path.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace twopc::bench {

class LatencyHistogram {
 public:
  void Record(int64_t micros);
  void Merge(const LatencyHistogram& other);
  void Clear();

  uint64_t count() const { return count_; }
  int64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }
  // Value at quantile q in [0, 1] (0.5 = median), in microseconds: the upper
  // edge of the bucket holding it, capped at the largest value seen. 0 when
  // empty.
  int64_t Percentile(double q) const;

 private:
  static constexpr int kSubBits = 6;  // 64 sub-buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = kSub * 40;

  static int IndexOf(int64_t v);
  static int64_t UpperEdge(int index);

  std::array<uint32_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  int64_t max_ = 0;
  int64_t sum_ = 0;
};

// The latency summary a report shows, in milliseconds.
struct LatencySummary {
  double p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
};
LatencySummary Summarize(const LatencyHistogram& h);

// Median of `values` (0 when empty). Takes a copy: it sorts.
double Median(std::vector<double> values);

}  // namespace twopc::bench
