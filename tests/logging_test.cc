// twopc's own log: a library must not write to the application's stdout nor
// through the application's spdlog default logger.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <vector>

#include "common/logging.h"
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
    SetLogRecordSink(nullptr);
    SetLogFormat(LogFormat::kText);
    SetLogLevel(LogLevel::kWarn);
    std::system(("rm -rf " + dir_).c_str());
  }

  // Opening a coordinator whose only participant is unreachable succeeds
  // with a warning ("participant ... is not reachable at start").
  void OpenWithUnreachableParticipant(const std::string& password = "hunter2") {
    RefusingPort refusing;
    CoordinatorOptions o;
    o.node_id = "log-test";
    o.log.path = dir_ + "/decisions.db";
    o.recovery.interval = 0ms;
    o.connect_timeout = 2000ms;
    o.participants.push_back({"nowhere", "host=127.0.0.1 port=" + std::to_string(refusing.port()) +
                                             " dbname=x user=x password=" + password});
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

// Every line of `text` parsed as JSON; a line that is not one JSON object
// fails the test.
std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(parsed.is_object()) << "not one JSON object: " << line;
    lines.push_back(std::move(parsed));
  }
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "last line unterminated: " << text;
  return lines;
}

TEST_F(LoggingTest, JsonFormatWritesOneObjectPerLineWithTheFields) {
  EXPECT_EQ(GetLogFormat(), LogFormat::kText);  // the default
  SetLogFormat(LogFormat::kJson);
  EXPECT_EQ(GetLogFormat(), LogFormat::kJson);
  auto [out, err] = CaptureOutput(dir_, [&] { OpenWithUnreachableParticipant(); });
  EXPECT_EQ(out, "");
  bool warned = false;
  for (const nlohmann::json& line : JsonLines(err)) {
    EXPECT_TRUE(std::regex_match(line.value("ts", ""),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line.dump();
    EXPECT_EQ(line.value("logger", ""), "twopc") << line.dump();
    if (line.value("event", "") == "participant_unreachable") {
      warned = true;
      EXPECT_EQ(line.value("level", ""), "warn") << line.dump();
      EXPECT_EQ(line.value("participant", ""), "nowhere") << line.dump();
      EXPECT_NE(line.value("msg", "").find("not reachable at start"), std::string::npos);
      // Fields the message does not have are left out, not written empty.
      EXPECT_FALSE(line.contains("gtrid")) << line.dump();
      EXPECT_FALSE(line.contains("duration_s")) << line.dump();
    }
  }
  EXPECT_TRUE(warned) << err;
}

TEST_F(LoggingTest, JsonLineStaysOneValidObjectWhateverTheMessageHolds) {
  SetLogFormat(LogFormat::kJson);
  auto [out, err] = CaptureOutput(dir_, [&] {
    internal::LogWith(LogLevel::kError,
                      {.event = "test_event", .gtrid = "g\"1\n", .sqlstate = "40001"},
                      "first line\nsecond \"quoted\" line, bad UTF-8 {} end", "\xff\xfe\xc3");
  });
  EXPECT_EQ(out, "");
  ASSERT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  std::vector<nlohmann::json> lines = JsonLines(err);
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json& line = lines[0];
  EXPECT_EQ(line.value("level", ""), "error");
  EXPECT_EQ(line.value("event", ""), "test_event");
  EXPECT_EQ(line.value("gtrid", ""), "g\"1\n");
  EXPECT_EQ(line.value("sqlstate", ""), "40001");
  std::string msg = line.value("msg", "");
  EXPECT_EQ(msg.rfind("first line\nsecond \"quoted\" line, bad UTF-8 ", 0), 0u) << msg;
  EXPECT_NE(msg.find("\xEF\xBF\xBD"), std::string::npos) << "invalid bytes become U+FFFD";
}

TEST_F(LoggingTest, FormatJsonLineOrdersKeysAndWritesUtcMillisAndDuration) {
  // 2026-12-01T04:05:06.123Z
  auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796097906123));
  std::string line = internal::FormatJsonLine(time, LogLevel::kWarn, "phase 2 retry",
                                              {.event = "phase2_retry",
                                               .gtrid = "tpc1.n.1.2",
                                               .gid = "tpc1.n.1.2.1",
                                               .participant = "orders",
                                               .sqlstate = "08006",
                                               .phase = "complete",
                                               .duration_seconds = 0.25});
  EXPECT_EQ(line, R"({"ts":"2026-12-01T04:05:06.123Z","level":"warn","logger":"twopc",)"
                  R"("msg":"phase 2 retry","event":"phase2_retry","gtrid":"tpc1.n.1.2",)"
                  R"("gid":"tpc1.n.1.2.1","participant":"orders","sqlstate":"08006",)"
                  R"("phase":"complete","duration_s":0.25})");
  EXPECT_EQ(internal::FormatJsonLine(time, LogLevel::kDebug, "m", {}),
            R"({"ts":"2026-12-01T04:05:06.123Z","level":"debug","logger":"twopc","msg":"m"})");
}

