#include "bench/flags.h"

namespace twopc::bench {
namespace {

struct ModeEntry {
  Mode mode;
  const char* name;
};

constexpr ModeEntry kModes[] = {
    {Mode::kLocal, "local"}, {Mode::kNone, "none"},
    {Mode::kTwoPc, "2pc"},   {Mode::kTwoPcEarlyAck, "2pc-early-ack"},
    {Mode::kSaga, "saga"},   {Mode::kSagaOutbox, "saga-outbox"},
    {Mode::kNull, "null"},
};

}  // namespace

const char* ModeName(Mode mode) {
  for (const auto& e : kModes) {
    if (e.mode == mode) return e.name;
  }
  return "?";
}

std::optional<Mode> ParseMode(std::string_view name) {
  for (const auto& e : kModes) {
    if (name == e.name) return e.mode;
  }
  return std::nullopt;
}

const char* LogStoreName(LogStore store) {
  return store == LogStore::kPostgres ? "postgres" : "sqlite";
}

std::optional<LogStore> ParseLogStore(std::string_view name) {
  if (name == "sqlite") return LogStore::kSqlite;
  if (name == "postgres") return LogStore::kPostgres;
  return std::nullopt;
}

const char* WorkloadName(WorkloadKind kind) {
  return kind == WorkloadKind::kOrder ? "order" : "transfer";
}

}  // namespace twopc::bench
