// The saga log's single writer: a thread that owns the write connection and
// commits every write queued while it was busy in ONE SQLite transaction,
// i.e. one fsync for a whole group of concurrent sagas (the same group commit
// as storage/group_commit_writer.cc). Callers block until their write is
// durable.
#pragma once

#include <deque>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"
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
  ~SagaLogWriter();

  SagaLogWriter(const SagaLogWriter&) = delete;
  SagaLogWriter& operator=(const SagaLogWriter&) = delete;

  // Blocks until `write` is durable (OK) or failed. InDoubt when the commit
  // of its batch failed in a way that leaves unknown whether it reached the
  // disk; the writer then refuses every later write (fail-stop, like the
  // decision log), because a saga must not go on as if its progress were
  // recorded. A finished saga (completed, compensated) drops its definition.
  Status Write(SagaLogWrite write);

 private:
  struct Job {
    SagaLogWrite write;
    std::promise<Status> done;
  };

  SagaLogWriter(std::unique_ptr<SqliteDb> db, std::unique_ptr<SqliteStatement> insert,
                std::unique_ptr<SqliteStatement> update);

  void Run();
  std::vector<Job> TakeBatch() TWOPC_EXCLUDES(mu_);
  void WriteBatch(std::vector<Job>& batch);
  Status WriteJob(const SagaLogWrite& w);
  Status Commit(bool* outcome_unknown);

  // Used by the writer thread only.
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<SqliteStatement> insert_;
  std::unique_ptr<SqliteStatement> update_;
  Status failed_;  // set once a commit's outcome was unknown

  Mutex mu_;
  CondVar work_;
  std::deque<Job> queue_ TWOPC_GUARDED_BY(mu_);
  bool stopping_ TWOPC_GUARDED_BY(mu_) = false;

  std::thread thread_;  // last: starts once everything above is initialized
};

}  // namespace twopc::internal
