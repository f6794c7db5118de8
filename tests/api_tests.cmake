# The API's traps (issue 9) against real PostgreSQL servers started by the
# test; their pure parts (params, the statement guard) are in unit_tests.

add_executable(api_test
  param_roundtrip_test.cc
  transaction_lifetime_test.cc
  transaction_control_test.cc)
target_link_libraries(api_test PRIVATE twopc pg_test_support GTest::gtest_main)
target_include_directories(api_test PRIVATE ${PROJECT_SOURCE_DIR})
# One ctest entry: the tests share one set of servers, started once.
add_test(NAME api_test COMMAND api_test)
set_tests_properties(api_test PROPERTIES LABELS integration TIMEOUT 600)

# A Transaction used after its Coordinator is destroyed reads freed memory
# only if the fix regresses, and a plain run may not notice: valgrind does.
# valgrind is required (scripts/install-deps installs it): a test that
# disappears when a tool is missing proves nothing.
find_program(TWOPC_VALGRIND valgrind REQUIRED)
add_test(NAME api_test_lifetime_valgrind
  COMMAND ${TWOPC_VALGRIND} --error-exitcode=99 --leak-check=no
          --suppressions=${CMAKE_CURRENT_LIST_DIR}/valgrind.supp
          $<TARGET_FILE:api_test> --gtest_filter=TransactionLifetimeTest.*)
set_tests_properties(api_test_lifetime_valgrind PROPERTIES LABELS "integration;valgrind"
  TIMEOUT 600)
