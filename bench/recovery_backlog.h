// `twopc-bench --recovery-backlog N`: how long recovery takes to resolve a
// dead coordinator's backlog (docs/benchmarks.md, "Recovery of a backlog").
#pragma once

#include "bench/point.h"

namespace twopc::bench {

// Prepares N undecided branches of a dead incarnation of the config's node
// over the first two participants -- with the SQLite log N/2 transactions
// of two branches, with the postgres store N transactions of one prepared
// branch whose decider (the other database) holds no row -- then times one
// recovery pass as `twopc recover` runs it, and checks that nothing is left
// prepared. Prints a table; 0 when everything was resolved, 1 otherwise, 2
// on a setup error.
int RunRecoveryBacklog(const DriverEnv& env);

}  // namespace twopc::bench
