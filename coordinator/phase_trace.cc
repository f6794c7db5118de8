#include "coordinator/phase_trace.h"

#include <exception>

#include "common/logging.h"

namespace twopc {

const char* TracePhaseName(TracePhase phase) {
  switch (phase) {
    case TracePhase::kCommit: return "commit";
    case TracePhase::kPrepare: return "prepare";
    case TracePhase::kDecide: return "decide";
    case TracePhase::kComplete: return "complete";
    case TracePhase::kAbort: return "abort";
  }
  return "?";
}

namespace internal {
namespace {

// A tracer is the application's code running on twopc's I/O threads: an
// exception from it must not unwind through the protocol.
template <class Call>
void Guarded(TracePhase phase, Call&& call) {
  try {
    call();
  } catch (const std::exception& e) {
    Log().error("twopc: the tracer threw at {}: {}", TracePhaseName(phase), e.what());
  } catch (...) {
    Log().error("twopc: the tracer threw at {}", TracePhaseName(phase));
  }
}

}  // namespace

PhaseSpan::PhaseSpan(Tracer* tracer, TracePhase phase, const std::string& gtrid, const std::string& participant,
                     const std::string& gid, int attempt)
    : tracer_(tracer), phase_(phase), attempt_(attempt), start_(Clock::now()), running_(true) {
  if (tracer_ == nullptr) return;
  gtrid_ = gtrid;
  participant_ = participant;
  gid_ = gid;
  TraceEvent event{gtrid_, phase_, participant_, gid_, attempt_};
  Guarded(phase_, [&] { tracer_->OnPhaseStart(event); });
}

PhaseSpan::~PhaseSpan() {
  if (running_) End(Status::Aborted("the coordinator closed before this step ended"));
}

PhaseSpan::PhaseSpan(PhaseSpan&& other) noexcept
    : tracer_(other.tracer_),
      phase_(other.phase_),
      gtrid_(std::move(other.gtrid_)),
      participant_(std::move(other.participant_)),
      gid_(std::move(other.gid_)),
      attempt_(other.attempt_),
      start_(other.start_),
      running_(other.running_) {
  other.running_ = false;
}

PhaseSpan& PhaseSpan::operator=(PhaseSpan&& other) noexcept {
  if (this != &other) {
    if (running_) End(Status::Aborted("replaced before it ended"));
    tracer_ = other.tracer_;
    phase_ = other.phase_;
    gtrid_ = std::move(other.gtrid_);
    participant_ = std::move(other.participant_);
    gid_ = std::move(other.gid_);
    attempt_ = other.attempt_;
    start_ = other.start_;
    running_ = other.running_;
    other.running_ = false;
  }
  return *this;
}

std::shared_ptr<PhaseSpan> BranchSpan(Tracer* tracer, TracePhase phase, const std::string& gtrid,
                                      const std::string& participant, const std::string& gid, int attempt) {
  if (tracer == nullptr) return nullptr;
  return std::make_shared<PhaseSpan>(tracer, phase, gtrid, participant, gid, attempt);
}

std::chrono::nanoseconds PhaseSpan::End(const Status& status) {
  if (!running_) return std::chrono::nanoseconds(0);
  running_ = false;
  auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_);
  if (tracer_ != nullptr) {
    TraceEvent event{gtrid_, phase_, participant_, gid_, attempt_};
    Guarded(phase_, [&] { tracer_->OnPhaseEnd(event, status, elapsed); });
  }
  return elapsed;
}

}  // namespace internal
}  // namespace twopc
