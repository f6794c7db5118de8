#include "bench/auditor.h"

#include <algorithm>
#include <chrono>

namespace twopc::bench {

Result<std::unique_ptr<AuditorPool>> AuditorPool::Start(const Workload& workload,
                                                        const CoordinatorOptions& options,
                                                        int count,
                                                        std::chrono::milliseconds pause) {
  std::unique_ptr<AuditorPool> pool(new AuditorPool(workload, pause));
  for (int i = 0; i < count; ++i) {
    std::vector<std::unique_ptr<DbClient>> conns;
    for (const auto& name : workload.layout().Participants()) {
      auto it = std::find_if(options.participants.begin(), options.participants.end(),
                             [&](const ParticipantOptions& p) { return p.name == name; });
      if (it == options.participants.end()) {
        return Status::InvalidArgument("auditor: no participant named " + name);
      }
      auto c = DbClient::Connect(*it, TimeoutsOf(options));
      if (!c.ok()) return c.TakeStatus();
      conns.push_back(std::move(c.value()));
    }
    pool->connections_.push_back(std::move(conns));
  }
  for (auto& conns : pool->connections_) {
    pool->threads_.emplace_back([p = pool.get(), c = &conns] { p->Loop(c); });
  }
  return pool;
}

AuditorPool::~AuditorPool() { Stop(); }

void AuditorPool::Stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::string AuditorPool::first_anomaly() const {
  internal::MutexLock lock(mutex_);
  return first_anomaly_;
}

void AuditorPool::Loop(std::vector<std::unique_ptr<DbClient>>* conns) {
  std::vector<DbClient*> clients;
  for (auto& c : *conns) clients.push_back(c.get());
  while (!stop_) {
    auto r = ReadInvariant(workload_, clients);
    if (!r.ok()) {
      ++errors_;
      // A broken connection stays broken: do not spin on it.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    ++audits_;
    if (r->violated) {
      if (anomalies_++ == 0) {
        internal::MutexLock lock(mutex_);
        first_anomaly_ = r->detail;
      }
    }
    if (pause_.count() > 0) std::this_thread::sleep_for(pause_);
  }
}

}  // namespace twopc::bench
