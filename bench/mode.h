// ModeRunner: runs workload operations one way.
// One runner per (mode, measured point); every client thread calls Run().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "bench/flags.h"
#include "bench/workload.h"
#include "twopc/coordinator.h"
#include "twopc/status.h"

namespace twopc::bench {

struct Outcome {
  enum class Kind { kCommitted, kAborted, kInDoubt };
  Kind kind = Kind::kAborted;
  // Aborted because a participant refused for business reasons (payment
  // declined, out of stock) rather than a conflict or a failure.
  bool business = false;
  int retries = 0;        // transient failures rerun
  int compensations = 0;  // compensation steps run (sagas)
  // In doubt: the key that settles the outcome later (Resolve()).
  std::string resolve_key;
  // The cause, when not committed.
  Status cause;
};

// Counters of the machinery under the mode, read before and after the
// measured window.
struct RunnerCounters {
  uint64_t records_forced = 0;  // decision records forced (2PC)
  uint64_t forces = 0;          // fsyncs of the decision log
  uint64_t parked = 0;          // sagas needing an operator
  uint64_t handler_errors = 0;  // outbox handler failures (retried)
  uint64_t duplicates = 0;      // outbox redeliveries dropped by the inbox
};

// What a runner needs to open.
struct RunnerContext {
  CoordinatorOptions options;  // participants and decision log
  Layout layout;
  std::string work_dir;       // saga logs and the null mode's decision log
  std::string point_tag;      // unique per measured point (saga log names)
  TransactionOptions txn;     // lock_timeout, deadline
  int null_participants = 2;  // kNull: how many null participants
  int outbox_relays = 1;      // kSagaOutbox: relay threads per participant
};

class ModeRunner {
 public:
  virtual ~ModeRunner() = default;

  // Runs `op` to its outcome. Thread-safe.
  virtual Outcome Run(const Operation& op) = 0;

  // After the clients stopped: waits (up to `limit`) until nothing the mode
  // started is still in flight -- phase 2 of early-acknowledged
  // transactions, in-doubt branches, outbox events, unfinished sagas.
  // Returns what is left if it does not get there.
  virtual Status Quiesce(std::chrono::milliseconds limit) = 0;

  // Settles an in-doubt outcome after Quiesce(): committed or aborted.
  virtual Outcome::Kind Resolve(const std::string& resolve_key) { return Outcome::Kind::kAborted; }

  virtual RunnerCounters counters() const { return {}; }
};

// Opens the runner of `mode`. For the database modes this opens a
// twopc::Coordinator on ctx.options -- which runs a recovery pass at Open,
// the "restart" of crash mode.
Result<std::unique_ptr<ModeRunner>> OpenRunner(Mode mode, const RunnerContext& ctx);

// Per-mode factories (modes.cc, mode_saga.cc, mode_outbox.cc, mode_null.cc).
Result<std::unique_ptr<ModeRunner>> OpenCoordinatorRunner(Mode mode, const RunnerContext& ctx);
Result<std::unique_ptr<ModeRunner>> OpenSagaRunner(const RunnerContext& ctx);
Result<std::unique_ptr<ModeRunner>> OpenOutboxRunner(const RunnerContext& ctx);
Result<std::unique_ptr<ModeRunner>> OpenNullRunner(const RunnerContext& ctx);

// Waits until the participants hold no prepared transaction of this
// coordinator's node (recovery finished), running recovery passes.
Status WaitNoPrepared(Coordinator& coordinator, std::chrono::milliseconds limit);

}  // namespace twopc::bench
