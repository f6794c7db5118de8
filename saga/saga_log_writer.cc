#include "saga/saga_log_writer.h"

#include <fmt/format.h>

#include <utility>
#include <vector>

#include "common/wait.h"
#include "saga/saga_log_schema.h"

namespace twopc::internal {
namespace {

constexpr const char* kInsertSql =
    "INSERT INTO sagas(id, name, definition, state, steps, next_step, last_error,"
    " started_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

// A finished saga will never be resumed: its definition (all its SQL and
// parameters) is dropped so that the log stays small.
constexpr const char* kUpdateSql =
    "UPDATE sagas SET state = ?2, next_step = ?3, last_error = ?4, updated_at_ms = ?5,"
    " definition = CASE WHEN ?2 IN ('completed', 'compensated') THEN NULL ELSE definition END"
    " WHERE id = ?1";

using Job = SagaLogWriter::Job;

// How the saga log's writes are written and answered, on the writer thread.
class SagaBatches final : public BatchWrites<Job> {
 public:
  SagaBatches(SqliteDb* db, std::unique_ptr<SqliteStatement> insert,
              std::unique_ptr<SqliteStatement> update)
      : db_(db), insert_(std::move(insert)), update_(std::move(update)) {}

  Status Write(std::vector<Job>& batch) override {
    for (Job& job : batch) {
      job.own = WriteOne(job.write);
      // A refused statement (a duplicate id, a saga that is not there) fails
      // its own write only; an error that ended the transaction fails them all.
      if (!job.own.ok() && sqlite3_get_autocommit(db_->handle()) != 0) return job.own;
    }
    return Status::OK();
  }

  void Answer(std::vector<Job>& batch, const Status& batch_status) override {
    for (Job& job : batch) {
      if (!batch_status.ok()) {
        job.done(batch_status);
      } else {
        job.done(job.own.ok() ? Status::OK() : SagaLogError(job.own));
      }
    }
  }

 private:
  Status WriteOne(const SagaLogWrite& w) {
    const SagaRecord& r = w.record;
    if (w.kind == SagaLogWrite::Kind::kInsert) {
      ScopedReset reset(insert_.get());
      insert_->BindText(1, r.saga_id);
      insert_->BindText(2, r.name);
      insert_->BindText(3, w.definition);
      insert_->BindText(4, SagaStateName(r.state));
      insert_->BindInt64(5, r.steps);
      insert_->BindInt64(6, r.next_step);
      insert_->BindText(7, r.last_error);
      insert_->BindInt64(8, r.started_at_ms);
      insert_->BindInt64(9, r.updated_at_ms);
      return insert_->Run();
    }
    ScopedReset reset(update_.get());
    update_->BindText(1, r.saga_id);
    update_->BindText(2, SagaStateName(r.state));
    update_->BindInt64(3, r.next_step);
    update_->BindText(4, r.last_error);
    update_->BindInt64(5, r.updated_at_ms);
    if (Status s = update_->Run(); !s.ok()) return s;
    if (update_->Changes() != 1) {
      return Status::Internal(
          fmt::format("saga log {}: no saga {} to update", db_->path(), r.saga_id));
    }
    return Status::OK();
  }

  SqliteDb* db_;  // owned by the writer's connection, which outlives this
  std::unique_ptr<SqliteStatement> insert_;
  std::unique_ptr<SqliteStatement> update_;
};

GroupCommitOptions WriterOptions() {
  GroupCommitOptions o;
  o.window = std::chrono::microseconds(0);  // a saga step is slower than any window
  o.max_batch = 1024;
  o.what = "saga log";
  o.reword = SagaLogError;
  return o;
}

}  // namespace

Result<std::unique_ptr<SagaLogWriter>> SagaLogWriter::Start(std::unique_ptr<SqliteDb> db) {
  auto insert = db->Prepare(kInsertSql);
  if (!insert.ok()) return SagaLogError(insert.status());
  auto update = db->Prepare(kUpdateSql);
  if (!update.ok()) return SagaLogError(update.status());
  auto batches =
      std::make_unique<SagaBatches>(db.get(), std::move(insert).value(), std::move(update).value());
  return std::unique_ptr<SagaLogWriter>(new SagaLogWriter(std::move(db), std::move(batches)));
}

SagaLogWriter::SagaLogWriter(std::unique_ptr<SqliteDb> db,
                             std::unique_ptr<BatchWrites<Job>> batches)
    : writer_(std::move(db), std::move(batches), WriterOptions()) {}

Status SagaLogWriter::Write(SagaLogWrite write) {
  return AwaitCallback<Status>([&](auto done) {
    writer_.Enqueue(Job{std::move(write), std::move(done), Status::OK()});
  });
}

}  // namespace twopc::internal
