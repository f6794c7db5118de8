// Crash mode (--crash-after S): what a coordinator crash costs.
//
// The bench re-executes itself as a *worker* process that runs the
// coordinator (or the saga orchestrator / outbox relays) and the clients,
// reporting every operation on its stdout as it starts and as it is
// answered. After S seconds the driver SIGKILLs the worker, restarts the
// mode in a *recover* process -- its Open runs recovery: decisions completed,
// orphans fenced and rolled back, sagas resumed, outboxes drained -- and
// measures the time until nothing is in doubt or unfinished. Then it compares
// the per-shard journal (every step records (operation, step) in its own
// local transaction) with what the worker acknowledged:
//   lost               acknowledged but not applied everywhere -- must be 0
//   in flight applied  started, unanswered, completed by recovery
//   in flight undone   started, unanswered, rolled back / compensated
//   partial            applied on some shards only (a violation)
#pragma once

#include "bench/point.h"

namespace twopc::bench {

// The driver side: one crash-mode point.
PointResult RunCrashPoint(const PointSpec& spec, const DriverEnv& env);

// The child sides (main() dispatches on BenchFlags::role). Exit codes: 0 ok,
// 1 the work did not finish (recover), 2 could not start.
int CrashWorkerMain(const DriverEnv& env);
int CrashRecoverMain(const DriverEnv& env);

}  // namespace twopc::bench
