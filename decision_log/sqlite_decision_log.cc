// The embedded SQLite decision log: the lock that makes its owner the only
// coordinator writing it, the read connection, and the two DecisionLog
// implementations (read-write, read-only). The writes go through
// DecisionWriter.
#include "decision_log/sqlite_decision_log.h"

#include <fmt/format.h>
#include "common/logging.h"
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "common/thread_annotations.h"
#include "decision_log/decision_writer.h"
#include "storage/log_file.h"
#include "storage/sqlite_db.h"
#include "decision_log/sqlite_decision_table.h"

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
  // On a full disk, a read-only view (not the coordinator's own reader)
  // falls back to reading the database file as immutable; see OpenOnFullDisk.
  enum class OnFullDisk { kFail, kReadImmutable, kReadImmutableIfUnlocked };

  static Result<std::unique_ptr<LogReader>> Open(const std::string& path, const char* vfs,
                                                 OnFullDisk on_full = OnFullDisk::kFail) {
    auto reader = OpenWith(path, vfs, /*uri=*/"");
    if (reader.ok() || on_full == OnFullDisk::kFail || !IsDiskFull(reader.status())) {
      return reader;
    }
    return OpenOnFullDisk(path, vfs, on_full, reader.status());
  }

  // The incarnation stored when the reader was opened.
  uint64_t incarnation() const { return incarnation_; }

  Result<std::optional<DecisionRecord>> Lookup(const std::string& gtrid) {
    internal::MutexLock lock(mu_);
    return reads_->Lookup(gtrid);
  }
  Result<std::vector<DecisionRecord>> Unended() {
    internal::MutexLock lock(mu_);
    return reads_->Unended();
  }
  Result<std::vector<DecisionRecord>> All() {
    internal::MutexLock lock(mu_);
    return reads_->All();
  }
  Result<std::vector<HeuristicRecord>> Heuristics() {
    internal::MutexLock lock(mu_);
    return ReadHeuristics(db_.get());
  }
  // On the read connection: a WAL snapshot, so it checks a consistent state
  // without blocking a live coordinator's writes.
  Result<std::vector<std::string>> Verify() {
    internal::MutexLock lock(mu_);
    return VerifyLog(db_.get());
  }

 private:
  explicit LogReader(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}

  // `uri` empty: the plain file, through the WAL as usual.
  static Result<std::unique_ptr<LogReader>> OpenWith(const std::string& path, const char* vfs,
                                                     const std::string& uri) {
    auto db = SqliteDb::Open(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, vfs, uri);
    if (!db.ok()) return db.TakeStatus();
    std::unique_ptr<LogReader> reader(new LogReader(std::move(db).value()));
    internal::MutexLock lock(reader->mu_);  // not shared yet; the analysis wants it all the same
    auto incarnation = ReadIncarnation(reader->db_.get());
    if (!incarnation.ok()) return incarnation.TakeStatus();
    reader->incarnation_ = *incarnation;
    auto reads = DecisionReads::Prepare(reader->db_.get());
    if (!reads.ok()) return reads.TakeStatus();
    reader->reads_ = std::move(reads).value();
    return reader;
  }

  // A WAL reader needs the -shm file to grow, which a full disk refuses
  // ("disk I/O error"): every view of the log, even `twopc status`, would
  // fail exactly when the operator needs it. When the WAL is empty, every
  // committed record is in the database file itself, so reading that file
  // as immutable (no -shm, no lock, nothing written) sees the same records.
  // Immutable means "nobody writes it meanwhile": that holds when no
  // coordinator holds the log's lock (probed, or held by the caller) -- and
  // on a full disk a starting coordinator fails to bump its incarnation
  // anyway. With records still in the WAL there is no safe way to read them
  // without the -shm: fail, saying so.
  static Result<std::unique_ptr<LogReader>> OpenOnFullDisk(const std::string& path, const char* vfs,
                                                           OnFullDisk on_full, const Status& full) {
    struct stat wal;
    bool wal_empty = stat((path + "-wal").c_str(), &wal) != 0 || wal.st_size == 0;
    if (!wal_empty) {
      return Status::IOError(
          full.message() +
          "; its WAL holds records that cannot be read without space for the -shm file: free "
          "some space on that file system");
    }
    if (on_full == OnFullDisk::kReadImmutableIfUnlocked && LogLockHeld(path)) {
      return Status::IOError(full.message() +
                             "; a running coordinator holds the log, so its database file "
                             "cannot be read on its own: free some space on that file system");
    }
    twopc::internal::LogWith(
        LogLevel::kWarn, {.event = "decision_log_disk_full"},
        "decision log {}: disk full; reading the database file directly (its WAL is "
        "empty)",
        path);
    return OpenWith(path, vfs, ImmutableUri(path));
  }

  // "file:<path>?immutable=1", with the characters a URI gives a meaning
  // to percent-encoded.
  static std::string ImmutableUri(const std::string& path) {
    std::string uri = "file:";
    for (unsigned char c : path) {
      if (c == '%' || c == '?' || c == '#' || c < 0x21 || c >= 0x7f) {
        uri += fmt::format("%{:02X}", c);
      } else {
        uri += static_cast<char>(c);
      }
    }
    return uri + "?immutable=1";
  }

  internal::Mutex mu_;
  std::unique_ptr<SqliteDb> db_ TWOPC_GUARDED_BY(mu_);
  std::unique_ptr<DecisionReads> reads_ TWOPC_GUARDED_BY(mu_);
  uint64_t incarnation_ = 0;
};

