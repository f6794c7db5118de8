#include "metrics/saga_metrics.h"

#include <prometheus/family.h>

namespace twopc::internal {
namespace {

prometheus::Family<prometheus::Counter>& Sagas(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("twopc_sagas_total")
      .Help("Sagas started by SagaOrchestrator::Run, and how sagas ended "
            "(completed, compensated, parked for an operator)")
      .Register(registry);
}

}  // namespace

SagaMetrics::SagaMetrics(prometheus::Registry& registry) {
  auto& sagas = Sagas(registry);
  started_ = &sagas.Add({{"outcome", "started"}});
  completed_ = &sagas.Add({{"outcome", "completed"}});
  compensated_ = &sagas.Add({{"outcome", "compensated"}});
  parked_ = &sagas.Add({{"outcome", "parked"}});
  retries_ = &prometheus::BuildCounter()
                  .Name("twopc_saga_step_retries_total")
                  .Help("Tries of a saga step or compensation after a failed one")
                  .Register(registry)
                  .Add({});
  compensations_ = &prometheus::BuildCounter()
                        .Name("twopc_saga_compensations_total")
                        .Help("Saga steps undone by their compensation")
                        .Register(registry)
                        .Add({});
}

}  // namespace twopc::internal
