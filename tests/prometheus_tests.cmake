# Prometheus: the alert rules in docs/prometheus/ checked with promtool, and a
# real Prometheus server (scripts/prometheus-sandbox) scraping what twopc
# exposes. The prometheus package is in scripts/install-deps.
find_program(TWOPC_PROMTOOL promtool REQUIRED)
set(twopc_prometheus_docs ${PROJECT_SOURCE_DIR}/docs/prometheus)
add_test(NAME prometheus_rules_check
  COMMAND ${TWOPC_PROMTOOL} check rules ${twopc_prometheus_docs}/twopc-alerts.yml)
add_test(NAME prometheus_rules_test
  COMMAND ${TWOPC_PROMTOOL} test rules twopc-alerts.test.yml
  WORKING_DIRECTORY ${twopc_prometheus_docs})
add_test(NAME prometheus_config_check
  COMMAND ${TWOPC_PROMTOOL} check config ${twopc_prometheus_docs}/prometheus.yml)
set_tests_properties(prometheus_rules_check prometheus_rules_test prometheus_config_check
  PROPERTIES LABELS unit TIMEOUT 60)

# Test support: a throwaway Prometheus server through
# scripts/prometheus-sandbox, asked through its HTTP API. It reuses
# pg_test_support's ScriptResult.
add_library(prometheus_test_support STATIC ${PROJECT_SOURCE_DIR}/testing/prometheus_sandbox.cc)
target_link_libraries(prometheus_test_support PUBLIC http_test_support pg_test_support
  twopc_child_process nlohmann_json::nlohmann_json GTest::gtest)
add_executable(prometheus_sandbox_test prometheus_sandbox_test.cc)
target_link_libraries(prometheus_sandbox_test PRIVATE prometheus_test_support twopc
  prometheus-cpp::core prometheus-cpp::pull GTest::gtest_main)
gtest_discover_tests(prometheus_sandbox_test DISCOVERY_TIMEOUT 60
  PROPERTIES LABELS integration TIMEOUT 120)
