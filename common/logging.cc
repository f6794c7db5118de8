#include "common/logging.h"

#include <spdlog/sinks/base_sink.h>
// The template's definitions: the compiled spdlog instantiates it only for
// std::mutex, which the thread-safety analysis cannot see.
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <memory>

#include "common/thread_annotations.h"
#include "twopc/logging.h"

namespace twopc {
namespace internal {
namespace {

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

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
    case LogLevel::kOff: break;
  }
  return spdlog::level::off;
}

// The logger's only sink: the application's callback if it set one, stderr
// otherwise. base_sink calls sink_it_ and flush_ holding its mutex_, which
// also guards the callback, so swapping it never races with a message being
// written.
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

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override TWOPC_REQUIRES(mutex_) {
    if (callback_) {
      callback_(FromSpdlog(msg.level), std::string_view(msg.payload.data(), msg.payload.size()));
    } else {
      stderr_.log(msg);
    }
  }
  void flush_() override TWOPC_REQUIRES(mutex_) {
    if (!callback_) stderr_.flush();
  }

 private:
  LogSink callback_ TWOPC_GUARDED_BY(mutex_);
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

}  // namespace internal

void SetLogSink(LogSink sink) { internal::TheState().sink->SetCallback(std::move(sink)); }

void SetLogLevel(LogLevel level) { internal::TheState().logger.set_level(internal::ToSpdlog(level)); }

LogLevel GetLogLevel() { return internal::FromSpdlog(internal::TheState().logger.level()); }

}  // namespace twopc
