// The transaction phase machine and the coordinator's registry of phases
// (docs/protocol.md, "Transaction phases"), without a server.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "coordinator/transaction_phase.h"
#include "coordinator/transaction_state.h"
#include "coordinator/txn_registry.h"

namespace twopc::internal {
namespace {

using P = TxnPhase;

// Every transition, by name, so that the tests can try each from each phase.
struct Transition {
  const char* name;
  bool (TransactionPhase::*move)();
  std::vector<P> from;
  P to;
};

const std::vector<Transition>& AllTransitions() {
  static const std::vector<Transition> all = {
      {"BeginPrepare", &TransactionPhase::BeginPrepare, {P::kActive}, P::kPreparing},
      {"BeginRollback", &TransactionPhase::BeginRollback, {P::kActive}, P::kAborting},
      {"BeginDecide", &TransactionPhase::BeginDecide, {P::kPreparing}, P::kDeciding},
      {"BeginAbort", &TransactionPhase::BeginAbort, {P::kPreparing, P::kDeciding}, P::kAborting},
      {"BeginComplete", &TransactionPhase::BeginComplete, {P::kDeciding}, P::kCompleting},
      {"MarkInDoubt", &TransactionPhase::MarkInDoubt, {P::kDeciding}, P::kInDoubt},
      {"Finish", &TransactionPhase::Finish,
       {P::kPreparing, P::kDeciding, P::kCompleting, P::kAborting}, P::kFinished},
  };
  return all;
}

// A phase object brought to `target` through legal transitions only.
void BringTo(TransactionPhase& phase, P target) {
  switch (target) {
    case P::kActive: return;
    case P::kPreparing: ASSERT_TRUE(phase.BeginPrepare()); return;
    case P::kDeciding: BringTo(phase, P::kPreparing); ASSERT_TRUE(phase.BeginDecide()); return;
    case P::kCompleting: BringTo(phase, P::kDeciding); ASSERT_TRUE(phase.BeginComplete()); return;
    case P::kAborting: ASSERT_TRUE(phase.BeginRollback()); return;
    case P::kInDoubt: BringTo(phase, P::kDeciding); ASSERT_TRUE(phase.MarkInDoubt()); return;
    case P::kFinished: BringTo(phase, P::kAborting); ASSERT_TRUE(phase.Finish()); return;
  }
}

const std::vector<P> kAllPhases = {P::kActive,   P::kPreparing, P::kDeciding, P::kCompleting,
                                   P::kAborting, P::kInDoubt,   P::kFinished};

TEST(TransactionPhaseTest, EveryTransitionIsTakenFromItsPhasesAndRefusedFromTheOthers) {
  for (const Transition& t : AllTransitions()) {
    for (P from : kAllPhases) {
      TransactionPhase phase;
      BringTo(phase, from);
      bool legal = std::find(t.from.begin(), t.from.end(), from) != t.from.end();
      EXPECT_EQ((phase.*t.move)(), legal) << t.name << " from " << TxnPhaseName(from);
      // A refused transition leaves the phase as it was.
      EXPECT_EQ(phase.Get(), legal ? t.to : from) << t.name << " from " << TxnPhaseName(from);
    }
  }
}

TEST(TransactionPhaseTest, TheProtocolsPathsAreLegal) {
  TransactionPhase two_phase;  // prepare, decide, complete, forget
  EXPECT_TRUE(two_phase.BeginPrepare());
  EXPECT_TRUE(two_phase.BeginDecide());
  EXPECT_TRUE(two_phase.BeginComplete());
  EXPECT_TRUE(two_phase.Finish());
  EXPECT_EQ(two_phase.Get(), P::kFinished);

  TransactionPhase fenced;  // the COMMIT record lost against recovery's ABORT
  EXPECT_TRUE(fenced.BeginPrepare());
  EXPECT_TRUE(fenced.BeginDecide());
  EXPECT_TRUE(fenced.BeginAbort());
  EXPECT_TRUE(fenced.Finish());

  TransactionPhase read_only;
  EXPECT_TRUE(read_only.BeginPrepare());
  EXPECT_TRUE(read_only.Finish());

  TransactionPhase lost_fsync;
  EXPECT_TRUE(lost_fsync.BeginPrepare());
  EXPECT_TRUE(lost_fsync.BeginDecide());
  EXPECT_TRUE(lost_fsync.MarkInDoubt());
  EXPECT_FALSE(lost_fsync.Finish()) << "in doubt is final: recovery settles it, not this process";
}

TEST(TransactionPhaseTest, CommitCannotRestartAndRollbackCannotUndoACommit) {
  TransactionPhase phase;
  EXPECT_TRUE(phase.BeginPrepare());
  EXPECT_FALSE(phase.BeginPrepare());   // a second Commit()
  EXPECT_FALSE(phase.BeginRollback());  // Rollback() while the commit runs
  EXPECT_EQ(phase.Get(), P::kPreparing);
}

TEST(TransactionPhaseTest, MayBeDecidingUntilTheDecisionIsMade) {
  for (P p : kAllPhases) {
    TransactionPhase phase;
    BringTo(phase, p);
    bool expected = p == P::kActive || p == P::kPreparing || p == P::kDeciding;
    EXPECT_EQ(phase.MayBeDeciding(), expected) << TxnPhaseName(p);
    EXPECT_EQ(phase.active(), p == P::kActive) << TxnPhaseName(p);
  }
}

// Threads released together each try one transition out of the same phase:
// exactly one may win, whatever the interleaving.
template <class Try>
void Race(int threads, int rounds, P start, Try attempt) {
  for (int round = 0; round < rounds; ++round) {
    TransactionPhase phase;
    BringTo(phase, start);
    std::atomic<int> ready{0}, winners{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
      pool.emplace_back([&, i] {
        ready++;
        while (!go.load()) std::this_thread::yield();
        if (attempt(phase, i)) winners++;
      });
    }
    while (ready.load() < threads) std::this_thread::yield();
    go = true;
    for (auto& t : pool) t.join();
    ASSERT_EQ(winners.load(), 1) << "round " << round << " from " << TxnPhaseName(start);
  }
}

TEST(TransactionPhaseTest, OfConcurrentCommitAndRollbackExactlyOneWins) {
  Race(4, 500, P::kActive, [](TransactionPhase& p, int i) {
    return i % 2 == 0 ? p.BeginPrepare() : p.BeginRollback();
  });
}

// The decision's three outcomes (Finish is left out: it is also legal after
// BeginComplete or BeginAbort, so it may rightly win second).
TEST(TransactionPhaseTest, OfConcurrentOutcomesOfTheDecisionExactlyOneWins) {
  Race(6, 500, P::kDeciding, [](TransactionPhase& p, int i) {
    switch (i % 3) {
      case 0: return p.BeginComplete();
      case 1: return p.BeginAbort();
      default: return p.MarkInDoubt();
    }
  });
}

TEST(TransactionPhaseTest, OfConcurrentFinishesExactlyOneWins) {
  Race(4, 500, P::kCompleting, [](TransactionPhase& p, int) { return p.Finish(); });
}

std::shared_ptr<TxnState> NewState(const std::string& gtrid) {
  auto t = std::make_shared<TxnState>();
  t->link = std::make_shared<CoreLink>(nullptr);  // no coordinator to unregister from
  t->gtrid = gtrid;
  return t;
}

TEST(TxnRegistryTest, MayBeDecidingFromBeginUntilTheDecisionAndNotAfter) {
  TxnRegistry registry;
  auto t = NewState("tpc1.n.1.7");
  registry.Add(t);
  EXPECT_EQ(registry.PhaseOf("tpc1.n.1.7"), P::kActive);
  EXPECT_TRUE(registry.MayBeDeciding("tpc1.n.1.7"));
  ASSERT_TRUE(t->phase.BeginPrepare());
  EXPECT_TRUE(registry.MayBeDeciding("tpc1.n.1.7"));
  ASSERT_TRUE(t->phase.BeginDecide());
  EXPECT_TRUE(registry.MayBeDeciding("tpc1.n.1.7"));
  EXPECT_FALSE(registry.IsCompleting("tpc1.n.1.7"));
  ASSERT_TRUE(t->phase.BeginComplete());
  EXPECT_FALSE(registry.MayBeDeciding("tpc1.n.1.7"));
  EXPECT_TRUE(registry.IsCompleting("tpc1.n.1.7"));
  EXPECT_EQ(registry.CountIn(P::kCompleting), 1u);
  ASSERT_TRUE(t->phase.Finish());
  EXPECT_FALSE(registry.MayBeDeciding("tpc1.n.1.7"));
  EXPECT_FALSE(registry.IsCompleting("tpc1.n.1.7"));
  EXPECT_EQ(registry.CountIn(P::kCompleting), 0u);
  EXPECT_EQ(registry.Count(), 1u);
  registry.Remove("tpc1.n.1.7");
  EXPECT_EQ(registry.PhaseOf("tpc1.n.1.7"), std::nullopt);
  EXPECT_EQ(registry.Count(), 0u);
}

TEST(TxnRegistryTest, UnknownAndReleasedTransactionsAreNotDeciding) {
  TxnRegistry registry;
  EXPECT_FALSE(registry.MayBeDeciding("tpc1.n.1.1"));
  auto t = NewState("tpc1.n.1.2");
  registry.Add(t);
  EXPECT_TRUE(registry.MayBeDeciding("tpc1.n.1.2"));
  t.reset();  // released without Remove (its coordinator was gone)
  EXPECT_FALSE(registry.MayBeDeciding("tpc1.n.1.2"));
  EXPECT_TRUE(registry.Live().empty());
}

TEST(TxnRegistryTest, AbortedAndInDoubtTransactionsAreNotDeciding) {
  TxnRegistry registry;
  auto aborted = NewState("tpc1.n.1.3");
  auto in_doubt = NewState("tpc1.n.1.4");
  registry.Add(aborted);
  registry.Add(in_doubt);
  ASSERT_TRUE(aborted->phase.BeginPrepare());
  ASSERT_TRUE(aborted->phase.BeginAbort());
  ASSERT_TRUE(in_doubt->phase.BeginPrepare());
  ASSERT_TRUE(in_doubt->phase.BeginDecide());
  ASSERT_TRUE(in_doubt->phase.MarkInDoubt());
  EXPECT_FALSE(registry.MayBeDeciding("tpc1.n.1.3"));
  EXPECT_FALSE(registry.MayBeDeciding("tpc1.n.1.4"));
  EXPECT_EQ(registry.Live().size(), 2u);
}

}  // namespace
}  // namespace twopc::internal
