// crash_coordinator: a real coordinator process for the crash tests.
//
//   crash_coordinator --config FILE --mode single|loop [--threads N]
//                     [--transfers N] [--accounts N] [--seed S] [--early-ack]
//
// It opens a twopc::Coordinator from FILE -- the recovery pass at Open is
// part of what the crash tests check -- and moves money between the
// `accounts(id, balance)` tables the test created on every participant. Each
// transfer also inserts its gtrid into `transfers(id)` in every branch, so the
// test can tell per participant whether a transfer was applied.
//
//   single  one transfer touching every participant: account 1 of the first
//           participant pays 10 to account 1 of each other one. The crash
//           matrix runs it with TWOPC_CRASH_AT=<point> in the environment.
//   loop    --threads threads doing random transfers between two random
//           participants until killed or --transfers (0 = no limit) are done.
//
// It reports on stdout, one line per event, each line with a single write(2)
// so that a line is on the pipe before the next protocol step can crash:
//
//   BEGIN   <gtrid> {"deltas":{"a:1":-20,"b:1":10,"c:1":10}}   before Commit()
//   ACK     <gtrid> {"deltas":{...}}                 Commit() returned OK
//   ABORT   <gtrid> {"deltas":{...},"status":"..."}  any other failure
//   INDOUBT <gtrid> {"deltas":{...},"status":"..."}  Commit() returned InDoubt
//
// Exit status: 0 when done, 2 when the coordinator cannot be opened or the
// flags are wrong. Log messages go to stderr, never to the stdout pipe.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/retry.h"

namespace {

using twopc::Status;
using twopc::Transaction;

struct Flags {
  std::string config;
  std::string mode;
  int threads = 4;
  int64_t transfers = 0;
  int accounts = 10;
  uint64_t seed = 1;
  bool early_ack = false;
};

// One account's change within a transfer.
struct Delta {
  std::string participant;
  int64_t account = 0;
  int64_t amount = 0;
};

// Writes `line` and a newline with one write(2): no stdio buffer that a
// SIGKILL could lose, and lines of concurrent threads never interleave
// (writes to a pipe up to PIPE_BUF bytes are atomic).
void Emit(const std::string& line) {
  std::string out = line + "\n";
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    ssize_t n = write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the test closed the pipe: nobody is listening
    p += n;
    left -= static_cast<size_t>(n);
  }
}

nlohmann::json DeltasJson(const std::vector<Delta>& deltas) {
  nlohmann::json j = nlohmann::json::object();
  for (const Delta& d : deltas) j[d.participant + ":" + std::to_string(d.account)] = d.amount;
  return j;
}

Status QueueTransfer(Transaction& tx, const std::vector<Delta>& deltas) {
  std::vector<std::string> marked;
  for (const Delta& d : deltas) {
    Status s = tx.Queue(d.participant, "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
                        {d.amount, d.account});
    if (!s.ok()) return s;
    if (std::find(marked.begin(), marked.end(), d.participant) != marked.end()) continue;
    marked.push_back(d.participant);
    s = tx.Queue(d.participant, "INSERT INTO transfers(id) VALUES ($1)", {tx.gtrid()});
    if (!s.ok()) return s;
  }
  return Status::OK();
}

// Runs one transfer (rerun on conflicts by RunTransaction; each attempt is a
// new gtrid with its own BEGIN line) and reports its outcome.
void RunTransfer(twopc::Coordinator& coord, const std::vector<Delta>& deltas,
                 const twopc::TransactionOptions& options, const twopc::RetryOptions& retry) {
  const nlohmann::json deltas_json = DeltasJson(deltas);
  std::string gtrid;
  Status s = twopc::RunTransaction(
      coord,
      [&](Transaction& tx) -> Status {
        gtrid = tx.gtrid();
        if (Status q = QueueTransfer(tx, deltas); !q.ok()) return q;
        Emit("BEGIN " + gtrid + " " + nlohmann::json{{"deltas", deltas_json}}.dump());
        return Status::OK();
      },
      options, retry);
  nlohmann::json report{{"deltas", deltas_json}};
  if (s.ok()) return Emit("ACK " + gtrid + " " + report.dump());
  // dump() escapes newlines: the status stays on its one line.
  report["status"] = s.ToString();
  Emit((s.IsInDoubt() ? "INDOUBT " : "ABORT ") + gtrid + " " + report.dump());
}

