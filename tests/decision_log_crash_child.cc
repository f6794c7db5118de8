// Child process of DecisionLogTest.CommitRecordSurvivesKill9.
//
//   decision_log_crash_child LOG_PATH
//
// Opens the decision log at LOG_PATH and, from several threads so that group
// commits are in flight, writes COMMIT records forever. After each Decide()
// returned OK it writes the gtrid on stdout, one line per record with a
// single write(2) (atomic on a pipe). The test SIGKILLs it at some point and
// checks that every gtrid it printed is in the log.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "twopc/decision_log.h"

namespace {

constexpr int kThreads = 4;

[[noreturn]] void WriteForever(twopc::DecisionLog* log, int thread) {
  for (uint64_t i = 0;; ++i) {
    twopc::DecisionRecord record;
    record.gtrid = "crash-" + std::to_string(thread) + "-" + std::to_string(i);
    record.decision = twopc::Decision::kCommit;
    record.branches = {{"orders", record.gtrid + "-b0"}, {"payments", record.gtrid + "-b1"}};
    twopc::Status s = log->Decide(record);
    if (!s.ok()) {
      std::fprintf(stderr, "Decide(%s): %s\n", record.gtrid.c_str(), s.ToString().c_str());
      _exit(1);
    }
    std::string line = record.gtrid + "\n";
    if (write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      _exit(1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s LOG_PATH\n", argv[0]);
    return 2;
  }
  twopc::LogOptions options;
  options.path = argv[1];
  auto log = twopc::OpenSqliteDecisionLog(options);
  if (!log.ok()) {
    std::fprintf(stderr, "open: %s\n", log.status().ToString().c_str());
    return 1;
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(WriteForever, log->get(), t);
  for (auto& t : threads) t.join();  // never returns: the test kills us
  return 0;
}
