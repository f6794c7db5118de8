// metrics_bench: what the coordinator's metrics cost (Google Benchmark).
//
//   metrics_bench [--benchmark_min_time=1]
//
// BM_MetricsPerCommit is the metrics work of one committed two-phase
// transaction: the outcome counter, the commit histogram and the three
// phase histograms, as CommitOperation does them -- with 1..8 threads
// committing at once, since a histogram takes a mutex per observation.
// Compare it with a commit itself (a millisecond or so over loopback, see
// docs/benchmarks.md "Metrics"). BM_Scrape is one GET /metrics worth of
// work for a coordinator with 8 participants: collecting and serializing.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "metrics/coordinator_metrics.h"

namespace {

using twopc::internal::CommitPath;
using twopc::internal::CoordinatorMetrics;
using twopc::internal::TxnOutcome;

std::vector<std::string> Participants(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("participant-" + std::to_string(i));
  return names;
}

CoordinatorMetrics& Shared() {
  static auto* metrics = new CoordinatorMetrics(std::make_shared<prometheus::Registry>(), Participants(8));
  return *metrics;
}

void BM_MetricsPerCommit(benchmark::State& state) {
  CoordinatorMetrics& m = Shared();
  const std::chrono::nanoseconds took(850'000);
  for (auto _ : state) {
    m.PhaseTook(twopc::TracePhase::kPrepare, took);
    m.PhaseTook(twopc::TracePhase::kDecide, took);
    m.PhaseTook(twopc::TracePhase::kComplete, took);
    m.TransactionEnded(TxnOutcome::kCommitted, CommitPath::kTwoPhase, took);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsPerCommit)->ThreadRange(1, 8)->UseRealTime();

void BM_Scrape(benchmark::State& state) {
  CoordinatorMetrics& m = Shared();
  prometheus::TextSerializer serializer;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = serializer.Serialize(m.registry()->Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape);

}  // namespace

BENCHMARK_MAIN();
