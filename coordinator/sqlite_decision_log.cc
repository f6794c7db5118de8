// The embedded SQLite decision log: the lock that makes its owner the only
// coordinator writing it, the read connection, and the two DecisionLog
// implementations (read-write, read-only). The writes go through
// GroupCommitWriter.
#include "coordinator/sqlite_decision_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include "coordinator/logging.h"
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>

#include "coordinator/group_commit_writer.h"
#include "coordinator/log_file.h"
#include "coordinator/sqlite_db.h"
#include "coordinator/sqlite_decision_table.h"

namespace twopc::internal {
namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The read connection: WAL readers do not block the writer, so Lookup and
// recovery's scans never wait for a group commit.
class LogReader {
 public:
  static Result<std::unique_ptr<LogReader>> Open(const std::string& path, const char* vfs) {
    auto db = SqliteDb::Open(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, vfs);
    if (!db.ok()) return db.TakeStatus();
    std::unique_ptr<LogReader> reader(new LogReader(std::move(db).value()));
    auto incarnation = ReadIncarnation(reader->db_.get());
    if (!incarnation.ok()) return incarnation.TakeStatus();
    reader->incarnation_ = *incarnation;
    auto reads = DecisionReads::Prepare(reader->db_.get());
    if (!reads.ok()) return reads.TakeStatus();
    reader->reads_ = std::move(reads).value();
    return reader;
  }

  // The incarnation stored when the reader was opened.
  uint64_t incarnation() const { return incarnation_; }

  Result<std::optional<DecisionRecord>> Lookup(const std::string& gtrid) {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_->Lookup(gtrid);
  }
  Result<std::vector<DecisionRecord>> Unended() {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_->Unended();
  }
  Result<std::vector<DecisionRecord>> All() {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_->All();
  }
  Result<std::vector<HeuristicRecord>> Heuristics() {
    std::lock_guard<std::mutex> lock(mu_);
    return ReadHeuristics(db_.get());
  }
  // On the read connection: a WAL snapshot, so it checks a consistent state
  // without blocking a live coordinator's writes.
  Result<std::vector<std::string>> Verify() {
    std::lock_guard<std::mutex> lock(mu_);
    return VerifyLog(db_.get());
  }

 private:
  explicit LogReader(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;          // guarded by mu_
  std::unique_ptr<DecisionReads> reads_;  // guarded by mu_
  uint64_t incarnation_ = 0;
};

class SqliteDecisionLog final : public DecisionLog {
 public:
  SqliteDecisionLog(LogFileLock lock, uint64_t incarnation, std::unique_ptr<GroupCommitWriter> writer,
                    std::unique_ptr<LogReader> reader)
      : lock_(std::move(lock)),
        incarnation_(incarnation),
        writer_(std::move(writer)),
        reader_(std::move(reader)) {}

  // Members go in reverse order: the reader closes first, so that the
  // writer's connection is the last one and checkpoints the WAL; the writer
  // drains its queue before closing; the lock goes last, once no connection
  // of this process touches the files any more.
  ~SqliteDecisionLog() override = default;

  uint64_t incarnation() const override { return incarnation_; }

  void DecideAsync(DecisionRecord record, std::function<void(Status)> done) override {
    record.incarnation = incarnation_;
    record.decided_at_ms = NowMs();
    record.ended_at_ms.reset();
    writer_->Decide(std::move(record), std::move(done));
  }

  void End(const std::string& gtrid) override { writer_->End(gtrid, NowMs()); }

  Result<std::optional<DecisionRecord>> Lookup(const std::string& gtrid) override {
    return reader_->Lookup(gtrid);
  }
  Result<std::vector<DecisionRecord>> Unended() override { return reader_->Unended(); }
  Result<std::vector<DecisionRecord>> All() override { return reader_->All(); }

  Status RecordHeuristic(const HeuristicRecord& record) override {
    HeuristicRecord stamped = record;
    stamped.at_ms = NowMs();
    return writer_->RecordHeuristic(std::move(stamped));
  }
  Result<std::vector<HeuristicRecord>> Heuristics() override { return reader_->Heuristics(); }
  Result<std::vector<std::string>> Verify() override { return reader_->Verify(); }

