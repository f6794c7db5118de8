# twopc-bench's own tests: the report's rendering, and that every connection
# the bench opens honours connect_timeout_ms (run against a silent port).
add_executable(bench_test bench_test.cc)
target_link_libraries(bench_test PRIVATE twopc_bench_lib pg_test_support GTest::gtest_main)
target_compile_definitions(bench_test PRIVATE TWOPC_BENCH_PATH="$<TARGET_FILE:twopc_bench>")
add_dependencies(bench_test twopc_bench)
gtest_discover_tests(bench_test DISCOVERY_TIMEOUT 60 PROPERTIES LABELS bench)
