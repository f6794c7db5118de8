// The steps of a transaction as the Tracer (twopc/tracing.h) and the phase
// histograms see them. Internal.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "participants/participant.h"
#include "twopc/tracing.h"

namespace twopc::internal {

// One step in progress. With no tracer it only keeps the start time: the
// names are copied only for a tracer, which may outlive the branch's strings.
// Move-only; one still running when destroyed (the coordinator closed while
// phase 2 was still trying) ends itself with Aborted, so that every
// OnPhaseStart gets its OnPhaseEnd (twopc/tracing.h). A callback carries a
// branch's span in a shared_ptr (BranchSpan).
class PhaseSpan {
 public:
  PhaseSpan() = default;
  ~PhaseSpan();
  PhaseSpan(PhaseSpan&& other) noexcept;
  PhaseSpan& operator=(PhaseSpan&& other) noexcept;
  PhaseSpan(const PhaseSpan&) = delete;
  PhaseSpan& operator=(const PhaseSpan&) = delete;
  // Starts `phase` of transaction `gtrid` (of one branch when `participant`
  // is not empty) and tells the tracer, if there is one.
  PhaseSpan(Tracer* tracer, TracePhase phase, const std::string& gtrid, const std::string& participant = {},
            const std::string& gid = {}, int attempt = 0);

  // Tells the tracer the step ended with `status`, and returns how long it
  // took. Only the first call counts; a span never started returns 0.
  std::chrono::nanoseconds End(const Status& status);

  bool running() const { return running_; }

 private:
  Tracer* tracer_ = nullptr;
  TracePhase phase_ = TracePhase::kCommit;
  std::string gtrid_, participant_, gid_;
  int attempt_ = 0;
  Clock::time_point start_{};
  bool running_ = false;
};

// A branch's step for a callback to end: null without a tracer (a branch's
// steps feed no metric, so there is nothing to time).
std::shared_ptr<PhaseSpan> BranchSpan(Tracer* tracer, TracePhase phase, const std::string& gtrid,
                                      const std::string& participant, const std::string& gid, int attempt = 0);
inline void EndSpan(const std::shared_ptr<PhaseSpan>& span, const Status& status) {
  if (span != nullptr) span->End(status);
}

}  // namespace twopc::internal
