// `twopc status --prometheus [--output FILE]` against real PostgreSQL
// servers: the gauges node_exporter's textfile collector would serve.
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <regex>

#include "tests/cli_fixture.h"

namespace twopc::clitest {
namespace {

// One sample line of the text exposition format: name{label="value",...} value.
// Label values may hold any character but '"', '\' and newline, which are
// escaped.
const std::regex& SampleLine() {
  static const std::regex re(
      R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*")*\})? ([-+]?([0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?|Inf|NaN))$)re");
  return re;
}

// "name{labels}" -> value, for every sample line; every line that is not a
// comment must be one (a failure names it).
std::map<std::string, double> ParseExposition(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::smatch m;
    if (!std::regex_match(line, m, SampleLine())) {
      ADD_FAILURE() << "not a sample line: '" << line << "'";
      continue;
    }
    samples[m[1].str() + m[2].str()] = std::stod(m[7].str());
  }
  return samples;
}

double Sample(const std::map<std::string, double>& samples, const std::string& key) {
  auto it = samples.find(key);
  EXPECT_NE(it, samples.end()) << "no sample " << key;
  return it == samples.end() ? NAN : it->second;
}

TEST_F(CliTest, PrometheusShowsABranchLeftByADeadCoordinator) {
  // Incarnation 1 of this node is gone (the fixture took it): its branch is
  // undecided and in doubt until recovery fences it.
  PrepareBranch("a", Gid(31, 1), 131);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a visible age

  CliResult r = Twopc({"status", "--prometheus"});
  EXPECT_EQ(r.exit_code, 1) << "same exit code as status: in doubt\n" << Show(r);
  auto samples = ParseExposition(r.out);
  EXPECT_EQ(Sample(samples, R"(twopc_prepared_branches{participant="a"})"), 1) << r.out;
  EXPECT_EQ(Sample(samples, R"(twopc_prepared_branches{participant="b"})"), 0) << r.out;
  EXPECT_GT(Sample(samples, R"(twopc_oldest_prepared_age_seconds{participant="a"})"), 0) << r.out;
  EXPECT_LT(Sample(samples, R"(twopc_oldest_prepared_age_seconds{participant="a"})"), 600) << r.out;
  EXPECT_EQ(Sample(samples, R"(twopc_oldest_prepared_age_seconds{participant="b"})"), 0) << r.out;
  EXPECT_EQ(Sample(samples, R"(twopc_in_doubt_branches{participant="a"})"), 1) << r.out;
  EXPECT_EQ(Sample(samples, R"(twopc_in_doubt_branches{participant="b"})"), 0) << r.out;
  EXPECT_EQ(Sample(samples, R"(twopc_participant_up{participant="a"})"), 1) << r.out;
  EXPECT_EQ(Sample(samples, R"(twopc_participant_up{participant="b"})"), 1) << r.out;
  EXPECT_EQ(Sample(samples, "twopc_decisions_pending"), 0) << r.out;
  EXPECT_EQ(Sample(samples, "twopc_heuristics_unresolved"), 0) << r.out;
  EXPECT_EQ(Sample(samples, "twopc_decision_log_readable"), 1) << r.out;
  EXPECT_NEAR(Sample(samples, "twopc_status_timestamp_seconds"),
              static_cast<double>(std::time(nullptr)), 120)
      << r.out;
  EXPECT_TRUE(Contains(r.out, "# TYPE twopc_prepared_branches gauge")) << r.out;
  EXPECT_TRUE(r.err.empty()) << Show(r);

  // Prometheus' own parser and linter agree.
  std::string file = sandbox_->dir() + "/" + name_ + ".prom";
  std::ofstream(file) << r.out;
  std::string lint =
      std::string(TWOPC_PROMTOOL) + " check metrics < " + file + " > " + file + ".lint 2>&1";
  EXPECT_EQ(std::system(lint.c_str()), 0) << ReadFile(file + ".lint");
}

TEST_F(CliTest, PrometheusCountsCommitDecisionsPendingCompletion) {
  PrepareBranch("a", Gid(32, 1), 132);
  PrepareBranch("b", Gid(32, 2), 132);
  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    DecisionRecord record;
    record.gtrid = Gtrid(32);
    record.decision = Decision::kCommit;
    record.branches = {{"a", Gid(32, 1)}, {"b", Gid(32, 2)}};
    ASSERT_TRUE(log->Decide(record).ok());
  }
  CliResult r = Twopc({"status", "--prometheus"});
  EXPECT_EQ(r.exit_code, 1) << Show(r);
  auto samples = ParseExposition(r.out);
  EXPECT_EQ(Sample(samples, "twopc_decisions_pending"), 1) << r.out;
  // Decided: waiting for completion, not in doubt.
  EXPECT_EQ(Sample(samples, R"(twopc_in_doubt_branches{participant="a"})"), 0) << r.out;
  EXPECT_EQ(Sample(samples, R"(twopc_prepared_branches{participant="b"})"), 1) << r.out;
}

