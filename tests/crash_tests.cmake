# Crash tests: a real coordinator process SIGKILLed at every named point of
# the commit protocol (TWOPC_CRASH_AT), participants crashed with
# `pg_ctl stop -m immediate`, and a chaos run. Needs TWOPC_SYNC_POINTS: they
# link twopc_testing, the library with the sync points.
find_package(CLI11 REQUIRED)

# The coordinator process the tests kill.
add_executable(crash_coordinator crash_coordinator.cc)
target_link_libraries(crash_coordinator PRIVATE twopc_testing CLI11::CLI11 spdlog::spdlog fmt::fmt
  nlohmann_json::nlohmann_json)

add_executable(crash_test crash_test.cc)
target_link_libraries(crash_test PRIVATE twopc_testing pg_test_support twopc_child_process
  GTest::gtest_main nlohmann_json::nlohmann_json)
# The source dir for testing/sync_point.h (in-process crash callbacks).
target_include_directories(crash_test PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(crash_test PRIVATE
  CRASH_COORDINATOR_PATH="$<TARGET_FILE:crash_coordinator>")
add_dependencies(crash_test crash_coordinator)
# One ctest entry: every test of the binary shares one set of servers.
add_test(NAME crash_test COMMAND crash_test)
set_tests_properties(crash_test PROPERTIES LABELS "integration;crash" TIMEOUT 900)

# The crash matrix, a MariaDB server crash and a 16-thread run for a mixed
# pair: one PostgreSQL and one MariaDB XA participant, servers of both kinds.
add_executable(mariadb_crash_test mariadb_crash_test.cc)
target_link_libraries(mariadb_crash_test PRIVATE twopc_testing mariadb_test_support twopc_child_process
  GTest::gtest_main nlohmann_json::nlohmann_json)
target_include_directories(mariadb_crash_test PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(mariadb_crash_test PRIVATE
  CRASH_COORDINATOR_PATH="$<TARGET_FILE:crash_coordinator>")
add_dependencies(mariadb_crash_test crash_coordinator)
add_test(NAME mariadb_crash_test COMMAND mariadb_crash_test)
set_tests_properties(mariadb_crash_test PROPERTIES LABELS "integration;crash" TIMEOUT 600)
