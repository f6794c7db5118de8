# Coordinator integration tests: real PostgreSQL servers, started by the tests.
add_executable(coordinator_test
  coordinator_test.cc
  fault_injection_test.cc
  concurrency_test.cc
  recovery_test.cc
  atomicity_test.cc
  log_identity_test.cc
  session_reset_test.cc)
target_link_libraries(coordinator_test PRIVATE twopc_testing pg_test_support GTest::gtest_main
  spdlog::spdlog fmt::fmt)
target_include_directories(coordinator_test PRIVATE ${PROJECT_SOURCE_DIR})
# One ctest entry per binary: its tests share one set of servers, started
# once (starting three servers costs seconds; per-test processes would pay it
# for every test).
add_test(NAME coordinator_test COMMAND coordinator_test)
set_tests_properties(coordinator_test PROPERTIES LABELS integration TIMEOUT 900)

# The decision store inside PostgreSQL (store = "postgres"): its own servers.
add_executable(pg_store_test pg_store_test.cc)
target_link_libraries(pg_store_test PRIVATE twopc_testing pg_test_support GTest::gtest_main)
target_include_directories(pg_store_test PRIVATE ${PROJECT_SOURCE_DIR})
add_test(NAME pg_store_test COMMAND pg_store_test)
set_tests_properties(pg_store_test PROPERTIES LABELS integration TIMEOUT 600)

# The transaction phase machine and the registry of phases: no server.
add_executable(transaction_phase_test transaction_phase_test.cc)
target_link_libraries(transaction_phase_test PRIVATE twopc_testing GTest::gtest_main)
target_include_directories(transaction_phase_test PRIVATE ${PROJECT_SOURCE_DIR})
gtest_discover_tests(transaction_phase_test DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)

# MariaDB XA participants beside PostgreSQL ones: its own servers of both kinds.
add_executable(mariadb_participant_test mariadb_participant_test.cc)
target_link_libraries(mariadb_participant_test PRIVATE twopc_testing mariadb_test_support
  GTest::gtest_main)
target_include_directories(mariadb_participant_test PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(mariadb_participant_test PRIVATE nlohmann_json::nlohmann_json)
target_compile_definitions(mariadb_participant_test PRIVATE TWOPC_CLI_PATH="$<TARGET_FILE:twopc_cli>")
add_dependencies(mariadb_participant_test twopc_cli)
add_test(NAME mariadb_participant_test COMMAND mariadb_participant_test)
set_tests_properties(mariadb_participant_test PROPERTIES LABELS integration TIMEOUT 600)

# Metrics and tracing hooks: /metrics scraped over HTTP from a coordinator
# running against real servers (docs/operations.md, "Metrics").
add_executable(metrics_test metrics_test.cc)
target_link_libraries(metrics_test PRIVATE twopc_testing pg_test_support http_test_support
  prometheus_test_support GTest::gtest_main prometheus-cpp::core fmt::fmt)
target_include_directories(metrics_test PRIVATE ${PROJECT_SOURCE_DIR})
add_test(NAME metrics_test COMMAND metrics_test)
set_tests_properties(metrics_test PROPERTIES LABELS integration TIMEOUT 300)
