// outbox_relay_child: a relay process for OutboxTest.ExactlyOnceWhenRelayIsKilled.
//
//   outbox_relay_child CONFIG LOG_PATH relay|drain
//
// It opens a coordinator from CONFIG (with its own decision log LOG_PATH and
// node id, so that it never touches the test process's log) and an OutboxBus
// on the participants orders, payments and inventory, and registers the
// handlers of a two-hop chain:
//
//   Step1 on payments: count the saga in payments.effects, emit Step2 to inventory
//   Step2 on inventory: count the saga in inventory.effects
//
// "Count" is an upsert that adds 1 to effects(saga_id, applied), so an effect
// applied twice shows as applied = 2.
//
//   relay  starts the relay threads, prints READY and runs until killed.
//   drain  runs relay rounds in this thread until every outbox is empty, then
//          prints "DRAINED <delivered> <duplicates> <handler_errors>
//          <delivery_errors>" and exits 0.
//
// Exit status 2 when it cannot start, 3 when drain fails. Lines on stdout go
// out with a single write(2) each (no stdio buffer a SIGKILL could lose);
// diagnostics go to stderr.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/outbox.h"

namespace {

using twopc::EmitEvent;
using twopc::OutboxEvent;
using twopc::Result;
using twopc::Status;
using twopc::Transaction;

void Emit(const std::string& line) {
  std::string out = line + "\n";
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    ssize_t n = write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

Status CountEffect(Transaction& tx, const std::string& db, const std::string& saga_id) {
  auto r = tx.Execute(db,
                      "INSERT INTO effects(saga_id, applied) VALUES ($1, 1) ON CONFLICT (saga_id)"
                      " DO UPDATE SET applied = effects.applied + 1",
                      {saga_id});
  return r.ok() ? Status::OK() : r.TakeStatus();
}

void RegisterHandlers(twopc::OutboxBus& bus) {
  bus.On("payments", "Step1",
         [](Transaction& tx, const OutboxEvent& e) -> Result<std::vector<EmitEvent>> {
           if (Status s = CountEffect(tx, "payments", e.saga_id); !s.ok()) return s;
           return std::vector<EmitEvent>{{"Step2", "inventory", e.payload}};
         });
  bus.On("inventory", "Step2",
         [](Transaction& tx, const OutboxEvent& e) -> Result<std::vector<EmitEvent>> {
           if (Status s = CountEffect(tx, "inventory", e.saga_id); !s.ok()) return s;
           return std::vector<EmitEvent>{};
         });
}

// Relay rounds on every participant until the outboxes are empty.
int Drain(twopc::OutboxBus& bus) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const char* p : {"orders", "payments", "inventory"}) {
      if (auto moved = bus.RelayOnce(p); !moved.ok()) {
        fmt::print(stderr, "relay round on {} failed: {}\n", p, moved.status().ToString());
      }
    }
    auto pending = bus.Pending();
    if (pending.ok() && pending.value() == 0) {
      twopc::OutboxStats s = bus.stats();
      Emit(fmt::format("DRAINED {} {} {} {}", s.delivered, s.duplicates, s.handler_errors,
                       s.delivery_errors));
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  fmt::print(stderr, "outboxes not empty after 90 s\n");
  return 3;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fmt::print(stderr, "usage: {} CONFIG LOG_PATH relay|drain\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[3];
  // twopc logs through spdlog, whose default logger writes to stdout: keep
  // stdout for the lines the test reads.
  spdlog::set_default_logger(spdlog::stderr_color_mt("outbox_relay_child"));
  auto options = twopc::LoadConfigFile(argv[1]);
  if (!options.ok()) {
    fmt::print(stderr, "config: {}\n", options.status().ToString());
    return 2;
  }
  options->node_id = "outbox-child";
  options->log.path = argv[2];
  options->recovery.interval = std::chrono::milliseconds(0);
  auto coordinator = twopc::Coordinator::Open(std::move(options.value()));
  if (!coordinator.ok()) {
    fmt::print(stderr, "coordinator: {}\n", coordinator.status().ToString());
    return 2;
  }
  twopc::OutboxOptions bus_options;
  bus_options.batch = 16;
  bus_options.relays_per_participant = 2;
  auto bus = twopc::OutboxBus::Open(**coordinator, bus_options);
  if (!bus.ok()) {
    fmt::print(stderr, "outbox: {}\n", bus.status().ToString());
    return 2;
  }
  RegisterHandlers(**bus);
  if (mode == "drain") return Drain(**bus);
  if (mode != "relay") {
    fmt::print(stderr, "unknown mode {}\n", mode);
    return 2;
  }
  (*bus)->StartRelays();
  Emit("READY");
  // Until the test kills us; the bound only keeps a forgotten child from
  // running forever.
  std::this_thread::sleep_for(std::chrono::minutes(5));
  return 0;
}
