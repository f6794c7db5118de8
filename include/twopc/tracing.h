// Tracing hooks: the coordinator tells a Tracer when each step of the commit
// protocol starts and ends, so that an application can turn them into spans
// of OpenTelemetry or of its own tracer without twopc depending on either.
//
//   class OtelTracer : public twopc::Tracer {
//     void OnPhaseStart(const twopc::TraceEvent& e) override { /* start span */ }
//     void OnPhaseEnd(const twopc::TraceEvent& e, const twopc::Status& s,
//                     std::chrono::nanoseconds elapsed) override { /* end it */ }
//   };
//   options.tracer = std::make_shared<OtelTracer>();
//
// Every OnPhaseStart is followed by exactly one OnPhaseEnd with an equal
// event (same gtrid, phase, participant and attempt), also when the step
// fails or the coordinator is being destroyed; that is how the two are
// paired. A step of a whole transaction has an empty participant, except a
// kDecide whose decision is one branch's own COMMIT (see below), which names
// that branch; the steps of its branches run inside it and name theirs.
//
// Thread-safety: the calls come from the coordinator's I/O threads, for many
// transactions at once and for the branches of one transaction in parallel.
// They must not block (the protocol waits for them) and must not call into
// the Coordinator. An exception thrown from them is caught and logged.
#pragma once

#include <chrono>
#include <string_view>

#include "twopc/status.h"

namespace twopc {

// The steps of docs/protocol.md as a tracer sees them.
enum class TracePhase {
  // Commit(): from the call until its answer (participant empty). Its status
  // is what Commit() returned.
  kCommit,
  // The branch's queued work and PREPARE TRANSACTION in one round trip (per
  // branch), or all branches' (participant empty). A read-only branch's
  // local COMMIT is its vote and shows here too.
  kPrepare,
  // The commit point: the COMMIT record forced to the decision log
  // (participant empty), or the deciding branch's own COMMIT with the
  // COMMIT row (participant: the decider) with store = "postgres", or the
  // single write branch's COMMIT (one-phase).
  kDecide,
  // Phase 2: COMMIT PREPARED on one branch, once per try (attempt 0, 1...),
  // or on all of them (participant empty).
  kComplete,
  // Rolling back every branch after a refusal or failure (participant
  // empty), or after Rollback().
  kAbort,
};

// "commit", "prepare", "decide", "complete", "abort".
const char* TracePhaseName(TracePhase phase);

struct TraceEvent {
  std::string_view gtrid;        // the global transaction id
  TracePhase phase = TracePhase::kCommit;
  std::string_view participant;  // empty: the transaction as a whole
  std::string_view gid;          // the branch's gid when participant is set
  int attempt = 0;               // kComplete per branch: the try, from 0
};

class Tracer {
 public:
  virtual ~Tracer() = default;
  virtual void OnPhaseStart(const TraceEvent& event) = 0;
  // `status` is the step's result (OK, or why it failed); `elapsed` the
  // time since the matching OnPhaseStart.
  virtual void OnPhaseEnd(const TraceEvent& event, const Status& status,
                          std::chrono::nanoseconds elapsed) = 0;
};

}  // namespace twopc
