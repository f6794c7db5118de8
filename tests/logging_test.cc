// twopc's own log: a library must not write to the application's stdout nor
// through the application's spdlog default logger.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <vector>

#include "twopc/coordinator.h"
#include "twopc/logging.h"

namespace twopc {
namespace {

using namespace std::chrono_literals;

// A 127.0.0.1 port bound but not listening: connecting is refused at once,
// so a participant there is "unreachable at start" without any wait.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot bind a local port";
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/twopc-logging-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    // Back to the defaults for the next test.
    SetLogSink(nullptr);
    SetLogLevel(LogLevel::kWarn);
    std::system(("rm -rf " + dir_).c_str());
  }

  // Opening a coordinator whose only participant is unreachable succeeds
  // with a warning ("participant ... is not reachable at start").
  void OpenWithUnreachableParticipant() {
    RefusingPort refusing;
    CoordinatorOptions o;
    o.node_id = "log-test";
    o.log.path = dir_ + "/decisions.db";
    o.recovery.interval = 0ms;
    o.connect_timeout = 2000ms;
    o.participants.push_back({"nowhere", "host=127.0.0.1 port=" +
                                             std::to_string(refusing.port()) +
                                             " dbname=x user=x password=hunter2"});
    auto c = Coordinator::Open(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
  }

  std::string dir_;
};

// Runs `body` with file descriptors 1 and 2 redirected to files; returns
// what was written to each.
template <typename Body>
std::pair<std::string, std::string> CaptureOutput(const std::string& dir, Body body) {
  std::fflush(stdout);
  std::fflush(stderr);
  int saved_out = dup(1), saved_err = dup(2);
  std::string out_path = dir + "/stdout", err_path = dir + "/stderr";
  FILE* out = std::fopen(out_path.c_str(), "w");
  FILE* err = std::fopen(err_path.c_str(), "w");
  dup2(fileno(out), 1);
  dup2(fileno(err), 2);
  body();
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  close(saved_out);
  close(saved_err);
  std::fclose(out);
  std::fclose(err);
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  return {read(out_path), read(err_path)};
}

TEST_F(LoggingTest, ByDefaultWarningsGoToStderrAndNothingToStdout) {
  auto [out, err] = CaptureOutput(dir_, [&] { OpenWithUnreachableParticipant(); });
  EXPECT_EQ(out, "") << "the library wrote to the application's stdout";
  EXPECT_NE(err.find("nowhere"), std::string::npos) << err;
  EXPECT_NE(err.find("not reachable at start"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
}

// What a sink received, safe to fill from twopc's threads.
struct Captured {
  std::mutex mutex;
  std::vector<std::pair<LogLevel, std::string>> messages;
  LogSink Sink() {
    return [this](LogLevel level, std::string_view message) {
      std::lock_guard lock(mutex);
      messages.emplace_back(level, std::string(message));
    };
  }
};

TEST_F(LoggingTest, ApplicationSinkGetsTheWarningsAndItsDefaultLoggerNothing) {
  // The application's own spdlog set-up: a default logger at debug level.
  std::ostringstream app_log;
  auto app_logger = std::make_shared<spdlog::logger>(
      "app", std::make_shared<spdlog::sinks::ostream_sink_mt>(app_log));
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(app_logger);
  spdlog::set_level(spdlog::level::debug);

  Captured captured;
  SetLogSink(captured.Sink());
  auto [out, err] = CaptureOutput(dir_, [&] { OpenWithUnreachableParticipant(); });
  spdlog::set_default_logger(previous);

  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "") << "the sink replaces stderr";
  EXPECT_EQ(app_log.str(), "") << "twopc wrote through the application's default logger";
  std::lock_guard lock(captured.mutex);
  bool warned = false;
  for (const auto& [level, message] : captured.messages) {
    if (level == LogLevel::kWarn && message.find("nowhere") != std::string::npos &&
        message.find("not reachable at start") != std::string::npos) {
      warned = true;
    }
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_TRUE(warned) << captured.messages.size() << " messages, none the warning";
}

TEST_F(LoggingTest, LevelFiltersWhatTheSinkGets) {
  EXPECT_EQ(GetLogLevel(), LogLevel::kWarn);  // the default
  Captured captured;
  SetLogSink(captured.Sink());
  SetLogLevel(LogLevel::kError);
  EXPECT_EQ(GetLogLevel(), LogLevel::kError);
  OpenWithUnreachableParticipant();
  {
    std::lock_guard lock(captured.mutex);
    EXPECT_TRUE(captured.messages.empty()) << captured.messages.front().second;
  }
  // spdlog's global level is the application's, not twopc's.
  spdlog::set_level(spdlog::level::off);
  SetLogLevel(LogLevel::kInfo);
  OpenWithUnreachableParticipant();
  spdlog::set_level(spdlog::level::info);
  std::lock_guard lock(captured.mutex);
  EXPECT_FALSE(captured.messages.empty());
}

}  // namespace
}  // namespace twopc
