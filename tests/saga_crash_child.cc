// The saga orchestrator process that tests/saga_test.cc SIGKILLs.
//
//   saga_crash_child CONFIG DECISION_LOG SAGA_LOG SAGA_JSON
//
// Opens a coordinator on CONFIG (with its decision log at DECISION_LOG) and
// an orchestrator on SAGA_LOG, then runs the saga SAGA_JSON (the saga log's
// own definition format, saga/saga_json.h). The test sets
// TWOPC_CRASH_AT=saga_after_step:k or saga_after_compensation:k, so the
// process kills itself between a step's local commit and its log record.
// Exit codes: 2 usage or setup error; 3 the saga ended without reaching the
// crash point (it prints "FINISHED <id> <state>").
#include <cstdio>
#include <string>

#include "saga/saga_json.h"
#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/saga.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s CONFIG DECISION_LOG SAGA_LOG SAGA_JSON\n", argv[0]);
    return 2;
  }
  auto options = twopc::LoadConfigFile(argv[1]);
  if (!options.ok()) {
    std::fprintf(stderr, "config: %s\n", options.status().ToString().c_str());
    return 2;
  }
  options->log.path = argv[2];
  options->recovery.interval = std::chrono::milliseconds(0);
  auto coordinator = twopc::Coordinator::Open(std::move(options).value());
  if (!coordinator.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", coordinator.status().ToString().c_str());
    return 2;
  }
  twopc::SagaOptions saga_options;
  saga_options.log_path = argv[3];
  auto orchestrator = twopc::SagaOrchestrator::Open(**coordinator, saga_options);
  if (!orchestrator.ok()) {
    std::fprintf(stderr, "orchestrator: %s\n", orchestrator.status().ToString().c_str());
    return 2;
  }
  auto saga = twopc::internal::SagaFromJson(argv[4]);
  if (!saga.ok()) {
    std::fprintf(stderr, "saga: %s\n", saga.status().ToString().c_str());
    return 2;
  }
  twopc::SagaResult r = (*orchestrator)->Run(std::move(saga).value());
  std::printf("FINISHED %s %s\n", r.saga_id.c_str(), twopc::SagaStateName(r.state));
  return 3;
}
