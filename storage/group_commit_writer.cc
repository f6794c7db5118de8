#include "storage/group_commit_writer.h"

#include "common/logging.h"

namespace twopc::internal {

Status FailStopConnection::Transact(bool force, size_t jobs, const std::function<Status()>& write) {
  if (!failed_.ok()) return failed_;
  Status s = SetSynchronous(force);
  if (s.ok()) s = db_->Exec("BEGIN IMMEDIATE");
  if (s.ok()) s = write();
  bool outcome_unknown = false;
  if (s.ok()) s = Commit(&outcome_unknown);
  if (s.ok()) return s;
  if (reword_) s = reword_(s);
  // Never leave the failed transaction open: a later COMMIT would make
  // durable records that were just reported as failed.
  db_->RollbackIfOpen();
  if (!outcome_unknown) {
    LogWith(LogLevel::kWarn, {.event = "batch_failed"}, "{} batch of {} failed: {}", what_, jobs,
            s.message());
    return s;
  }
  // InDoubt, not IOError: the records may reappear as durable when the log
  // is reopened, so a caller must neither take them as lost (the decision
  // log would presume abort) nor as written (acknowledge a commit, or let a
  // saga go on as if its progress were recorded).
  s = Status::InDoubt(s.message() + "; whether this batch of the " + what_ +
                      " reached the disk is unknown until the log is reopened, so the log "
                      "refuses further writes");
  // Later batches are certainly not written: IOError for them.
  failed_ = Status::IOError(s.message());
  LogWith(LogLevel::kError, {.event = "batch_outcome_unknown"}, "{}", s.message());
  return s;
}

Status FailStopConnection::Commit(bool* outcome_unknown) {
  int rc = sqlite3_exec(db_->handle(), "COMMIT", nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return Status::OK();
  // SQLITE_FULL: a WAL frame could not be written, so neither was the commit
  // frame after it, and recovery ignores a WAL tail without one: nothing of
  // the batch is on disk. SQLITE_BUSY: nothing was written. Any other failure
  // (a failed fsync above all) may come after the commit frame was written,
  // and the batch may resurface when the log is next opened.
  int primary = rc & 0xff;
  *outcome_unknown = primary != SQLITE_FULL && primary != SQLITE_BUSY;
  return db_->Error(rc, "COMMIT");
}

// A batch that need not be forced (the decision log's END records alone) is
// written with synchronous=NORMAL: in WAL mode its COMMIT then skips the
// fsync, and a crash can lose it but never tear it. The next forced COMMIT
// syncs the WAL up to and including it.
Status FailStopConnection::SetSynchronous(bool full) {
  if (full == synchronous_full_) return Status::OK();
  Status s = db_->Exec(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  if (s.ok()) synchronous_full_ = full;
  return s;
}

}  // namespace twopc::internal
