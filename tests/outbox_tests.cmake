# Choreographed sagas over the transactional outbox (twopc/outbox.h), against
# real PostgreSQL servers started by the test.

# The relay process the exactly-once test SIGKILLs.
add_executable(outbox_relay_child outbox_relay_child.cc)
target_link_libraries(outbox_relay_child PRIVATE twopc_testing spdlog::spdlog fmt::fmt)

add_executable(outbox_test outbox_test.cc)
target_link_libraries(outbox_test PRIVATE twopc_testing pg_test_support twopc_child_process GTest::gtest_main
  nlohmann_json::nlohmann_json fmt::fmt)
target_include_directories(outbox_test PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(outbox_test PRIVATE
  OUTBOX_RELAY_CHILD_PATH="$<TARGET_FILE:outbox_relay_child>")
add_dependencies(outbox_test outbox_relay_child)
# One ctest entry: the tests share one sandbox (starting servers costs seconds).
add_test(NAME outbox_test COMMAND outbox_test)
set_tests_properties(outbox_test PROPERTIES LABELS integration TIMEOUT 600)
