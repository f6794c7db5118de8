// The saga log's writes, through the shared group-commit writer
// (storage/group_commit_writer.h): every write queued while the writer was
// busy is committed in ONE SQLite transaction, i.e. one fsync for a whole
// group of concurrent sagas. Callers block until their write is durable.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "storage/group_commit_writer.h"
#include "storage/sqlite_db.h"
#include "twopc/saga.h"
#include "twopc/status.h"

namespace twopc::internal {

struct SagaLogWrite {
  enum class Kind {
    kInsert,  // a new saga: every field of `record`, and `definition`
    kUpdate,  // state, next_step, last_error, updated_at_ms of saga record.saga_id
  };
  Kind kind = Kind::kUpdate;
  SagaRecord record;
  std::string definition;  // kInsert
};

class SagaLogWriter {
 public:
  // Takes over `db`, already initialized (InitializeSagaLog), and starts the
  // writer thread.
  static Result<std::unique_ptr<SagaLogWriter>> Start(std::unique_ptr<SqliteDb> db);

  // Writes everything still queued, then stops the thread.
  ~SagaLogWriter() = default;

  // Blocks until `write` is durable (OK) or failed. InDoubt when the commit
  // of its batch failed in a way that leaves unknown whether it reached the
  // disk; the writer then refuses every later write (fail-stop, like the
  // decision log), because a saga must not go on as if its progress were
  // recorded. A finished saga (completed, compensated) drops its definition.
  Status Write(SagaLogWrite write);

  // One queued write and its caller's callback.
  struct Job {
    SagaLogWrite write;
    std::function<void(Status)> done;
    Status own;  // a refusal of this write alone (a duplicate id, no such saga)
  };

 private:
  SagaLogWriter(std::unique_ptr<SqliteDb> db, std::unique_ptr<BatchWrites<Job>> batches);

  GroupCommitWriter<Job> writer_;
};

}  // namespace twopc::internal