  // On the writer thread, so the DELETE never races a batch's transaction.
  Result<uint64_t> Compact() override { return writer_->Compact(); }
  Status Flush() override { return writer_->Flush(); }
  LogStats stats() const override { return writer_->stats(); }

 private:
  LogFileLock lock_;
  uint64_t incarnation_;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::unique_ptr<LogReader> reader_;
};

// For operator tools while a coordinator may be running: no lock, no
// incarnation bump, no writes.
class ReadOnlySqliteDecisionLog final : public DecisionLog {
 public:
  explicit ReadOnlySqliteDecisionLog(std::unique_ptr<LogReader> reader)
      : reader_(std::move(reader)) {}

  uint64_t incarnation() const override { return reader_->incarnation(); }

  // There is no writer thread: `done` runs on the caller's thread, at once.
  void DecideAsync(DecisionRecord record, std::function<void(Status)> done) override {
    if (done) done(ReadOnlyError());
  }
  void End(const std::string& gtrid) override {
    twopc::internal::Log().warn("END of gtrid '{}' not written: {}", gtrid, ReadOnlyError().message());
  }
  Result<std::optional<DecisionRecord>> Lookup(const std::string& gtrid) override {
    return reader_->Lookup(gtrid);
  }
  Result<std::vector<DecisionRecord>> Unended() override { return reader_->Unended(); }
  Result<std::vector<DecisionRecord>> All() override { return reader_->All(); }
  Result<uint64_t> Compact() override { return ReadOnlyError(); }
  Status RecordHeuristic(const HeuristicRecord& record) override { return ReadOnlyError(); }
  Result<std::vector<HeuristicRecord>> Heuristics() override { return reader_->Heuristics(); }
  Result<std::vector<std::string>> Verify() override { return reader_->Verify(); }
  Status Flush() override { return Status::OK(); }  // nothing is ever queued
  LogStats stats() const override { return LogStats{}; }

 private:
  static Status ReadOnlyError() { return Status::InvalidArgument("decision log opened read-only"); }

  std::unique_ptr<LogReader> reader_;
};

}  // namespace

Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLogWithVfs(const LogOptions& options,
                                                                  const char* vfs) {
  // The lock comes first: a second coordinator must not even run WAL
  // recovery or bump the incarnation of a log that a live one is writing.
  auto lock = LogFileLock::Acquire(options.path, "decision log", "coordinator");
  if (!lock.ok()) return lock.TakeStatus();
  Status s = CreateLogFileIfMissing(options.path, "decision log");
  if (!s.ok()) return s;
  auto db = SqliteDb::Open(options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs);
  if (!db.ok()) return db.TakeStatus();
  auto incarnation = InitializeLog(db->get());
  if (!incarnation.ok()) return incarnation.TakeStatus();
  auto reader = LogReader::Open(options.path, vfs);
  if (!reader.ok()) return reader.TakeStatus();
  auto writer = GroupCommitWriter::Start(std::move(db).value(), options);
  if (!writer.ok()) return writer.TakeStatus();
  return std::unique_ptr<DecisionLog>(new SqliteDecisionLog(
      std::move(lock).value(), *incarnation, std::move(writer).value(), std::move(reader).value()));
}

}  // namespace twopc::internal

namespace twopc {

Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLog(const LogOptions& options) {
  return internal::OpenSqliteDecisionLogWithVfs(options, nullptr);
}

Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLogReadOnly(const std::string& path) {
  if (Status s = internal::CheckLogExists(path, "decision log"); !s.ok()) return s;
  auto reader = internal::LogReader::Open(path, nullptr);
  if (!reader.ok()) return reader.TakeStatus();
  return std::unique_ptr<DecisionLog>(
      new internal::ReadOnlySqliteDecisionLog(std::move(reader).value()));
}

}  // namespace twopc
