// The sweep: every point of the grid participants x hot-set x failure-rate x
// clients, each run --repeat times, and at each point every --mode one after
// the other on the same servers -- so that the modes of one point are
// measured side by side, under the same conditions.
#pragma once

#include <vector>

#include "bench/point.h"

namespace twopc::bench {

// Runs the grid; one PointResult per (mode, point), the medians of its runs.
std::vector<PointResult> RunSweep(const DriverEnv& env);

// Folds the runs of one point into one result: medians of the rates and
// percentiles, sums of the counts, the runs kept in `runs`.
PointResult MedianOfRuns(std::vector<PointResult> runs);

}  // namespace twopc::bench
