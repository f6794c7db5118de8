// The closed-loop clients and the run of one measured point:
//   reset the tables -> open the runner -> warm up -> measure (auditors
//   reading alongside, one sample per second) -> stop the clients ->
//   quiesce -> settle in-doubt answers -> final check.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/mode.h"
#include "bench/point.h"
#include "bench/stats.h"
#include "bench/workload.h"
#include "common/thread_annotations.h"

namespace twopc::bench {

// Sees every operation of a ClientLoop (crash mode reports them to its
// parent). Called from the client threads; must be thread-safe.
class OpObserver {
 public:
  virtual ~OpObserver() = default;
  virtual void OnStart(const Operation& op) = 0;
  virtual void OnOutcome(const Operation& op, const Outcome& outcome) = 0;
};

// `clients` threads, each running one operation after the other (closed
// loop: a client waits for its answer before the next operation).
class ClientLoop {
 public:
  struct Totals {
    uint64_t attempted = 0, committed = 0, aborted = 0, business = 0, in_doubt = 0;
    uint64_t retries = 0, compensations = 0;
    LatencyHistogram latency;
    std::vector<std::string> in_doubt_keys;
    std::string first_error;
  };

  // REQUIRES: runner, workload, next_id (and observer, if any) outlive the loop.
  ClientLoop(ModeRunner& runner, const Workload& workload, int clients, uint64_t seed,
             std::atomic<uint64_t>* next_id, OpObserver* observer);
  ~ClientLoop();  // Stop()

  void Start();
  // Operations that start from now on are counted.
  void BeginMeasuring();
  // Lets every client finish its operation, then joins them.
  void Stop();

  // Live, for the per-second samples.
  uint64_t committed_so_far() const { return committed_live_; }
  uint64_t aborted_so_far() const { return aborted_live_; }
  // Latencies of counted operations since the previous call.
  LatencyHistogram TakeInterval();

  // REQUIRES: Stop() was called.
  Totals Collect() const;

 private:
  struct Client {
    internal::Mutex mutex;  // `interval` is read by TakeInterval on another thread
    LatencyHistogram interval TWOPC_GUARDED_BY(mutex);
    Totals totals;  // written by its own thread only until Stop()
  };
  void Loop(int index);

  ModeRunner& runner_;
  const Workload& workload_;
  const uint64_t seed_;
  std::atomic<uint64_t>* next_id_;
  OpObserver* observer_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> measuring_{false};
  std::atomic<uint64_t> committed_live_{0}, aborted_live_{0};
};

// Runs one point (not crash mode) and returns its measurements.
PointResult RunPoint(const PointSpec& spec, const DriverEnv& env);

// The operation ids of this process: unique across points and, in crash
// mode, across the worker processes (their base is passed down).
std::atomic<uint64_t>& NextOperationId();

// Sleep in small slices; false if interrupted (SIGINT/SIGTERM).
bool SleepUntil(std::chrono::steady_clock::time_point until, const std::atomic<bool>* interrupted);
bool SleepUnlessInterrupted(std::chrono::milliseconds d, const std::atomic<bool>* interrupted);

}  // namespace twopc::bench
