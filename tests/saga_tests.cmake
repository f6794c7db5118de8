# The orchestrated saga engine (twopc/saga.h) against real PostgreSQL servers
# started by the test, including orchestrators SIGKILLed between a step's
# local commit and its log record (TWOPC_CRASH_AT) and the `twopc saga
# status` command run as a real process.

# The orchestrator process the crash tests kill.
add_executable(saga_crash_child saga_crash_child.cc)
target_link_libraries(saga_crash_child PRIVATE twopc_testing SQLite::SQLite3)
target_include_directories(saga_crash_child PRIVATE ${PROJECT_SOURCE_DIR})

add_executable(saga_test saga_test.cc)
target_link_libraries(saga_test PRIVATE twopc_testing pg_test_support twopc_child_process GTest::gtest_main
  SQLite::SQLite3 nlohmann_json::nlohmann_json fmt::fmt prometheus-cpp::core)
target_include_directories(saga_test PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(saga_test PRIVATE
  SAGA_CRASH_CHILD_PATH="$<TARGET_FILE:saga_crash_child>"
  TWOPC_CLI_PATH="$<TARGET_FILE:twopc_cli>")
add_dependencies(saga_test saga_crash_child twopc_cli)
# One ctest entry: the tests share one sandbox (starting servers costs seconds).
add_test(NAME saga_test COMMAND saga_test)
set_tests_properties(saga_test PROPERTIES LABELS integration TIMEOUT 600)
