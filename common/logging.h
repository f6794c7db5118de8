// The logger every part of libtwopc writes to (twopc/logging.h says where it
// goes). Internal.
//
// A message with structured fields goes through LogWith:
//
//   internal::LogWith(LogLevel::kWarn,
//                     {.event = "participant_unreachable", .participant = name},
//                     "twopc: participant {} is not reachable ({})", name, why);
//
// and one without any through Log() as before (Log().warn(...)).
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "twopc/logging.h"
#include "twopc/options.h"

namespace twopc::internal {

// The "twopc" logger. It is not registered with spdlog, so the application's
// spdlog::set_level, set_default_logger or a logger of its own named "twopc"
// neither change it nor clash with it.
spdlog::logger& Log();

spdlog::level::level_enum ToSpdlog(LogLevel level);

// The fields of the message being logged on this thread, or null. The sink
// reads them: the logger is synchronous, so the sink runs on the thread
// that logs, inside LogWith's scope. Passing them through spdlog's log_msg
// instead would mean a custom formatter for every sink.
const LogFields* CurrentLogFields();

class ScopedLogFields {
 public:
  explicit ScopedLogFields(const LogFields* fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

 private:
  const LogFields* previous_;
};

// Logs the formatted message with `fields` attached. Filtered by level
// before anything is formatted, like Log().warn(...).
template <typename... Args>
void LogWith(LogLevel level, const LogFields& fields, spdlog::format_string_t<Args...> format,
             Args&&... args) {
  spdlog::level::level_enum spd = ToSpdlog(level);
  // spdlog's `off` compares above every level, so should_log would let it
  // through.
  if (level == LogLevel::kOff || !Log().should_log(spd)) return;
  ScopedLogFields scope(&fields);
  Log().log(spd, format, std::forward<Args>(args)...);
}

// One line of the JSON format, without the newline: {"ts":...,"level":...,
// "logger":"twopc","msg":...} and the non-empty fields. Never throws:
// invalid UTF-8 is replaced, control characters escaped.
std::string FormatJsonLine(std::chrono::system_clock::time_point time, LogLevel level,
                           std::string_view message, const LogFields& fields);

// Sets the format and the level that `options` has; leaves the others alone.
void ApplyLoggingOptions(const LoggingOptions& options);

}  // namespace twopc::internal
