// twopc-bench: its report stays valid Markdown whatever an error says, and
// it gives up on a participant that never answers within connect_timeout_ms.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/report.h"
#include "testing/pg_sandbox.h"

namespace twopc::bench {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(BenchReportTest, MarkdownErrorWithNewlineAndPipeStaysOneTableRow) {
  BenchFlags flags;
  flags.modes = {Mode::kTwoPc};
  ReportMeta meta;
  meta.command_line = "twopc-bench --mode 2pc";
  meta.flags = &flags;
  PointResult failed;
  failed.spec.mode = Mode::kTwoPc;
  failed.error = "setup: Unavailable: p1: could not connect\nis the server running? | port 5\r\n";
  PointResult ok;
  ok.spec.mode = Mode::kNone;
  ok.attempted = ok.committed = 10;
  std::string md = ResultsToMarkdown(meta, {failed, ok});

  std::vector<std::string> table;
  for (const std::string& line : Lines(md)) {
    if (!line.empty() && line.front() == '|') table.push_back(line);
  }
  // Header, separator, one row per point -- and nothing between them.
  ASSERT_EQ(table.size(), 4u) << md;
  const std::string& row = table[2];
  EXPECT_EQ(row.rfind("| 2pc |", 0), 0u) << row;
  EXPECT_NE(row.find("could not connect"), std::string::npos) << row;
  EXPECT_NE(row.find("is the server running?"), std::string::npos) << row;
  EXPECT_NE(row.find("\\| port 5"), std::string::npos) << row;
  EXPECT_EQ(row.find('\r'), std::string::npos) << row;
  // Every '|' that is not escaped separates cells: the error is one cell.
  int cells = 0;
  for (size_t i = 0; i < row.size(); ++i) {
    if (row[i] == '|' && (i == 0 || row[i - 1] != '\\')) ++cells;
  }
  EXPECT_EQ(cells, 7) << row;  // | mode | clients | K | hot | fail | error |
  EXPECT_EQ(table[3].rfind("| none |", 0), 0u) << table[3];
}

// twopc-bench against participants that accept the TCP connection and never
// answer: it must give up after connect_timeout_ms, not hang. A correctness
// bound (5x the timeout), not a performance measurement.
TEST(BenchConnectTimeoutTest, SilentParticipantFailsWithinConnectTimeout) {
  testing::ScopedBlackholeServer hole;
  ASSERT_NE(hole.port(), 0);
  char tmpl[] = "/tmp/twopc-bench-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  constexpr int kTimeoutMs = 1000;
  {
    std::ofstream config(dir + "/twopc.toml");
    config << "node_id = \"bench-test\"\n"
           << "connect_timeout_ms = " << kTimeoutMs << "\n"
           << "[log]\npath = \"decisions.db\"\n";
    for (const char* name : {"p1", "p2"}) {
      config << "[[participants]]\nname = \"" << name << "\"\nconninfo = \""
             << hole.conninfo(name) << "\"\n";
    }
  }
  // `timeout` only keeps a hanging bench from hanging the test run.
  std::string command = "timeout -s KILL 120 " + std::string(TWOPC_BENCH_PATH) + " --config " +
                        dir + "/twopc.toml --mode 2pc --clients 1 --duration 0.5 --warmup 0 " +
                        "--auditors 0 > " + dir + "/out 2>&1";
  auto start = std::chrono::steady_clock::now();
  int status = std::system(command.c_str());
  auto took = std::chrono::steady_clock::now() - start;
  std::ifstream in(dir + "/out");
  std::stringstream out;
  out << in.rdbuf();
  std::system(("rm -rf " + dir).c_str());

  ASSERT_TRUE(WIFEXITED(status)) << "killed after 120 s: the bench hung\n" << out.str();
  EXPECT_NE(WEXITSTATUS(status), 0) << out.str();
  EXPECT_LT(took, std::chrono::milliseconds(5 * kTimeoutMs))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n"
      << out.str();
  EXPECT_NE(out.str().find("connect_timeout_ms"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("p1"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace twopc::bench
