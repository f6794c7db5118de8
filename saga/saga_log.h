// The durable saga log (SQLite: WAL, synchronous=FULL, file mode 0600, one
// orchestrator per file through an exclusive lock on "<path>.lock").
//
// What the orchestrator writes, and why each write is forced before it goes on:
//   Insert (state running)      before the first step: a crash after that step
//                               must find the saga to finish or undo it;
//   Update (next_step)          after each step: resume starts there (a step
//                               committed but not recorded is found applied
//                               through its idempotency key);
//   Update (compensating/...)   at each state change, so that resume goes the
//                               right way, and a parked saga stays visible.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/thread_annotations.h"
#include "storage/sqlite_db.h"
#include "storage/log_file.h"
#include "saga/saga_log_schema.h"
#include "saga/saga_log_writer.h"
#include "twopc/saga.h"

namespace twopc::internal {

// Thread-safe.
class SagaLog {
 public:
  // Busy if another orchestrator holds the log; InvalidArgument if `path`
  // is some other SQLite file. Every file access goes through the SQLite VFS
  // named `vfs` (nullptr: the default one); tests pass one that injects
  // faults.
  static Result<std::unique_ptr<SagaLog>> Open(const std::string& path,
                                               const char* vfs = nullptr);

  // Records a new saga (record.state running). Durable when it returns OK.
  Status Insert(const SagaRecord& record, const std::string& definition);

  // Records a saga's progress: its state, next step and last error.
  // Durable when it returns OK.
  Status Update(const std::string& saga_id, SagaState state, int next_step,
                const std::string& last_error);

  // Running, compensating and parked sagas, oldest first.
  Result<std::vector<SagaRecord>> Unfinished();

  // The current row of one saga (a fresh read); nullopt if there is none.
  Result<std::optional<StoredSaga>> Load(const std::string& saga_id);

  const std::string& path() const { return path_; }

 private:
  SagaLog(std::string path, LogFileLock lock, std::unique_ptr<SagaLogWriter> writer,
          std::unique_ptr<SqliteDb> reader);

  std::string path_;
  // Members go in reverse order: the reader closes first, so that the
  // writer's connection is the last one and checkpoints the WAL; the lock
  // goes last, once no connection of this process touches the files.
  LogFileLock lock_;
  std::unique_ptr<SagaLogWriter> writer_;
  Mutex reader_mu_;
  std::unique_ptr<SqliteDb> reader_ TWOPC_GUARDED_BY(reader_mu_);
};

int64_t SagaNowMs();

}  // namespace twopc::internal
