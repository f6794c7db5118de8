// The saga engine's Prometheus metrics (docs/operations.md, "Metrics"),
// counted in the coordinator's registry so that its /metrics endpoint serves
// them beside the 2PC ones. Internal.
//
// Every child exists from construction on, at 0, so that rate() and
// absent() work before the first saga. Recording is one atomic add.
#pragma once

#include <memory>

#include <prometheus/counter.h>
#include <prometheus/registry.h>

namespace twopc::internal {

class SagaMetrics {
 public:
  // Adds the saga families to `registry`, merging with families of the same
  // name already there: two orchestrators on one coordinator count together.
  explicit SagaMetrics(prometheus::Registry& registry);

  // Counted once per saga, by the Run that recorded it; a saga resumed
  // after a crash is not started again.
  void Started() { started_->Increment(); }
  void Completed() { completed_->Increment(); }
  void Compensated() { compensated_->Increment(); }
  void Parked() { parked_->Increment(); }
  // One more try of a step or of a compensation after a failed one.
  void StepRetried() { retries_->Increment(); }
  // One step undone by its compensation.
  void StepCompensated() { compensations_->Increment(); }

 private:
  prometheus::Counter* started_;
  prometheus::Counter* completed_;
  prometheus::Counter* compensated_;
  prometheus::Counter* parked_;
  prometheus::Counter* retries_;
  prometheus::Counter* compensations_;
};

}  // namespace twopc::internal
