// Named points in the commit path (RocksDB's TEST_SYNC_POINT idea).
//
//   TWOPC_SYNC_POINT("after_prepare", k);
//
// Tests attach a callback to a name to force an ordering or inject a failure;
// crash tests set the environment variable TWOPC_CRASH_AT=<name>[:k] and the
// process SIGKILLs itself when it reaches that point (the k-th time for
// points with an index: "after_prepare:2" = after the second branch
// prepared). TWOPC_STOP_AT=<name>[:k] stops the process there instead
// (SIGSTOP, once), to be continued by the test. Compiled out unless
// TWOPC_SYNC_POINTS is defined.
//
// The points, in protocol order:
//   before_prepare           all work sent, no PREPARE yet
//   after_prepare:k          k branches have answered PREPARE OK
//   before_decision          every branch prepared, COMMIT record not yet forced
//   after_decision_forced    the COMMIT record is durable
//   after_commit_prepared:k  k branches have answered COMMIT PREPARED OK
//   before_end               every branch committed, END not yet written
//
// Outside the 2PC commit path:
//   outbox_after_deliver:k   a relay committed the k-th delivery of its round,
//                            before deleting the event from the source outbox
#pragma once

#include <functional>
#include <string>

namespace twopc::internal {

// Called at each point; `index` is 0 for points without one.
void ReachSyncPoint(const char* name, int index);

// Test hooks. `callback` runs on whatever thread reaches the point.
void SetSyncPointCallback(const std::string& name, std::function<void(int index)> callback);
void ClearSyncPointCallbacks();

}  // namespace twopc::internal

#ifdef TWOPC_SYNC_POINTS
#define TWOPC_SYNC_POINT(name, index) ::twopc::internal::ReachSyncPoint((name), (index))
#else
#define TWOPC_SYNC_POINT(name, index) ((void)0)
#endif
