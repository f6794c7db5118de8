// How long an fdatasync takes right now, on the disk under the decision log.
//
// On shared and virtual machines the cost of a flush can swing by an order
// of magnitude from one minute to the next, and every mode of this bench
// waits on flushes (the participants' WAL, the decision log, the saga log).
// Each point records a probe taken just before it, so that a reader can tell
// which points ran on a slow disk.
#pragma once

#include <string>

namespace twopc::bench {

// Median latency in microseconds of `count` 4 KiB write + fdatasync pairs on
// a scratch file in `dir` (removed afterwards); -1 if the probe failed.
double ProbeFlushMicros(const std::string& dir, int count = 16);

}  // namespace twopc::bench
