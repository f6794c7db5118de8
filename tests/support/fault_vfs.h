// A SQLite VFS for fault injection, the way LevelDB's fault_injection_test
// wraps its Env: it wraps the default VFS, counts fsyncs of the WAL and can
// fail WAL writes (as a full disk does) or WAL fsyncs. Any log opened with
// `kFaultVfs` goes through it (the decision log: OpenSqliteDecisionLogWithVfs;
// the saga log: SagaLog::Open's `vfs`).
#pragma once

#include <sqlite3.h>

#include <atomic>

namespace twopc::testing {

struct FaultState {
  std::atomic<int> wal_syncs{0};
  std::atomic<bool> fail_wal_writes{false};  // with SQLITE_FULL, as ENOSPC does
  std::atomic<bool> fail_wal_syncs{false};   // with SQLITE_IOERR_FSYNC
};
extern FaultState g_fault;

constexpr const char* kFaultVfs = "twopc-fault";

// Registers the VFS (once per process) and clears both failure switches.
void RegisterFaultVfs();

}  // namespace twopc::testing
