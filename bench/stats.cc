#include "bench/stats.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace twopc::bench {

// Values below kSub map to themselves; above, the top kSubBits bits after the
// leading one select the sub-bucket of the value's power of two.
int LatencyHistogram::IndexOf(int64_t v) {
  if (v < kSub) return static_cast<int>(std::max<int64_t>(v, 0));
  int shift = std::bit_width(static_cast<uint64_t>(v)) - kSubBits - 1;
  int index = (shift + 1) * kSub + static_cast<int>((v >> shift) - kSub);
  return std::min(index, kBuckets - 1);
}

int64_t LatencyHistogram::UpperEdge(int index) {
  if (index < kSub) return index;
  int shift = index / kSub - 1;
  int64_t sub = index % kSub + kSub;
  return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::Record(int64_t micros) {
  ++buckets_[IndexOf(micros)];
  ++count_;
  sum_ += micros;
  max_ = std::max(max_, micros);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::Clear() { *this = LatencyHistogram(); }

int64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  // The smallest value with at least ceil(q * count) values at or below it.
  auto rank = static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(UpperEdge(i), max_);
  }
  return max_;
}

LatencySummary Summarize(const LatencyHistogram& h) {
  LatencySummary s;
  s.p50 = h.Percentile(0.50) / 1000.0;
  s.p95 = h.Percentile(0.95) / 1000.0;
  s.p99 = h.Percentile(0.99) / 1000.0;
  s.max = h.max() / 1000.0;
  s.mean = h.mean() / 1000.0;
  return s;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

}  // namespace twopc::bench
