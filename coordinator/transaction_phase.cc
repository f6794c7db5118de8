#include "coordinator/transaction_phase.h"

#include <cstdlib>

#include "common/logging.h"

namespace twopc::internal {

const char* TxnPhaseName(TxnPhase phase) {
  switch (phase) {
    case TxnPhase::kActive: return "active";
    case TxnPhase::kPreparing: return "preparing";
    case TxnPhase::kDeciding: return "deciding";
    case TxnPhase::kCompleting: return "completing";
    case TxnPhase::kAborting: return "aborting";
    case TxnPhase::kInDoubt: return "in_doubt";
    case TxnPhase::kFinished: return "finished";
  }
  return "?";
}

void ExpectTransition(bool made, TxnPhase now, const char* transition) {
  if (made) return;
  LogWith(LogLevel::kError, {.event = "internal_error"},
          "twopc: internal error: transaction phase transition {} refused in phase {}", transition,
          TxnPhaseName(now));
#ifndef NDEBUG
  std::abort();
#endif
}

}  // namespace twopc::internal
