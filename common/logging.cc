#include "common/logging.h"

#include <spdlog/sinks/base_sink.h>
// The template's definitions: the compiled spdlog instantiates it only for
// std::mutex, which the thread-safety analysis cannot see.
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <memory>

#include "common/thread_annotations.h"
#include "twopc/logging.h"

namespace twopc {
namespace internal {
namespace {

thread_local const LogFields* current_fields = nullptr;

LogLevel FromSpdlog(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LogLevel::kDebug;
    case spdlog::level::info:
      return LogLevel::kInfo;
    case spdlog::level::warn:
      return LogLevel::kWarn;
    case spdlog::level::err:
    case spdlog::level::critical:
      return LogLevel::kError;
    case spdlog::level::off:
    case spdlog::level::n_levels:
      break;
  }
  return LogLevel::kOff;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      break;
  }
  return "off";
}

// "2026-12-01T04:05:06.123Z": UTC, so that lines from hosts in different
// time zones sort and join.
std::string Iso8601Utc(std::chrono::system_clock::time_point time) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  auto ms = duration_cast<milliseconds>(time.time_since_epoch()).count();
  auto seconds = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {  // before 1970: % keeps the dividend's sign
    millis += 1000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

// The logger's only sink: the application's record callback if it set one,
// else its plain callback, else stderr in the chosen format. base_sink calls
// sink_it_ and flush_ holding its mutex_, which also guards the callbacks and
// the format, so swapping them never races with a message being written.
class SwitchSink : public spdlog::sinks::base_sink<Mutex> {
 public:
  SwitchSink() {
    // stderr, not stdout: a library must not mix its lines into the
    // application's output (a CLI's listing, a JSON document).
    stderr_.set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
  }

  void SetCallback(LogSink sink) {
    MutexLock lock(mutex_);
    callback_ = std::move(sink);
  }
  void SetRecordCallback(LogRecordSink sink) {
    MutexLock lock(mutex_);
    record_callback_ = std::move(sink);
  }
  void SetFormat(LogFormat format) {
    MutexLock lock(mutex_);
    format_ = format;
  }
  LogFormat GetFormat() {
    MutexLock lock(mutex_);
    return format_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override TWOPC_REQUIRES(mutex_) {
    static constexpr LogFields kNoFields{};
    const LogFields* fields = CurrentLogFields();
    const LogFields& f = fields != nullptr ? *fields : kNoFields;
    std::string_view message(msg.payload.data(), msg.payload.size());
    if (record_callback_) {
      record_callback_(FromSpdlog(msg.level), message, f);
    } else if (callback_) {
      callback_(FromSpdlog(msg.level), message);
    } else if (format_ == LogFormat::kJson) {
      std::string line = FormatJsonLine(msg.time, FromSpdlog(msg.level), message, f);
      line += '\n';
      // One fwrite per line: lines of several threads, or of the
      // application's own writes to stderr, interleave whole.
      std::fwrite(line.data(), 1, line.size(), stderr);
      std::fflush(stderr);
    } else {
      stderr_.log(msg);
    }
  }
  void flush_() override TWOPC_REQUIRES(mutex_) {
    if (!callback_ && !record_callback_) {
      stderr_.flush();
      std::fflush(stderr);
    }
  }

 private:
  LogSink callback_ TWOPC_GUARDED_BY(mutex_);
  LogRecordSink record_callback_ TWOPC_GUARDED_BY(mutex_);
  LogFormat format_ TWOPC_GUARDED_BY(mutex_) = LogFormat::kText;
  spdlog::sinks::stderr_sink_st stderr_;
};

struct State {
  std::shared_ptr<SwitchSink> sink = std::make_shared<SwitchSink>();
  spdlog::logger logger{"twopc", sink};
  State() { logger.set_level(spdlog::level::warn); }
};

// Never destroyed: a coordinator destroyed by a static destructor, or a
// detached thread, may still log during exit.
State& TheState() {
  static State* state = new State;
  return *state;
}

}  // namespace

spdlog::logger& Log() { return TheState().logger; }

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      break;
  }
  return spdlog::level::off;
}

const LogFields* CurrentLogFields() { return current_fields; }

// Restores the previous pointer rather than null: a sink that (against the
// contract) logs again must not strip the outer message's fields.
ScopedLogFields::ScopedLogFields(const LogFields* fields) : previous_(current_fields) {
  current_fields = fields;
}

ScopedLogFields::~ScopedLogFields() { current_fields = previous_; }

std::string FormatJsonLine(std::chrono::system_clock::time_point time, LogLevel level,
                           std::string_view message, const LogFields& fields) {
  // ordered_json keeps the keys in this order: ts, level, msg first, as a
  // human scanning the raw lines expects.
  nlohmann::ordered_json line;
  line["ts"] = Iso8601Utc(time);
  line["level"] = LevelName(level);
  line["logger"] = "twopc";
  line["msg"] = std::string(message);
  auto add = [&line](const char* key, std::string_view value) {
    if (!value.empty()) line[key] = std::string(value);
  };
  add("event", fields.event);
  add("gtrid", fields.gtrid);
  add("gid", fields.gid);
  add("participant", fields.participant);
  add("sqlstate", fields.sqlstate);
  add("phase", fields.phase);
  if (fields.duration_seconds) line["duration_s"] = *fields.duration_seconds;
  // A message may quote a server's error text, which need not be UTF-8:
  // `replace` writes U+FFFD instead of throwing, and dump escapes newlines,
  // so the line stays one valid JSON object whatever the text.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void ApplyLoggingOptions(const LoggingOptions& options) {
  if (options.format) SetLogFormat(*options.format);
  if (options.level) SetLogLevel(*options.level);
}

}  // namespace internal

void SetLogSink(LogSink sink) { internal::TheState().sink->SetCallback(std::move(sink)); }

void SetLogRecordSink(LogRecordSink sink) {
  internal::TheState().sink->SetRecordCallback(std::move(sink));
}

void SetLogFormat(LogFormat format) { internal::TheState().sink->SetFormat(format); }

LogFormat GetLogFormat() { return internal::TheState().sink->GetFormat(); }

void SetLogLevel(LogLevel level) { internal::TheState().logger.set_level(internal::ToSpdlog(level)); }

LogLevel GetLogLevel() { return internal::FromSpdlog(internal::TheState().logger.level()); }

}  // namespace twopc
