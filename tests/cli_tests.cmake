# The `twopc` CLI, run as a real process against real PostgreSQL servers.
# One ctest entry: its tests share one sandbox, started once.
add_executable(cli_test cli_test.cc cli_operator_test.cc cli_pg_store_test.cc)
target_link_libraries(cli_test PRIVATE twopc pg_test_support GTest::gtest_main
  SQLite::SQLite3 nlohmann_json::nlohmann_json)
target_include_directories(cli_test PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(cli_test PRIVATE TWOPC_CLI_PATH="$<TARGET_FILE:twopc_cli>")
add_dependencies(cli_test twopc_cli)
add_test(NAME cli_test COMMAND cli_test)
set_tests_properties(cli_test PROPERTIES LABELS integration TIMEOUT 600)
