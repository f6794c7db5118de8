// The phase of one global transaction (docs/protocol.md, "Transaction
// phases"): one atomic value, changed only by the named transitions below,
// each a compare-and-swap from the phases it may leave. The application's
// thread, the I/O threads and the recovery pass all read it without a lock.
// Internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>

namespace twopc::internal {

enum class TxnPhase : uint8_t {
  kActive,      // Begin .. Commit()/Rollback(): statements run, nothing is prepared
  kPreparing,   // Commit() called: branches vote (PREPARE; read-only ones COMMIT)
  kDeciding,    // votes are in: the COMMIT record is forced (or the single write
                // branch's one-phase COMMIT runs) -- the decision is being made
  kCompleting,  // COMMIT is durable: COMMIT PREPARED on every branch (phase 2)
  kAborting,    // rolling back: Rollback(), a refused vote, a fence, an orphan
  kInDoubt,     // the outcome is not this process's to know: left to recovery
  kFinished,    // committed or rolled back; the branches are released
};

const char* TxnPhaseName(TxnPhase phase);

// Legal transitions (anything else is refused and leaves the phase as it is):
//
//   active    -> preparing (BeginPrepare: Commit())
//              | aborting (BeginRollback: Rollback(), or rolled back as an orphan)
//   preparing -> deciding (BeginDecide) | aborting (BeginAbort: a vote failed)
//              | finished (Finish: every branch read-only)
//   deciding  -> completing (BeginComplete) | aborting (BeginAbort: fenced, or
//                the record cannot be written) | in_doubt (MarkInDoubt)
//              | finished (Finish: one-phase commit)
//   completing, aborting -> finished
//   in_doubt, finished: final
//
// Each transition returns true when this call made it. Two threads racing
// for transitions out of the same phase: exactly one wins.
class TransactionPhase {
 public:
  TxnPhase Get() const { return phase_.load(std::memory_order_acquire); }
  bool active() const { return Get() == TxnPhase::kActive; }
  // Has not got past its decision yet: a prepared branch of it may still be
  // committed by this process (docs/protocol.md, "Fencing").
  bool MayBeDeciding() const {
    TxnPhase p = Get();
    return p == TxnPhase::kActive || p == TxnPhase::kPreparing || p == TxnPhase::kDeciding;
  }

  [[nodiscard]] bool BeginPrepare() { return Move({TxnPhase::kActive}, TxnPhase::kPreparing); }
  [[nodiscard]] bool BeginDecide() { return Move({TxnPhase::kPreparing}, TxnPhase::kDeciding); }
  [[nodiscard]] bool BeginComplete() { return Move({TxnPhase::kDeciding}, TxnPhase::kCompleting); }
  [[nodiscard]] bool BeginRollback() { return Move({TxnPhase::kActive}, TxnPhase::kAborting); }
  [[nodiscard]] bool BeginAbort() {
    return Move({TxnPhase::kPreparing, TxnPhase::kDeciding}, TxnPhase::kAborting);
  }
  [[nodiscard]] bool MarkInDoubt() { return Move({TxnPhase::kDeciding}, TxnPhase::kInDoubt); }
  [[nodiscard]] bool Finish() {
    return Move({TxnPhase::kPreparing, TxnPhase::kDeciding, TxnPhase::kCompleting,
                 TxnPhase::kAborting},
                TxnPhase::kFinished);
  }

 private:
  // One compare-and-swap per allowed source phase, starting from the phase
  // read: a failed exchange reloads `seen`, so a phase changed underneath is
  // judged again rather than overwritten.
  bool Move(std::initializer_list<TxnPhase> from, TxnPhase to) {
    TxnPhase seen = Get();
    for (;;) {
      bool allowed = false;
      for (TxnPhase f : from) allowed = allowed || f == seen;
      if (!allowed) return false;
      if (phase_.compare_exchange_weak(seen, to, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        return true;
      }
    }
  }

  std::atomic<TxnPhase> phase_{TxnPhase::kActive};
};

// For a transition the protocol's own sequence guarantees (a refusal is a
// bug in twopc): aborts a debug build, logs in a release build.
void ExpectTransition(bool made, TxnPhase now, const char* transition);

}  // namespace twopc::internal
