// twopc-bench: its report stays valid Markdown whatever an error says, and
// it gives up on a participant that never answers within connect_timeout_ms.
// --log-store: parsing, the sandbox config it writes, the report's labels,
// and a short real 2pc run with the decisions inside PostgreSQL.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/cli.h"
#include "bench/report.h"
#include "bench/sandbox.h"
#include "testing/pg_sandbox.h"
#include "twopc/config.h"

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

// Parses `args` as twopc-bench's command line (without the program name),
// then validates it as main() does.
BenchFlags ParseBench(const std::string& args) {
  BenchFlags flags;
  CLI::App app{"twopc-bench"};
  DefineFlags(app, flags);
  app.parse(args, /*program_name_included=*/false);
  ValidateFlags(flags);
  return flags;
}

std::string ParseError(const std::string& args) {
  try {
    ParseBench(args);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return "";
}

TEST(BenchFlagsTest, LogStoreTakesSqliteAndPostgres) {
  EXPECT_FALSE(ParseBench("--sandbox 3 --mode 2pc").log_store.has_value());
  BenchFlags pg = ParseBench("--sandbox 3 --mode none,2pc --log-store postgres");
  ASSERT_TRUE(pg.log_store.has_value());
  EXPECT_EQ(*pg.log_store, LogStore::kPostgres);
  BenchFlags sqlite = ParseBench("--config x.toml --mode 2pc --log-store sqlite");
  ASSERT_TRUE(sqlite.log_store.has_value());
  EXPECT_EQ(*sqlite.log_store, LogStore::kSqlite);
  // The null mode keeps its SQLite log: asking for it is fine.
  EXPECT_EQ(ParseError("--mode null --log-store sqlite"), "");
}

TEST(BenchFlagsTest, LogStoreRefusesAnythingElse) {
  for (const char* bad : {"pg", "Postgres", "sqlite3", "file", "''"}) {
    std::string error = ParseError(std::string("--sandbox 3 --log-store ") + bad);
    EXPECT_NE(error.find("--log-store"), std::string::npos) << bad << ": " << error;
    EXPECT_NE(error.find("sqlite"), std::string::npos) << bad << ": " << error;
    EXPECT_NE(error.find("postgres"), std::string::npos) << bad << ": " << error;
  }
  EXPECT_NE(ParseError("--sandbox 3 --log-store"), "");  // no value
}

TEST(BenchFlagsTest, LogStorePostgresIsRefusedInNullMode) {
  std::string error = ParseError("--sandbox 3 --mode 2pc,null --log-store postgres");
  EXPECT_NE(error.find("null"), std::string::npos) << error;
  EXPECT_NE(error.find("SQLite"), std::string::npos) << error;
}

TEST(BenchFlagsTest, MariaDbAndOverFlags) {
  BenchFlags f = ParseBench("--sandbox 2 --mariadb 1 --mode none,2pc --over p1,p2 --over p1,m1");
  EXPECT_EQ(f.mariadb, 1);
  ASSERT_EQ(f.over.size(), 2u);
  EXPECT_EQ(f.over[1], (std::vector<std::string>{"p1", "m1"}));
  EXPECT_NE(ParseError("--config x.toml --mariadb 1").find("--sandbox"), std::string::npos);
  EXPECT_NE(ParseError("--sandbox 2 --mariadb 1 --log-store postgres").find("SQLite"),
            std::string::npos);
  EXPECT_NE(ParseError("--sandbox 2 --over p1").find("two participants"), std::string::npos);
  EXPECT_NE(ParseError("--sandbox 2 --over p1,,p2").find("empty name"), std::string::npos);
  EXPECT_NE(ParseError("--sandbox 3 --workload order --over p1,p2,p3"), "");
}

std::string TempDir() {
  char tmpl[] = "/tmp/twopc-bench-test-XXXXXX";
  return mkdtemp(tmpl) != nullptr ? tmpl : "";
}

// What scripts/pg-sandbox writes, rewritten for each store: the config must
// load (the reader refuses `path` with store = "postgres") with that store.
TEST(BenchSandboxConfigTest, WriteConfigLogStoreGivesALoadableConfigOfThatStore) {
  std::string dir = TempDir();
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/twopc.toml";
  auto write = [&] {
    std::ofstream config(path, std::ios::trunc);
    config << "# Written by scripts/pg-sandbox for the servers in this directory.\n"
           << "node_id = \"bench\"\n[log]\npath = \"twopc-decisions.db\"\n"
           << "group_commit_window_us = 50\n\n[[participants]]\nname = \"p1\"\n"
           << "conninfo = \"host=127.0.0.1 port=1 dbname=p1\"\n";
  };
  write();
  ASSERT_TRUE(WriteConfigLogStore(path, LogStore::kPostgres).ok());
  auto pg = LoadConfigFile(path);
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  EXPECT_EQ(pg->log.store, LogStore::kPostgres);
  ASSERT_EQ(pg->participants.size(), 1u);
  EXPECT_EQ(pg->participants[0].name, "p1");
  // Twice is the same as once (no second `store` key).
  ASSERT_TRUE(WriteConfigLogStore(path, LogStore::kPostgres).ok());
  EXPECT_TRUE(LoadConfigFile(path).ok());

  write();
  ASSERT_TRUE(WriteConfigLogStore(path, LogStore::kSqlite).ok());
  auto sqlite = LoadConfigFile(path);
  ASSERT_TRUE(sqlite.ok()) << sqlite.status().ToString();
  EXPECT_EQ(sqlite->log.store, LogStore::kSqlite);
  EXPECT_EQ(sqlite->log.path, dir + "/twopc-decisions.db");
  EXPECT_EQ(sqlite->log.group_commit_window, std::chrono::microseconds(50));
  std::system(("rm -rf " + dir).c_str());
}

// Rows of both stores side by side: 2pc-pg against 2pc, in the table, the
// ratios to none, the JSON and the CSV.
TEST(BenchReportTest, RowsSayWhichDecisionStoreTheyUsed) {
  BenchFlags flags;
  flags.modes = {Mode::kNone, Mode::kTwoPc};
  ReportMeta meta;
  meta.command_line = "twopc-bench";
  meta.flags = &flags;
  PointResult none, sqlite, pg;
  none.spec.mode = Mode::kNone;
  sqlite.spec.mode = pg.spec.mode = Mode::kTwoPc;
  sqlite.spec.log_store = LogStore::kSqlite;
  pg.spec.log_store = LogStore::kPostgres;
  for (PointResult* p : {&none, &sqlite, &pg}) {
    p->attempted = p->committed = 100;
    p->committed_per_s = 100;
    p->latency.p50 = 1;
  }
  std::string md = ResultsToMarkdown(meta, {none, sqlite, pg});
  std::vector<std::string> rows;
  for (const std::string& line : Lines(md)) {
    if (line.rfind("| 2pc", 0) == 0) rows.push_back(line.substr(0, line.find(" |", 2)));
  }
  // The results table and the ratios to none: 2pc, 2pc-pg in both.
  EXPECT_EQ(rows, (std::vector<std::string>{"| 2pc", "| 2pc-pg", "| 2pc", "| 2pc-pg"})) << md;

  nlohmann::json j = ResultsToJson(meta, {none, sqlite, pg});
  ASSERT_EQ(j["points"].size(), 3u);
  EXPECT_TRUE(j["points"][0]["log_store"].is_null());
  EXPECT_EQ(j["points"][1]["log_store"], "sqlite");
  EXPECT_EQ(j["points"][2]["log_store"], "postgres");
  EXPECT_EQ(j["points"][2]["mode"], "2pc");
  EXPECT_EQ(j["points"][2]["label"], "2pc-pg");

  std::vector<std::string> csv = Lines(ResultsToCsv({none, sqlite, pg}));
  ASSERT_EQ(csv.size(), 4u);
  // The last two columns: log_store, then over (--over's participant set).
  auto column = [](const std::string& line, size_t from_end) {
    std::vector<std::string> fields;
    size_t at = 0;
    for (size_t comma; (comma = line.find(',', at)) != std::string::npos; at = comma + 1) {
      fields.push_back(line.substr(at, comma - at));
    }
    fields.push_back(line.substr(at));
    return fields[fields.size() - 1 - from_end];
  };
  EXPECT_EQ(column(csv[0], 1), "log_store");
  EXPECT_EQ(column(csv[0], 0), "over");
  EXPECT_EQ(column(csv[2], 1), "sqlite");
  EXPECT_EQ(column(csv[3], 1), "postgres");
  EXPECT_EQ(column(csv[3], 0), "");
}

// A short real run: 2pc with the decisions inside PostgreSQL on sandbox
// servers ends with zero violations, and its decisions really went there --
// the SQLite log forces one COMMIT record per 2pc transaction, the postgres
// store none (the decider's own commit is the record; it forces only ABORT
// fences of recovery).
TEST(BenchLogStoreRunTest, TwoPcWithPostgresStoreInSandboxHasZeroViolations) {
  std::string dir = TempDir();
  ASSERT_FALSE(dir.empty());
  std::string command = "timeout -s KILL 240 " + std::string(TWOPC_BENCH_PATH) +
                        " --sandbox 3 --participants 3 --mode 2pc --log-store postgres"
                        " --clients 4 --duration 2 --warmup 0.5 --check --out " +
                        dir + "/out > " + dir + "/log 2>&1";
  int status = std::system(command.c_str());
  std::ifstream log_in(dir + "/log");
  std::stringstream log;
  log << log_in.rdbuf();
  std::ifstream json_in(dir + "/out/results.json");
  nlohmann::json j = nlohmann::json::parse(json_in, nullptr, /*allow_exceptions=*/false);
  std::system(("rm -rf " + dir).c_str());

  ASSERT_TRUE(WIFEXITED(status)) << log.str();
  ASSERT_EQ(WEXITSTATUS(status), 0) << log.str();
  ASSERT_TRUE(j.is_object()) << log.str();
  ASSERT_EQ(j["points"].size(), 1u) << j.dump(2);
  const nlohmann::json& p = j["points"][0];
  EXPECT_EQ(p["mode"], "2pc");
  EXPECT_EQ(p["label"], "2pc-pg");
  EXPECT_EQ(p["log_store"], "postgres");
  EXPECT_EQ(p["error"], "");
  EXPECT_EQ(p["final_violations"], 0) << p["final_detail"];
  EXPECT_EQ(p["prepared_left"], 0);
  EXPECT_TRUE(p["accounting_ok"].get<bool>());
  uint64_t committed = p["committed"].get<uint64_t>();
  EXPECT_GT(committed, 0u);
  EXPECT_LT(p["decision_log"]["records_forced"].get<uint64_t>(), committed) << p.dump(2);
  EXPECT_NE(log.str().find("2pc-pg"), std::string::npos) << log.str();
}

}  // namespace
}  // namespace twopc::bench
