# The installed package works for an application: installs this build into a
# temporary prefix, builds tests/find_package/ against it with
# find_package(twopc) and runs the result. Compiler, flags and build type are
# this build's, so that a sanitizer build links its consumer the same way.
# It also proves that the installed library has none of the test-only crash
# points (run.sh says how); that part runs the consumer on throwaway servers.
# (NAME=VALUE arguments: CMake < 3.31 drops empty arguments of a test.)
add_test(NAME find_package_consumer
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/find_package/run.sh
    "build_dir=${CMAKE_BINARY_DIR}"
    "cmake=${CMAKE_COMMAND}"
    "generator=${CMAKE_GENERATOR}"
    "cxx=${CMAKE_CXX_COMPILER}"
    "build_type=${CMAKE_BUILD_TYPE}"
    "cxx_flags=${CMAKE_CXX_FLAGS}"
    "linker_flags=${CMAKE_EXE_LINKER_FLAGS}")
set_tests_properties(find_package_consumer PROPERTIES LABELS "install;integration" TIMEOUT 600)
