// The command line of twopc-bench (CLI11), documented in docs/benchmarks.md.
#pragma once

#include <CLI/CLI.hpp>

#include "bench/flags.h"

namespace twopc::bench {

// Declares every option of `app`, writing into `flags`.
void DefineFlags(CLI::App& app, BenchFlags& flags);

// Checks what one option cannot check alone; throws CLI::ValidationError.
void ValidateFlags(BenchFlags& flags);

}  // namespace twopc::bench
