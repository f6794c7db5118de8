// The charts of a sweep (one line per mode in each):
//   throughput_vs_clients*.svg   committed/s over the client counts
//   latency_percentiles*.svg     p50/p95/p99/max at the largest client count
//   latency_vs_clients*.svg      p50 (solid) and p99 (dashed) over the clients
//   throughput_vs_hotset*.svg    committed/s as contention grows
//   throughput_vs_failure*.svg   committed/s over the business-failure rate
// A chart is drawn only where the sweep varied its x axis; when the grid has
// several values of the other coordinates, each combination gets its own
// file (suffix _k<participants>_h<hot>_f<rate>_c<clients>).
#pragma once

#include <string>
#include <vector>

#include "bench/point.h"

namespace twopc::bench {

struct Chart {
  std::string file;
  std::string svg;
};

std::vector<Chart> BuildCharts(const std::vector<PointResult>& points);

}  // namespace twopc::bench