class SqliteDecisionLog final : public DecisionLog {
 public:
  SqliteDecisionLog(LogFileLock lock, uint64_t incarnation, std::unique_ptr<DecisionWriter> writer,
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
  Result<uint64_t> ForgetHeuristic(const std::string& key) override {
    return writer_->ForgetHeuristic(key, NowMs());
  }
  Result<std::vector<std::string>> Verify() override { return reader_->Verify(); }

  // On the writer thread, so the DELETE never races a batch's transaction.
  // This process holds the log's lock, so it is the only incarnation that
  // may still be running: only its own fences must stay.
  Result<uint64_t> Compact() override { return writer_->Compact(incarnation_); }
  Status Flush() override { return writer_->Flush(); }
  LogStats stats() const override { return writer_->stats(); }
  void SetFlushObserver(const FlushObserver& observer) override { writer_->SetFlushObserver(observer); }

 private:
  LogFileLock lock_;
  uint64_t incarnation_;
  std::unique_ptr<DecisionWriter> writer_;
  std::unique_ptr<LogReader> reader_;
};

// For operator tools while a coordinator may be running: no incarnation
// bump, no writes. Normally no lock either; `recover --dry-run` holds it
// (`lock`) so that what it reports is what a real pass would do.
class ReadOnlySqliteDecisionLog final : public DecisionLog {
 public:
  ReadOnlySqliteDecisionLog(std::unique_ptr<LogReader> reader, std::optional<LogFileLock> lock)
      : lock_(std::move(lock)), reader_(std::move(reader)) {}

  uint64_t incarnation() const override { return reader_->incarnation(); }

  // There is no writer thread: `done` runs on the caller's thread, at once.
  void DecideAsync(DecisionRecord record, std::function<void(Status)> done) override {
    if (done) done(ReadOnlyError());
  }
  void End(const std::string& gtrid) override {
    twopc::internal::LogWith(LogLevel::kWarn,
                             {.event = "end_not_written", .gtrid = gtrid, .phase = "complete"},
                             "END of gtrid '{}' not written: {}", gtrid, ReadOnlyError().message());
  }
  Result<std::optional<DecisionRecord>> Lookup(const std::string& gtrid) override {
    return reader_->Lookup(gtrid);
  }
  Result<std::vector<DecisionRecord>> Unended() override { return reader_->Unended(); }
  Result<std::vector<DecisionRecord>> All() override { return reader_->All(); }
  Result<uint64_t> Compact() override { return ReadOnlyError(); }
  Status RecordHeuristic(const HeuristicRecord& record) override { return ReadOnlyError(); }
  Result<std::vector<HeuristicRecord>> Heuristics() override { return reader_->Heuristics(); }
  Result<uint64_t> ForgetHeuristic(const std::string& key) override { return ReadOnlyError(); }
  Result<std::vector<std::string>> Verify() override { return reader_->Verify(); }
  Status Flush() override { return Status::OK(); }  // nothing is ever queued
  LogStats stats() const override { return LogStats{}; }

 private:
  static Status ReadOnlyError() { return Status::InvalidArgument("decision log opened read-only"); }

  std::optional<LogFileLock> lock_;  // released last: after the reader closed
  std::unique_ptr<LogReader> reader_;
};

}  // namespace

Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLogWithVfs(const LogOptions& options,
                                                                  const char* vfs) {
  // Before the lock, which creates "<path>.lock": a tool pointed at a wrong
  // path must leave nothing behind there.
  if (!options.create_if_missing) {
    if (Status s = CheckLogExists(options.path, "decision log"); !s.ok()) return s;
  }
  // The lock comes first: a second coordinator must not even run WAL
  // recovery or bump the incarnation of a log that a live one is writing.
  auto lock = LogFileLock::Acquire(options.path, "decision log", "coordinator");
  if (!lock.ok()) return lock.TakeStatus();
  if (options.create_if_missing) {
    if (Status s = CreateLogFileIfMissing(options.path, "decision log"); !s.ok()) return s;
  }
  // Without SQLITE_OPEN_CREATE: a file deleted since the check above is
  // an error, not a new log.
  auto db = SqliteDb::Open(options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs);
  if (!db.ok()) return db.TakeStatus();
  auto incarnation = InitializeLog(db->get(), options.create_if_missing);
  if (!incarnation.ok()) return incarnation.TakeStatus();
  auto reader = LogReader::Open(options.path, vfs);
  if (!reader.ok()) return reader.TakeStatus();
  auto writer = DecisionWriter::Start(std::move(db).value(), options);
  if (!writer.ok()) return writer.TakeStatus();
  return std::unique_ptr<DecisionLog>(new SqliteDecisionLog(
      std::move(lock).value(), *incarnation, std::move(writer).value(), std::move(reader).value()));
}

Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLogReadOnly(const std::string& path,
                                                                   bool lock, const char* vfs) {
  if (Status s = CheckLogExists(path, "decision log"); !s.ok()) return s;
  std::optional<LogFileLock> held;
  if (lock) {
    auto acquired = LogFileLock::Acquire(path, "decision log", "coordinator");
    if (!acquired.ok()) return acquired.TakeStatus();
    held.emplace(std::move(acquired).value());
  }
  auto reader = LogReader::Open(path, vfs,
                                lock ? LogReader::OnFullDisk::kReadImmutable
                                     : LogReader::OnFullDisk::kReadImmutableIfUnlocked);
  if (!reader.ok()) return reader.TakeStatus();
  return std::unique_ptr<DecisionLog>(
      new ReadOnlySqliteDecisionLog(std::move(reader).value(), std::move(held)));
}

}  // namespace twopc::internal

namespace twopc {

Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLog(const LogOptions& options) {
  return internal::OpenSqliteDecisionLogWithVfs(options, nullptr);
}

Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLogReadOnly(const std::string& path) {
  return internal::OpenSqliteDecisionLogReadOnly(path, /*lock=*/false, nullptr);
}

}  // namespace twopc
