// decision_log_bench: forced COMMIT records per second of the embedded SQLite
// decision log, with 1..64 concurrent writers (Google Benchmark).
//
//   decision_log_bench [--benchmark_min_time=2]
//
// Each writer thread does what a committing transaction does to the log: a
// forced COMMIT record with two branches (Decide blocks until it is durable)
// and then its unforced END. Concurrent records share one fsync (group
// commit), so records/s should grow with the writers while fsyncs/s stays
// flat: `records_per_force` shows the batch size. The log lives in a fresh
// directory under $TMPDIR (or /tmp) -- run it on the disk you care about,
// not on a tmpfs, or the fsyncs cost nothing.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "twopc/decision_log.h"
#include "twopc/gid.h"

namespace {

// Shared by the threads of one benchmark run; created and destroyed by
// thread 0 around the timed loop (Google Benchmark holds the other threads at
// a barrier at the start and at the end of the loop).
struct SharedLog {
  std::string dir;
  std::unique_ptr<twopc::DecisionLog> log;
  twopc::LogStats start;
};
SharedLog* g_shared = nullptr;
std::atomic<uint64_t> g_next_txn{1};

void BM_ForcedDecisions(benchmark::State& state) {
  if (state.thread_index() == 0) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "twopc-logbench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      state.SkipWithError("mkdtemp failed");
      return;
    }
    twopc::LogOptions options;
    options.path = tmpl + "/decisions.db";
    auto log = twopc::OpenSqliteDecisionLog(options);
    if (!log.ok()) {
      state.SkipWithError(log.status().ToString().c_str());
      return;
    }
    g_shared = new SharedLog{tmpl, std::move(log.value()), {}};
    g_shared->start = g_shared->log->stats();
  }
  for (auto _ : state) {
    twopc::DecisionLog& log = *g_shared->log;
    uint64_t txn = g_next_txn.fetch_add(1);
    twopc::DecisionRecord record;
    record.gtrid = twopc::EncodeGtrid("bench", log.incarnation(), txn);
    record.branches = {
        {"orders", twopc::EncodeGid({"bench", log.incarnation(), txn, 1})},
        {"payments", twopc::EncodeGid({"bench", log.incarnation(), txn, 2})},
    };
    std::string gtrid = record.gtrid;
    twopc::Status s = log.Decide(std::move(record));
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    log.End(gtrid);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0 && g_shared != nullptr) {
    twopc::LogStats end = g_shared->log->stats();
    double records = static_cast<double>(end.records_forced - g_shared->start.records_forced);
    double forces = static_cast<double>(end.forces - g_shared->start.forces);
    state.counters["forces_per_record"] = records > 0 ? forces / records : 0;
    state.counters["records_per_force"] = forces > 0 ? records / forces : 0;
    g_shared->log.reset();
    std::error_code ec;
    std::filesystem::remove_all(g_shared->dir, ec);
    delete g_shared;
    g_shared = nullptr;
  }
}

BENCHMARK(BM_ForcedDecisions)->ThreadRange(1, 64)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
