// Tests of storage/log_file.h: the lock that makes one process a log's only
// writer, and the probe every tool uses to ask whether a live one holds it.
#include "storage/log_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace twopc::internal {
namespace {

class LogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "twopc-lf-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/decisions.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::string path_;
};

TEST_F(LogFileTest, ProbeSeesTheHolderAndNothingOnceItIsGone) {
  {
    auto lock = LogFileLock::Acquire(path_, "decision log", "coordinator");
    ASSERT_TRUE(lock.ok()) << lock.status().ToString();
    EXPECT_TRUE(LogLockHeld(path_));
  }
  EXPECT_FALSE(LogLockHeld(path_));
}

TEST_F(LogFileTest, ProbeOfALogNeverLockedCreatesNothing) {
  EXPECT_FALSE(LogLockHeld(path_));
  EXPECT_FALSE(std::filesystem::exists(path_ + ".lock"));
}

// Two tools probing at once (`twopc status` and the full-disk fallback of a
// read-only view) must not take each other for a running coordinator.
TEST_F(LogFileTest, AnotherProbeIsNotAHolder) {
  { auto lock = LogFileLock::Acquire(path_, "decision log", "coordinator"); }
  int probe = open((path_ + ".lock").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(probe, 0);
  ASSERT_EQ(flock(probe, LOCK_SH | LOCK_NB), 0);  // a probe caught mid-way
  EXPECT_FALSE(LogLockHeld(path_));
  close(probe);
}

}  // namespace
}  // namespace twopc::internal
