# The `twopc` CLI, run as a real process against real PostgreSQL servers.
# One ctest entry: its tests share one sandbox, started once.
add_executable(cli_test cli_test.cc cli_operator_test.cc cli_pg_store_test.cc
  cli_prometheus_test.cc)
target_link_libraries(cli_test PRIVATE twopc pg_test_support GTest::gtest_main
  SQLite::SQLite3 nlohmann_json::nlohmann_json)
target_include_directories(cli_test PRIVATE ${PROJECT_SOURCE_DIR})
# promtool (the prometheus package) lints `twopc status --prometheus`.
find_program(TWOPC_PROMTOOL promtool REQUIRED)
target_compile_definitions(cli_test PRIVATE TWOPC_CLI_PATH="$<TARGET_FILE:twopc_cli>"
  TWOPC_PROMTOOL="${TWOPC_PROMTOOL}")
add_dependencies(cli_test twopc_cli)
add_test(NAME cli_test COMMAND cli_test)
set_tests_properties(cli_test PROPERTIES LABELS integration TIMEOUT 600)

# `twopc status --prometheus` on hand-made reports (no server).
add_executable(status_prometheus_test status_prometheus_test.cc
  ${PROJECT_SOURCE_DIR}/cli/status_prometheus.cc)
target_link_libraries(status_prometheus_test PRIVATE twopc prometheus-cpp::core GTest::gtest_main)
target_include_directories(status_prometheus_test PRIVATE ${PROJECT_SOURCE_DIR})
gtest_discover_tests(status_prometheus_test DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
