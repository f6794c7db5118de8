#include "saga/saga_log_writer.h"

#include <fmt/format.h>
#include "common/logging.h"

#include <algorithm>

#include "saga/saga_log_schema.h"

namespace twopc::internal {
namespace {

// Upper bound of writes committed together.
constexpr size_t kMaxBatch = 1024;

constexpr const char* kInsertSql =
    "INSERT INTO sagas(id, name, definition, state, steps, next_step, last_error,"
    " started_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

// A finished saga will never be resumed: its definition (all its SQL and
// parameters) is dropped so that the log stays small.
constexpr const char* kUpdateSql =
    "UPDATE sagas SET state = ?2, next_step = ?3, last_error = ?4, updated_at_ms = ?5,"
    " definition = CASE WHEN ?2 IN ('completed', 'compensated') THEN NULL ELSE definition END"
    " WHERE id = ?1";

}  // namespace

Result<std::unique_ptr<SagaLogWriter>> SagaLogWriter::Start(std::unique_ptr<SqliteDb> db) {
  auto insert = db->Prepare(kInsertSql);
  if (!insert.ok()) return SagaLogError(insert.status());
  auto update = db->Prepare(kUpdateSql);
  if (!update.ok()) return SagaLogError(update.status());
  return std::unique_ptr<SagaLogWriter>(
      new SagaLogWriter(std::move(db), std::move(insert).value(), std::move(update).value()));
}

SagaLogWriter::SagaLogWriter(std::unique_ptr<SqliteDb> db, std::unique_ptr<SqliteStatement> insert,
                             std::unique_ptr<SqliteStatement> update)
    : db_(std::move(db)), insert_(std::move(insert)), update_(std::move(update)) {
  thread_ = std::thread(&SagaLogWriter::Run, this);
}

SagaLogWriter::~SagaLogWriter() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  work_.SignalAll();
  thread_.join();
  // Statements before the connection: a connection with unfinalized
  // statements is closed lazily (sqlite3_close_v2) and would not checkpoint.
  insert_.reset();
  update_.reset();
}

Status SagaLogWriter::Write(SagaLogWrite write) {
  Job job{std::move(write), {}};
  std::future<Status> answer = job.done.get_future();
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(job));
  }
  work_.Signal();
  return answer.get();
}

void SagaLogWriter::Run() {
  for (;;) {
    std::vector<Job> batch = TakeBatch();
    if (batch.empty()) return;
    WriteBatch(batch);
  }
}

std::vector<SagaLogWriter::Job> SagaLogWriter::TakeBatch() {
  MutexLock lock(mu_);
  while (!stopping_ && queue_.empty()) work_.Wait(mu_);
  size_t n = std::min(queue_.size(), kMaxBatch);
  std::vector<Job> batch;
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void SagaLogWriter::WriteBatch(std::vector<Job>& batch) {
  std::vector<Status> own(batch.size());
  Status s = failed_;
  bool outcome_unknown = false;
  if (s.ok()) s = db_->Exec("BEGIN IMMEDIATE");
  for (size_t i = 0; s.ok() && i < batch.size(); ++i) {
    own[i] = WriteJob(batch[i].write);
    // A refused statement (a duplicate id, a saga that is not there) fails
    // its own write only; an error that ended the transaction fails them all.
    if (!own[i].ok() && sqlite3_get_autocommit(db_->handle()) != 0) s = own[i];
  }
  if (s.ok()) s = Commit(&outcome_unknown);
  if (!s.ok() && failed_.ok()) {
    // Never leave a failed transaction open: a later COMMIT would make
    // durable what was just reported as failed.
    db_->RollbackIfOpen();
    s = SagaLogError(s);
    if (outcome_unknown) {
      s = Status::InDoubt(s.message() +
                          "; whether these saga log writes reached the disk is unknown until the "
                          "log is reopened, so the log refuses further writes");
      failed_ = Status::IOError(s.message());
    }
    twopc::internal::Log().error("twopc: saga log batch of {} failed: {}", batch.size(), s.ToString());
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!s.ok()) {
      batch[i].done.set_value(s);
    } else {
      batch[i].done.set_value(own[i].ok() ? Status::OK() : SagaLogError(own[i]));
    }
  }
}

Status SagaLogWriter::WriteJob(const SagaLogWrite& w) {
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

Status SagaLogWriter::Commit(bool* outcome_unknown) {
  int rc = sqlite3_exec(db_->handle(), "COMMIT", nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return Status::OK();
  // SQLITE_FULL and SQLITE_BUSY: nothing of the batch was written. Anything
  // else (a failed fsync above all) may come after the commit frame reached
  // the WAL, and the batch may resurface when the log is next opened.
  int primary = rc & 0xff;
  *outcome_unknown = primary != SQLITE_FULL && primary != SQLITE_BUSY;
  return db_->Error(rc, "COMMIT");
}

}  // namespace twopc::internal
