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

// The saga engines are optional parts of libtwopc (saga/sources.cmake,
// saga/outbox_sources.cmake); bench/CMakeLists.txt defines these macros when
// they are built.
bool ModeAvailable(Mode mode) {
  switch (mode) {
    case Mode::kSaga:
#ifdef TWOPC_BENCH_HAVE_SAGA
      return true;
#else
      return false;
#endif
    case Mode::kSagaOutbox:
#ifdef TWOPC_BENCH_HAVE_OUTBOX
      return true;
#else
      return false;
#endif
    default:
      return true;
  }
}

const char* WorkloadName(WorkloadKind kind) {
  return kind == WorkloadKind::kOrder ? "order" : "transfer";
}

}  // namespace twopc::bench
