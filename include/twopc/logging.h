// Where twopc's own log goes.
//
// twopc logs through a logger of its own, never through the application's
// (spdlog's default logger, std::clog...), and never to stdout. By default
// warnings and errors go to stderr, one line each; info and debug are off.
// An application routes them into its own logging with SetLogSink:
//
//   twopc::SetLogSink([](twopc::LogLevel level, std::string_view message) {
//     my_log(ToMyLevel(level), "twopc: {}", message);
//   });
//   twopc::SetLogLevel(twopc::LogLevel::kInfo);  // recovery actions too
//
// The messages are one line each and never contain a password.
//
// An application with a structured logger takes the messages with their
// fields instead (SetLogRecordSink), and an operator reading stderr can ask
// for one JSON object per line (SetLogFormat, or [logging] format = "json"
// in the config file; docs/operations.md, "Logs").
//
// Thread-safety: every function here may be called from any thread at any
// time. The sink is called from twopc's own threads (I/O threads, the
// recovery thread) and from the threads calling into twopc, one call at a
// time (calls are serialized); it must not block for long and must not call
// SetLogSink itself.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

namespace twopc {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

// How the default stderr output writes a message: kText, one human line
// ("[time] [twopc] [warn] message"); kJson, one JSON object per line with
// the message's structured fields (gtrid, gid, participant, sqlstate, phase,
// duration). docs/operations.md, "Logs".
enum class LogFormat { kText, kJson };

using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// What a message is about, beside its text, so that a log pipeline can
// filter and join on it without parsing the text. Empty (or nullopt) means
// "not known to this message". The views are valid only during the call to
// the sink: copy what is kept. No field ever holds a conninfo or a password.
// (The empty initializers let call sites name only the fields they have,
// {.event = ..., .gtrid = ...}, without GCC's missing-initializer warning.)
struct LogFields {
  // What happened, a stable snake_case name such as "phase2_retry",
  // "participant_unreachable" or "recovery_action" (docs/operations.md lists
  // them). Messages without one are plain diagnostics.
  std::string_view event{};
  std::string_view gtrid{};        // the global transaction
  std::string_view gid{};          // one participant's branch of it
  std::string_view participant{};  // the participant's configured name
  std::string_view sqlstate{};     // the server's SQLSTATE, when it answered one
  // "prepare", "decide", "complete", "abort" or "recovery".
  std::string_view phase{};
  std::optional<double> duration_seconds{};
};

using LogRecordSink =
    std::function<void(LogLevel level, std::string_view message, const LogFields& fields)>;

// Sends every message at or above the log level to `sink` instead of stderr.
// An empty `sink` restores the default: stderr.
void SetLogSink(LogSink sink);

// Like SetLogSink, with the message's fields. A record sink, when set, wins:
// it gets every message and the LogSink none; an empty `sink` hands the
// messages back to the LogSink if one is set, else to stderr.
void SetLogRecordSink(LogRecordSink sink);

// The format of the default stderr output. Default kText. A sink set with
// SetLogSink or SetLogRecordSink formats messages itself; the format applies
// again once both are cleared.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();

// Messages below `level` are dropped before they are formatted. Default
// kWarn; kOff silences twopc altogether. Independent of spdlog's global level.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

}  // namespace twopc
