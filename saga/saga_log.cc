#include "saga/saga_log.h"

#include <chrono>

#include "saga/parked_saga.h"

namespace twopc::internal {
namespace {

// A read-only connection: resume and Unfinished() read a WAL snapshot and
// never wait for the writer's group commit.
Result<std::unique_ptr<SqliteDb>> OpenReader(const std::string& path, const char* vfs = nullptr) {
  auto db = SqliteDb::Open(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, vfs);
  if (!db.ok()) return SagaLogError(db.status());
  if (Status s = CheckSagaLogFormat(db->get()); !s.ok()) return s;
  return db;
}

}  // namespace

int64_t SagaNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<SagaLog>> SagaLog::Open(const std::string& path, const char* vfs) {
  // The lock comes first: a second orchestrator must not even run WAL
  // recovery on a log that a live one is writing.
  auto lock = LogFileLock::Acquire(path, "saga log", "saga orchestrator");
  if (!lock.ok()) return lock.TakeStatus();
  if (Status s = CreateLogFileIfMissing(path, "saga log"); !s.ok()) return s;
  auto db = SqliteDb::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs);
  if (!db.ok()) return SagaLogError(db.status());
  if (Status s = InitializeSagaLog(db->get()); !s.ok()) return s;
  auto reader = OpenReader(path, vfs);
  if (!reader.ok()) return reader.TakeStatus();
  auto writer = SagaLogWriter::Start(std::move(db).value());
  if (!writer.ok()) return writer.TakeStatus();
  return std::unique_ptr<SagaLog>(new SagaLog(
      path, std::move(lock).value(), std::move(writer).value(), std::move(reader).value()));
}

SagaLog::SagaLog(std::string path, LogFileLock lock, std::unique_ptr<SagaLogWriter> writer,
                 std::unique_ptr<SqliteDb> reader)
    : path_(std::move(path)),
      lock_(std::move(lock)),
      writer_(std::move(writer)),
      reader_(std::move(reader)) {}

Status SagaLog::Insert(const SagaRecord& record, const std::string& definition) {
  SagaLogWrite w;
  w.kind = SagaLogWrite::Kind::kInsert;
  w.record = record;
  w.definition = definition;
  return writer_->Write(std::move(w));
}

Status SagaLog::Update(const std::string& saga_id, SagaState state, int next_step,
                       const std::string& last_error) {
  SagaLogWrite w;
  w.kind = SagaLogWrite::Kind::kUpdate;
  w.record.saga_id = saga_id;
  w.record.state = state;
  w.record.next_step = next_step;
  w.record.last_error = last_error;
  w.record.updated_at_ms = SagaNowMs();
  return writer_->Write(std::move(w));
}

Result<std::vector<SagaRecord>> SagaLog::Unfinished() {
  MutexLock lock(reader_mu_);
  return ReadUnfinishedRecords(reader_.get());
}

Result<std::optional<StoredSaga>> SagaLog::Load(const std::string& saga_id) {
  MutexLock lock(reader_mu_);
  return ReadStoredSaga(reader_.get(), saga_id);
}

}  // namespace twopc::internal

namespace twopc {

Result<std::vector<SagaRecord>> ReadUnfinishedSagas(const std::string& log_path) {
  // No lock and no writes: this runs beside a live orchestrator.
  if (Status s = internal::CheckLogExists(log_path, "saga log"); !s.ok()) return s;
  auto db = internal::OpenReader(log_path);
  if (!db.ok()) return db.TakeStatus();
  return internal::ReadUnfinishedRecords(db->get());
}

Result<SagaRecord> HandBackParkedSaga(const std::string& log_path, const std::string& saga_id) {
  // Opening for writing would create a missing file: say it is missing.
  if (Status s = internal::CheckLogExists(log_path, "saga log"); !s.ok()) return s;
  // The log's lock: Busy while an orchestrator holds it, and no orchestrator
  // can start (and resume the saga) while the hand-back is being written.
  auto log = internal::SagaLog::Open(log_path);
  if (!log.ok()) return log.TakeStatus();
  auto row = internal::HandBackParked(**log, saga_id);
  if (!row.ok()) return row.TakeStatus();
  return row->record;
}

}  // namespace twopc
