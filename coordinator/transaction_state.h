// The state of one global transaction, shared by the Transaction handle and
// the asynchronous operations (commit, rollback) that may outlive a call.
// Internal.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "coordinator/coordinator_impl.h"
#include "coordinator/transaction_phase.h"

namespace twopc::internal {

// What a branch answered in the prepare phase.
enum class BranchVote {
  kNone,       // not asked (yet)
  kPrepared,   // PREPARE TRANSACTION succeeded
  kReadOnly,   // wrote nothing and committed locally
  kRefused,    // failed: nothing is prepared
  kUnknown,    // connection lost or timed out: it may be prepared
};

struct BranchState {
  Participant* participant = nullptr;
  uint32_t number = 0;           // 1-based, in order of first use
  std::string gid;
  std::unique_ptr<Branch> branch;  // null until opened
  std::vector<Query> queued;     // sent with PREPARE / COMMIT
  BranchVote vote = BranchVote::kNone;
  bool completed = false;        // COMMIT PREPARED done (phase 2)
  uint64_t txid = 0;             // the branch's transaction id, kept at decide

  // A write branch must be prepared; a read-only one just commits.
  bool is_write() const { return !queued.empty() || (branch != nullptr && branch->wrote()); }
  const std::string& name() const { return participant->name(); }
};

struct TxnState {
  ~TxnState() {
    // The coordinator may be gone: only a live one has a registry to leave.
    if (CorePin pin(link); pin) core->txns.Remove(gtrid);
  }
  // Valid only while `link` is pinned: every use of `core` (and of the
  // participants and branches it owns) happens inside a pinned call or in
  // the coordinator's own asynchronous work, which its destructor waits for.
  CoordinatorImpl* core = nullptr;
  std::shared_ptr<CoreLink> link;
  TransactionOptions options;
  Deadline deadline;
  uint64_t txn = 0;
  std::string gtrid;
  // Read without a pin or a lock (active(), the recovery pass through the
  // coordinator's registry), changed only by its named transitions.
  TransactionPhase phase;
  // Set when the coordinator was destroyed while the transaction was still
  // active (and rolled it back): every later call says so.
  std::atomic<bool> orphaned{false};
  // The first statement failure: afterwards the transaction can only abort.
  Status failure;
  std::vector<std::unique_ptr<BranchState>> branches;
  // With the postgres store, the decider chosen when the first MariaDB
  // branch was added, whose gid names it from XA START on; empty otherwise
  // (the decider is then chosen at commit). docs/protocol.md, "MariaDB
  // participants".
  std::string named_decider;

  BranchState* FindBranch(std::string_view participant);
  BranchState* AddBranch(Participant* participant);
};

std::shared_ptr<TxnState> NewTxnState(CoordinatorImpl* core, const TransactionOptions& options);

// Runs the protocol (docs/protocol.md) for `txn`: prepare, decide, complete,
// forget. REQUIRES: the caller moved the phase to kPreparing (BeginPrepare).
void RunCommit(std::shared_ptr<TxnState> txn, std::function<void(Status)> done);

// Rolls back every opened branch, then releases them. REQUIRES: the caller
// moved the phase to kAborting (BeginRollback).
void RunRollback(std::shared_ptr<TxnState> txn, std::function<void(Status)> done);

}  // namespace twopc::internal

namespace twopc {

class TransactionImpl {
 public:
  explicit TransactionImpl(std::shared_ptr<internal::TxnState> s) : state(std::move(s)) {}
  std::shared_ptr<internal::TxnState> state;
};

}  // namespace twopc
