# twopc's own logger (twopc/logging.h): where the library's warnings go, and
# that they never reach the application's stdout or spdlog default logger.
# No server: an unreachable participant is enough to make the library warn.
add_executable(logging_test logging_test.cc)
target_link_libraries(logging_test PRIVATE twopc GTest::gtest_main spdlog::spdlog fmt::fmt
                                           nlohmann_json::nlohmann_json)
# The JSON formatter and LogWith are internal (common/logging.h).
target_include_directories(logging_test PRIVATE ${PROJECT_SOURCE_DIR})
gtest_discover_tests(logging_test DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