TEST_F(LoggingTest, TextFormatIsUnchangedByFields) {
  auto [out, err] = CaptureOutput(dir_, [&] {
    internal::LogWith(LogLevel::kWarn, {.event = "test_event", .gtrid = "g1"}, "hello {}", 42);
    internal::Log().warn("plain {}", 7);
  });
  EXPECT_EQ(out, "");
  EXPECT_TRUE(std::regex_match(
      err,
      std::regex(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[twopc\] \[warning\] hello 42\n)"
                 R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[twopc\] \[warning\] plain 7\n)")))
      << err;
}

// What a record sink received.
struct CapturedRecords {
  struct Record {
    LogLevel level;
    std::string message, event, participant, gtrid;
  };
  std::mutex mutex;
  std::vector<Record> records;
  LogRecordSink Sink() {
    return [this](LogLevel level, std::string_view message, const LogFields& fields) {
      std::lock_guard lock(mutex);
      records.push_back({level, std::string(message), std::string(fields.event),
                         std::string(fields.participant), std::string(fields.gtrid)});
    };
  }
};

TEST_F(LoggingTest, RecordSinkGetsTheFieldsAndWinsOverThePlainSink) {
  Captured plain;
  CapturedRecords structured;
  SetLogSink(plain.Sink());
  SetLogRecordSink(structured.Sink());
  SetLogFormat(LogFormat::kJson);  // for stderr only: the sinks format themselves
  auto [out, err] = CaptureOutput(dir_, [&] {
    OpenWithUnreachableParticipant();
    internal::Log().warn("no fields here");
  });
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "");
  {
    std::lock_guard lock(plain.mutex);
    EXPECT_TRUE(plain.messages.empty()) << plain.messages.front().second;
  }
  {
    std::lock_guard lock(structured.mutex);
    bool unreachable = false, plain_message = false;
    for (const auto& r : structured.records) {
      if (r.event == "participant_unreachable") {
        unreachable = true;
        EXPECT_EQ(r.level, LogLevel::kWarn);
        EXPECT_EQ(r.participant, "nowhere");
        EXPECT_NE(r.message.find("not reachable at start"), std::string::npos) << r.message;
      }
      if (r.message == "no fields here") {
        plain_message = true;
        EXPECT_EQ(r.event, "");  // no fields left over from an earlier message
        EXPECT_EQ(r.participant, "");
      }
    }
    EXPECT_TRUE(unreachable) << structured.records.size() << " records, none the warning";
    EXPECT_TRUE(plain_message);
  }
  // Cleared, the record sink hands the messages back to the plain sink.
  SetLogRecordSink(nullptr);
  internal::Log().warn("back to the plain sink");
  std::lock_guard lock(plain.mutex);
  ASSERT_EQ(plain.messages.size(), 1u);
  EXPECT_EQ(plain.messages[0].second, "back to the plain sink");
}

TEST_F(LoggingTest, LogWithDropsMessagesBelowTheLevelAndAtOff) {
  CapturedRecords structured;
  SetLogRecordSink(structured.Sink());
  internal::LogWith(LogLevel::kInfo, {.event = "below"}, "below the default level");
  internal::LogWith(LogLevel::kOff, {.event = "off"}, "off is not a level to log at");
  SetLogLevel(LogLevel::kOff);
  internal::LogWith(LogLevel::kError, {.event = "silenced"}, "everything is off");
  std::lock_guard lock(structured.mutex);
  EXPECT_TRUE(structured.records.empty()) << structured.records.front().message;
}

TEST_F(LoggingTest, ApplyLoggingOptionsSetsWhatIsPresentOnly) {
  internal::ApplyLoggingOptions({.format = LogFormat::kJson, .level = LogLevel::kInfo});
  EXPECT_EQ(GetLogFormat(), LogFormat::kJson);
  EXPECT_EQ(GetLogLevel(), LogLevel::kInfo);
  internal::ApplyLoggingOptions({});
  EXPECT_EQ(GetLogFormat(), LogFormat::kJson);
  EXPECT_EQ(GetLogLevel(), LogLevel::kInfo);
  internal::ApplyLoggingOptions({.level = LogLevel::kError});
  EXPECT_EQ(GetLogFormat(), LogFormat::kJson);
  EXPECT_EQ(GetLogLevel(), LogLevel::kError);
  internal::ApplyLoggingOptions({.format = LogFormat::kText});
  EXPECT_EQ(GetLogFormat(), LogFormat::kText);
  EXPECT_EQ(GetLogLevel(), LogLevel::kError);
}

// The conninfo's password reaches neither the text nor a field of any JSON
// line, at the level where recovery reports every action too.
TEST_F(LoggingTest, JsonLinesNeverCarryThePassword) {
  internal::ApplyLoggingOptions({.format = LogFormat::kJson, .level = LogLevel::kDebug});
  auto [out, err] = CaptureOutput(dir_, [&] { OpenWithUnreachableParticipant("s3cr3t"); });
  EXPECT_EQ(out, "");
  std::vector<nlohmann::json> lines = JsonLines(err);
  EXPECT_FALSE(lines.empty());
  for (const nlohmann::json& line : lines) {
    EXPECT_EQ(line.dump().find("s3cr3t"), std::string::npos) << line.dump();
  }
  EXPECT_EQ(err.find("s3cr3t"), std::string::npos) << err;
}

}  // namespace
}  // namespace twopc
