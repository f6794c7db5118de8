// Auditors: threads that read the workload's invariant over and over while
// the clients run, one statement per database as a user would, and count the
// states that violate it -- the anomalies a reader can observe mid-flight.
//
// What they see depends on the mode: a saga shows its intermediate states
// between steps; 2PC commits atomically but is not atomically *visible*
// (COMMIT PREPARED reaches the databases one after the other, and the reads
// of two databases are two snapshots), so a short window remains; `local`
// reads one snapshot and sees none.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/db_client.h"
#include "common/thread_annotations.h"
#include "bench/workload.h"
#include "twopc/options.h"

namespace twopc::bench {

class AuditorPool {
 public:
  // Each auditor opens its own connection to every participant of the
  // workload's layout. REQUIRES: `workload` outlives the pool.
  // Each auditor sleeps `pause` between two reads: on a small machine an
  // auditor reading without pause takes a CPU from the system it measures.
  static Result<std::unique_ptr<AuditorPool>> Start(const Workload& workload,
                                                    const CoordinatorOptions& options, int count,
                                                    std::chrono::milliseconds pause);
  ~AuditorPool();  // stops

  // Stops the threads; the counters are final afterwards.
  void Stop();

  uint64_t audits() const { return audits_; }
  uint64_t anomalies() const { return anomalies_; }
  uint64_t errors() const { return errors_; }
  std::string first_anomaly() const;

 private:
  AuditorPool(const Workload& workload, std::chrono::milliseconds pause)
      : workload_(workload), pause_(pause) {}
  void Loop(std::vector<std::unique_ptr<DbClient>>* clients);

  const Workload& workload_;
  const std::chrono::milliseconds pause_;
  std::vector<std::vector<std::unique_ptr<DbClient>>> connections_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> audits_{0}, anomalies_{0}, errors_{0};
  mutable internal::Mutex mutex_;
  std::string first_anomaly_ TWOPC_GUARDED_BY(mutex_);
};

}  // namespace twopc::bench
