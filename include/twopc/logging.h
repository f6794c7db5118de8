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
// Thread-safety: every function here may be called from any thread at any
// time. The sink is called from twopc's own threads (I/O threads, the
// recovery thread) and from the threads calling into twopc, one call at a
// time (calls are serialized); it must not block for long and must not call
// SetLogSink itself.
#pragma once

#include <functional>
#include <string_view>

namespace twopc {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

// How the default stderr output writes a message: kText, one human line
// ("[time] [twopc] [warn] message"); kJson, one JSON object per line with
// the message's structured fields (gtrid, gid, participant, sqlstate, phase,
// duration). docs/operations.md, "Logs".
enum class LogFormat { kText, kJson };

using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// Sends every message at or above the log level to `sink` instead of stderr.
// An empty `sink` restores the default: stderr.
void SetLogSink(LogSink sink);

// Messages below `level` are dropped before they are formatted. Default
// kWarn; kOff silences twopc altogether. Independent of spdlog's global level.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

}  // namespace twopc
