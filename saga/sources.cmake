# The orchestrated saga engine, part of libtwopc.
# Included by the top-level CMakeLists.txt right after add_library(twopc).
target_sources(twopc PRIVATE
  ${PROJECT_SOURCE_DIR}/saga/applied_table.cc
  ${PROJECT_SOURCE_DIR}/saga/circuit_breaker.cc
  ${PROJECT_SOURCE_DIR}/saga/parked_saga.cc
  ${PROJECT_SOURCE_DIR}/saga/saga_execution.cc
  ${PROJECT_SOURCE_DIR}/saga/saga_ids.cc
  ${PROJECT_SOURCE_DIR}/saga/saga_json.cc
  ${PROJECT_SOURCE_DIR}/saga/saga_log.cc
  ${PROJECT_SOURCE_DIR}/saga/saga_log_schema.cc
  ${PROJECT_SOURCE_DIR}/saga/saga_log_writer.cc
  ${PROJECT_SOURCE_DIR}/saga/saga_names.cc
  ${PROJECT_SOURCE_DIR}/saga/saga_orchestrator.cc
  ${PROJECT_SOURCE_DIR}/saga/saga_status.cc
  ${PROJECT_SOURCE_DIR}/saga/step_driver.cc
  ${PROJECT_SOURCE_DIR}/saga/step_failure.cc
  ${PROJECT_SOURCE_DIR}/saga/step_runner.cc
)
