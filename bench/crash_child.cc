// The two child processes of crash mode. They talk to the driver through
// stdout, one line per event, each written with a single write(2): no stdio
// buffer that the SIGKILL could lose, and lines of concurrent client threads
// never interleave (pipe writes up to PIPE_BUF bytes are atomic).
//   READY                    worker: the runner is open, clients start
//   S <op> <steps>           an operation starts
//   C <op> <micros>          ... was acknowledged (committed)
//   A <op>                   ... was answered: not committed
//   D <op>                   ... was answered: in doubt
//   OPENED                   recover: Open (and its recovery) returned
//   CLEAN | UNCLEAN <why>    recover: nothing left in doubt / unfinished
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "bench/crash_mode.h"
#include "bench/driver.h"

namespace twopc::bench {
namespace {

using Clock = std::chrono::steady_clock;

void Emit(const std::string& line) {
  std::string out = line + "\n";
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    ssize_t n = write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

class LineObserver : public OpObserver {
 public:
  void OnStart(const Operation& op) override {
    starts_.emplace(op.id, Clock::now());
    Emit(fmt::format("S {} {}", op.id, op.steps.size()));
  }
  void OnOutcome(const Operation& op, const Outcome& o) override {
    switch (o.kind) {
      case Outcome::Kind::kCommitted: {
        auto micros =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - starts_.at(op.id))
                .count();
        Emit(fmt::format("C {} {}", op.id, micros));
        break;
      }
      case Outcome::Kind::kAborted:
        Emit(fmt::format("A {}", op.id));
        break;
      case Outcome::Kind::kInDoubt:
        Emit(fmt::format("D {}", op.id));
        break;
    }
    starts_.erase(op.id);
  }

 private:
  // Start times by operation; each client thread only touches its own
  // operation, but the map is shared, hence the lock.
  class Starts {
   public:
    void emplace(uint64_t id, Clock::time_point t) {
      std::lock_guard lock(mutex_);
      map_[id] = t;
    }
    Clock::time_point at(uint64_t id) {
      std::lock_guard lock(mutex_);
      return map_.at(id);
    }
    void erase(uint64_t id) {
      std::lock_guard lock(mutex_);
      map_.erase(id);
    }

   private:
    std::mutex mutex_;
    std::map<uint64_t, Clock::time_point> map_;
  } starts_;
};

PointSpec ChildSpec(const BenchFlags& f) {
  return PointSpec{f.modes.front(),
                   f.workload,
                   f.clients.front(),
                   f.participants.front(),
                   f.hot_sets.front(),
                   f.failure_rates.front(),
                   0};
}

}  // namespace

int CrashWorkerMain(const DriverEnv& env) {
  const BenchFlags& f = *env.flags;
  PointSpec spec = ChildSpec(f);
  spec.log_store = DecisionStoreOf(spec.mode, env.options);
  auto fixture = PreparePoint(spec, env, /*journal=*/true, /*reset=*/false);
  if (!fixture.ok()) {
    fmt::print(stderr, "twopc-bench worker: {}\n", fixture.status().ToString());
    return 2;
  }
  auto runner = OpenRunner(spec.mode, MakeRunnerContext(spec, env, *fixture));
  if (!runner.ok()) {
    fmt::print(stderr, "twopc-bench worker: {}\n", runner.status().ToString());
    return 2;
  }
  NextOperationId() = f.op_id_base + 1;
  LineObserver observer;
  ClientLoop loop(**runner, *fixture->workload, spec.clients, f.seed, &NextOperationId(),
                  &observer);
  Emit("READY");
  loop.Start();
  loop.BeginMeasuring();
  // The driver kills this process; the bound only keeps an orphaned worker
  // (driver gone) from running forever.
  std::this_thread::sleep_for(f.crash_after + std::chrono::minutes(2));
  fmt::print(stderr, "twopc-bench worker: not killed in time, exiting\n");
  _exit(3);
}

int CrashRecoverMain(const DriverEnv& env) {
  const BenchFlags& f = *env.flags;
  PointSpec spec = ChildSpec(f);
  spec.log_store = DecisionStoreOf(spec.mode, env.options);
  auto fixture = PreparePoint(spec, env, /*journal=*/true, /*reset=*/false);
  if (!fixture.ok()) {
    Emit("UNCLEAN " + fixture.status().ToString());
    return 2;
  }
  auto runner = OpenRunner(spec.mode, MakeRunnerContext(spec, env, *fixture));
  if (!runner.ok()) {
    Emit("UNCLEAN " + runner.status().ToString());
    return 2;
  }
  Emit("OPENED");
  Status s = (*runner)->Quiesce(std::chrono::minutes(2));
  runner.value().reset();
  if (!s.ok()) {
    Emit("UNCLEAN " + s.ToString());
    return 1;
  }
  Emit("CLEAN");
  return 0;
}

}  // namespace twopc::bench