int RunSingle(twopc::Coordinator& coord, const Flags& flags) {
  const auto& participants = coord.options().participants;
  std::vector<Delta> deltas;
  const int64_t kCredit = 10;
  deltas.push_back(
      {participants[0].name, 1, -kCredit * static_cast<int64_t>(participants.size() - 1)});
  for (size_t i = 1; i < participants.size(); ++i)
    deltas.push_back({participants[i].name, 1, kCredit});
  twopc::TransactionOptions options;
  options.early_ack = flags.early_ack;
  twopc::RetryOptions retry;
  retry.max_attempts = 1;  // one gtrid: the crash matrix follows exactly one transaction
  RunTransfer(coord, deltas, options, retry);
  return 0;
}

int RunLoop(twopc::Coordinator& coord, const Flags& flags) {
  const auto& participants = coord.options().participants;
  if (participants.size() < 2) {
    spdlog::error("crash_coordinator: --mode loop needs at least two participants");
    return 2;
  }
  twopc::TransactionOptions options;
  options.early_ack = flags.early_ack;
  // Transfers in opposite directions can wait on each other's prepared rows
  // in two databases, a deadlock no single server sees: the lock timeout
  // breaks it and RunTransaction reruns the loser.
  options.lock_timeout = std::chrono::milliseconds(300);
  options.deadline = std::chrono::milliseconds(10000);
  twopc::RetryOptions retry;
  std::atomic<int64_t> started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, flags.threads); ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(flags.seed * 1000003 + static_cast<uint64_t>(t));
      auto pick = [&rng](int64_t n) {
        return static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
      };
      while (flags.transfers == 0 || started.fetch_add(1) < flags.transfers) {
        auto n = static_cast<int64_t>(participants.size());
        int64_t from = pick(n);
        int64_t to = (from + 1 + pick(n - 1)) % n;
        int64_t amount = 1 + pick(20);
        std::vector<Delta> deltas = {{participants[from].name, 1 + pick(flags.accounts), -amount},
                                     {participants[to].name, 1 + pick(flags.accounts), amount}};
        RunTransfer(coord, deltas, options, retry);
      }
    });
  }
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"A twopc coordinator process for the crash tests"};
  app.add_option("--config", flags.config, "twopc TOML config")->required();
  app.add_option("--mode", flags.mode, "single | loop")
      ->required()
      ->check(CLI::IsMember({"single", "loop"}));
  app.add_option("--threads", flags.threads, "loop: concurrent transfer threads");
  app.add_option("--transfers", flags.transfers, "loop: transfers in all (0 = until killed)");
  app.add_option("--accounts", flags.accounts, "loop: accounts 1..N per participant")
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", flags.seed, "loop: random seed");
  app.add_flag("--early-ack", flags.early_ack, "acknowledge once the decision is durable");
  CLI11_PARSE(app, argc, argv);

  // stdout is the report pipe: the library's log lines must not land in it.
  spdlog::set_default_logger(spdlog::stderr_color_mt("crash_coordinator"));
  spdlog::set_level(spdlog::level::warn);

  auto coord = twopc::Coordinator::OpenFromConfigFile(flags.config);
  if (!coord.ok()) {
    std::fprintf(stderr, "crash_coordinator: cannot open the coordinator: %s\n",
                 coord.status().ToString().c_str());
    return 2;
  }
  int rc = flags.mode == "single" ? RunSingle(**coord, flags) : RunLoop(**coord, flags);
  coord.value().reset();  // waits for background completions, closes the log
  return rc;
}
