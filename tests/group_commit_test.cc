// Tests of the one group-commit writer (storage/group_commit_writer.h) and of
// its fail-stop rule, once on its own and once through each log that uses it
// (the decision log and the saga log), with faults injected by
// tests/support/fault_vfs.h.
#include "storage/group_commit_writer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/wait.h"
#include "decision_log/sqlite_decision_log.h"
#include "saga/saga_log.h"
#include "tests/support/fault_vfs.h"

namespace twopc {
namespace {

using testing::g_fault;
using testing::kFaultVfs;
using testing::RegisterFaultVfs;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "twopc-gc-XXXXXX").string();
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// --- The writer on its own ---------------------------------------------------

struct KeyJob {
  int key;
  std::function<void(Status)> done;
};

// Inserts each job's key into t(k); counts the batches it was asked to write.
class KeyBatches final : public internal::BatchWrites<KeyJob> {
 public:
  KeyBatches(internal::SqliteDb* db, int* batches) : db_(db), batches_(batches) {}
  Status Write(std::vector<KeyJob>& batch) override {
    ++*batches_;
    for (const KeyJob& job : batch) {
      std::string sql = "INSERT INTO t(k) VALUES (" + std::to_string(job.key) + ")";
      if (Status s = db_->Exec(sql.c_str()); !s.ok()) return s;
    }
    return Status::OK();
  }
  void Answer(std::vector<KeyJob>& batch, const Status& batch_status) override {
    for (KeyJob& job : batch) job.done(batch_status);
  }

 private:
  internal::SqliteDb* db_;
  int* batches_;  // written on the writer thread, read once it is stopped
};

class GroupCommitWriterTest : public ::testing::Test {
 protected:
  void SetUp() override { RegisterFaultVfs(); }

  // A writer over a fresh (or the existing) table t, through `vfs`.
  std::unique_ptr<internal::GroupCommitWriter<KeyJob>> Start(
      const char* vfs, std::chrono::microseconds window = std::chrono::microseconds(0)) {
    auto db = internal::SqliteDb::Open(dir_.path() + "/t.db",
                                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) return nullptr;
    Status s = (*db)->Exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
        " CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY)");
    EXPECT_TRUE(s.ok()) << s.ToString();
    internal::GroupCommitOptions options;
    options.window = window;
    options.what = "test log";
    auto batches = std::make_unique<KeyBatches>(db->get(), &batches_);
    return std::make_unique<internal::GroupCommitWriter<KeyJob>>(std::move(db).value(),
                                                                 std::move(batches), options);
  }

  static Status Write(internal::GroupCommitWriter<KeyJob>& writer, int key) {
    return internal::AwaitCallback<Status>([&](auto done) {
      writer.Enqueue(KeyJob{key, std::move(done)});
    });
  }

  TempDir dir_;
  int batches_ = 0;
};

TEST_F(GroupCommitWriterTest, JobsQueuedTogetherShareOneTransaction) {
  auto writer = Start(kFaultVfs, std::chrono::milliseconds(200));
  ASSERT_NE(writer, nullptr);
  std::vector<internal::Answer<Status>> answers(10);
  for (int i = 0; i < 10; ++i) writer->Enqueue(KeyJob{i, answers[i].Callback()});
  for (auto& a : answers) EXPECT_TRUE(a.Wait().ok());
  writer.reset();
  EXPECT_EQ(batches_, 1);
}

TEST_F(GroupCommitWriterTest, DestructorAnswersEveryQueuedJob) {
  auto writer = Start(kFaultVfs, std::chrono::seconds(10));
  ASSERT_NE(writer, nullptr);
  std::vector<internal::Answer<Status>> answers(5);
  for (int i = 0; i < 5; ++i) writer->Enqueue(KeyJob{i, answers[i].Callback()});
  writer.reset();  // does not wait out the window
  for (auto& a : answers) EXPECT_TRUE(a.Wait().ok());
}

