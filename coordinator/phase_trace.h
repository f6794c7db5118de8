// The steps of a transaction as the Tracer (twopc/tracing.h) and the phase
// histograms see them. Internal.
#pragma once

#include <chrono>
#include <string>

#include "participants/participant.h"
#include "twopc/tracing.h"

namespace twopc::internal {

// One step in progress. Copyable, so that the callback that ends a branch's
// step can carry it. With no tracer it only keeps the start time: the names
// are copied only for a tracer, which may outlive the branch's strings.
class PhaseSpan {
 public:
  PhaseSpan() = default;
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

}  // namespace twopc::internal