TEST_F(CliTest, PrometheusShowsAnUnreachableParticipantDownWithoutItsPassword) {
  int port = DeadPort();
  WriteConfig(config_path_,
              "\n[[participants]]\nname = \"dead\"\nconninfo = \"host=127.0.0.1 port=" +
                  std::to_string(port) + " dbname=x user=postgres password=hunter2\"\n");
  PrepareBranch("b", "my-manual-txn", 33);
  CliResult r = Twopc({"status", "--prometheus"});
  EXPECT_EQ(r.exit_code, 4) << "same exit code as status: unreachable\n" << Show(r);
  EXPECT_FALSE(Contains(r.out + r.err, "hunter2")) << "a password was printed\n" << Show(r);
  EXPECT_FALSE(Contains(r.out, "port=")) << "a conninfo in a label\n" << Show(r);
  auto samples = ParseExposition(r.out);
  EXPECT_EQ(Sample(samples, R"(twopc_participant_up{participant="dead"})"), 0) << r.out;
  EXPECT_EQ(Sample(samples, R"(twopc_participant_up{participant="a"})"), 1) << r.out;
  // The rest is still reported; the dead one's branches are unknown, not 0.
  EXPECT_EQ(Sample(samples, R"(twopc_prepared_branches{participant="b"})"), 1) << r.out;
  EXPECT_EQ(samples.count(R"(twopc_prepared_branches{participant="dead"})"), 0u) << r.out;
  EXPECT_EQ(samples.count(R"(twopc_oldest_prepared_age_seconds{participant="dead"})"), 0u) << r.out;
}

TEST_F(CliTest, PrometheusOutputReplacesTheFileAtomically) {
  std::string dir = sandbox_->dir() + "/" + name_ + ".textfile";
  std::filesystem::create_directories(dir);
  std::string path = dir + "/twopc.prom";
  {
    std::ofstream old(path);
    old << "previous_content_marker 1\n";
  }
  PrepareBranch("a", "my-manual-txn", 34);
  CliResult r = Twopc({"status", "--prometheus", "--output", path});
  EXPECT_EQ(r.exit_code, 0) << "a foreign branch alone is not in doubt\n" << Show(r);
  EXPECT_TRUE(r.out.empty()) << "--output prints nothing\n" << Show(r);
  std::string text = ReadFile(path);
  auto samples = ParseExposition(text);
  EXPECT_EQ(Sample(samples, R"(twopc_prepared_branches{participant="a"})"), 1) << text;
  EXPECT_FALSE(Contains(text, "previous_content_marker"));
  // Readable by node_exporter's user, and no temporary file left behind.
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"twopc.prom"});

  // A directory that does not exist: an error, exit 1, nothing written.
  CliResult missing = Twopc({"status", "--prometheus", "--output", dir + "/no/such/x.prom"});
  EXPECT_EQ(missing.exit_code, 1) << Show(missing);
  EXPECT_TRUE(Contains(missing.err, "cannot create a temporary file")) << Show(missing);
  EXPECT_TRUE(missing.out.empty()) << Show(missing);
  std::filesystem::remove_all(dir);
}

TEST_F(CliTest, PrometheusOptionsAreCheckedAsUsage) {
  EXPECT_EQ(Twopc({"status", "--output", sandbox_->dir() + "/x.prom"}).exit_code, 2)
      << "--output without --prometheus";
  EXPECT_FALSE(std::filesystem::exists(sandbox_->dir() + "/x.prom"));
  EXPECT_EQ(Twopc({"status", "--prometheus", "--json"}).exit_code, 2);
}

}  // namespace
}  // namespace twopc::clitest