TEST_F(GroupCommitWriterTest, FailedCommitRefusesEveryLaterBatchWithoutTouchingTheFile) {
  auto writer = Start(kFaultVfs);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(Write(*writer, 1).ok());
  g_fault.fail_wal_syncs = true;
  Status unknown = Write(*writer, 2);
  g_fault.fail_wal_syncs = false;
  EXPECT_TRUE(unknown.IsInDoubt()) << unknown.ToString();
  int batches_before = batches_;
  Status after = Write(*writer, 3);
  EXPECT_TRUE(after.IsIOError()) << after.ToString();
  EXPECT_NE(after.message().find("reopened"), std::string::npos) << after.ToString();
  EXPECT_EQ(batches_, batches_before) << "a refused batch was written anyway";

  writer.reset();
  writer = Start(nullptr);  // reopened: the state of the file is known again
  ASSERT_NE(writer, nullptr);
  EXPECT_TRUE(Write(*writer, 3).ok());
}

TEST_F(GroupCommitWriterTest, DiskFullFailsOnlyItsOwnBatch) {
  auto writer = Start(kFaultVfs);
  ASSERT_NE(writer, nullptr);
  g_fault.fail_wal_writes = true;
  Status lost = Write(*writer, 1);
  g_fault.fail_wal_writes = false;
  // Nothing of a batch whose WAL frames could not be written is on disk:
  // known lost, so the writer goes on.
  EXPECT_TRUE(lost.IsIOError()) << lost.ToString();
  EXPECT_TRUE(Write(*writer, 1).ok());
}

// --- The rule through each log that uses the writer ---------------------------

class DecisionLogUser {
 public:
  Status Open(const std::string& dir, const char* vfs) {
    LogOptions options;
    options.path = dir + "/decisions.db";
    auto log = internal::OpenSqliteDecisionLogWithVfs(options, vfs);
    if (!log.ok()) return log.TakeStatus();
    log_ = std::move(log).value();
    return Status::OK();
  }
  Status Write(const std::string& key) {
    DecisionRecord r;
    r.gtrid = key;
    r.decision = Decision::kCommit;
    r.branches = {{"orders", key + "-b1"}};
    return log_->Decide(r);
  }
  void Close() { log_.reset(); }

 private:
  std::unique_ptr<DecisionLog> log_;
};

class SagaLogUser {
 public:
  Status Open(const std::string& dir, const char* vfs) {
    auto log = internal::SagaLog::Open(dir + "/sagas.db", vfs);
    if (!log.ok()) return log.TakeStatus();
    log_ = std::move(log).value();
    return Status::OK();
  }
  Status Write(const std::string& key) {
    SagaRecord r;
    r.saga_id = key;
    r.name = "transfer";
    r.steps = 1;
    r.started_at_ms = r.updated_at_ms = internal::SagaNowMs();
    return log_->Insert(r, "{}");
  }
  void Close() { log_.reset(); }

 private:
  std::unique_ptr<internal::SagaLog> log_;
};

template <class User>
class LogFailStopTest : public ::testing::Test {
 protected:
  void SetUp() override { RegisterFaultVfs(); }
  TempDir dir_;
  User log_;
};

using LogUsers = ::testing::Types<DecisionLogUser, SagaLogUser>;
TYPED_TEST_SUITE(LogFailStopTest, LogUsers);

TYPED_TEST(LogFailStopTest, FailedCommitStopsEveryLaterWriteUntilReopened) {
  ASSERT_TRUE(this->log_.Open(this->dir_.path(), kFaultVfs).ok());
  ASSERT_TRUE(this->log_.Write("before").ok());
  g_fault.fail_wal_syncs = true;
  Status unknown = this->log_.Write("unknown");
  g_fault.fail_wal_syncs = false;
  // The failed batch may or may not be durable: neither lost nor written.
  EXPECT_TRUE(unknown.IsInDoubt()) << unknown.ToString();
  // Whether "unknown" reached the disk is not known until the log is
  // reopened, so nothing more may be recorded on top of it.
  Status after = this->log_.Write("after");
  EXPECT_TRUE(after.IsIOError()) << after.ToString();

  this->log_.Close();
  ASSERT_TRUE(this->log_.Open(this->dir_.path(), nullptr).ok());
  EXPECT_TRUE(this->log_.Write("after").ok());
}

TYPED_TEST(LogFailStopTest, DiskFullFailsThatWriteOnly) {
  ASSERT_TRUE(this->log_.Open(this->dir_.path(), kFaultVfs).ok());
  g_fault.fail_wal_writes = true;
  Status lost = this->log_.Write("lost");
  g_fault.fail_wal_writes = false;
  EXPECT_TRUE(lost.IsIOError()) << lost.ToString();
  EXPECT_TRUE(this->log_.Write("kept").ok());
}

}  // namespace
}  // namespace twopc
