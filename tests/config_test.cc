#include "twopc/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/listen_address.h"

namespace twopc {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFullConfig = R"(node_id = "node-a"
io_threads = 4
connect_timeout_ms = 2500
default_deadline_ms = 15000

[log]
path = "/var/lib/twopc/decisions.db"
group_commit_window_us = 200
max_batch = 256

[recovery]
interval_ms = 0

[[participants]]
name = "orders"
conninfo = "host=127.0.0.1 port=55001 dbname=orders user=postgres"
max_connections = 16

[[participants]]
name = "payments_2"
conninfo = "postgresql://app@127.0.0.1:55002/payments"
)";

constexpr const char* kMinimalConfig = R"(node_id = "n1"
[[participants]]
name = "orders"
conninfo = "dbname=orders"
)";

// A minimal config with `line` as its second line, at top level: keys written
// after [[participants]] would land inside the participant.
std::string WithTopLevelLine(const std::string& line) {
  return "node_id = \"n1\"\n" + line + "\n[[participants]]\nname = \"a\"\nconninfo = \"dbname=a\"\n";
}

// ParseConfig must fail with InvalidArgument, and the message must contain
// every string in `expected` (typically "test.toml:<line>:" and the key).
void ExpectConfigError(const std::string& text, const std::vector<std::string>& expected) {
  Result<CoordinatorOptions> options = ParseConfig(text, "test.toml");
  ASSERT_FALSE(options.ok()) << "accepted:\n" << text;
  EXPECT_TRUE(options.status().IsInvalidArgument()) << options.status().ToString();
  for (const std::string& part : expected) {
    EXPECT_NE(options.status().message().find(part), std::string::npos)
        << "message '" << options.status().message() << "' lacks '" << part << "'";
  }
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "twopc-config-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  fs::path Write(const std::string& name, const std::string& text) const {
    fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

 private:
  fs::path path_;
};

TEST(ConfigTest, ParsesEveryKeyOfAFullFile) {
  Result<CoordinatorOptions> options = ParseConfig(kFullConfig, "full.toml");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->node_id, "node-a");
  EXPECT_EQ(options->io_threads, 4);
  EXPECT_EQ(options->connect_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(options->default_deadline, std::chrono::milliseconds(15000));
  EXPECT_EQ(options->log.path, "/var/lib/twopc/decisions.db");
  EXPECT_EQ(options->log.group_commit_window, std::chrono::microseconds(200));
  EXPECT_EQ(options->log.max_batch, 256);
  EXPECT_EQ(options->recovery.interval, std::chrono::milliseconds(0));
  ASSERT_EQ(options->participants.size(), 2u);
  EXPECT_EQ(options->participants[0].name, "orders");
  EXPECT_EQ(options->participants[0].conninfo,
            "host=127.0.0.1 port=55001 dbname=orders user=postgres");
  EXPECT_EQ(options->participants[0].max_connections, 16);
  EXPECT_EQ(options->participants[1].name, "payments_2");
  EXPECT_EQ(options->participants[1].conninfo, "postgresql://app@127.0.0.1:55002/payments");
}

TEST(ConfigTest, OmittedKeysKeepTheOptionsDefaults) {
  Result<CoordinatorOptions> options = ParseConfig(kMinimalConfig, "min.toml");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  const CoordinatorOptions defaults;
  const ParticipantOptions participant_defaults;
  EXPECT_EQ(options->io_threads, defaults.io_threads);
  EXPECT_EQ(options->connect_timeout, defaults.connect_timeout);
  EXPECT_EQ(options->default_deadline, defaults.default_deadline);
  EXPECT_EQ(options->log.path, "twopc-decisions.db");
  EXPECT_EQ(options->log.group_commit_window, defaults.log.group_commit_window);
  EXPECT_EQ(options->log.max_batch, defaults.log.max_batch);
  EXPECT_EQ(options->recovery.interval, defaults.recovery.interval);
  EXPECT_EQ(options->participants[0].max_connections, participant_defaults.max_connections);
}

TEST(ConfigTest, AcceptsInlineTables) {
  Result<CoordinatorOptions> options = ParseConfig(
      "node_id = \"n\"\nlog = { path = \"x.db\" }\n"
      "participants = [ { name = \"a\", conninfo = \"dbname=a\" } ]\n",
      "inline.toml");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->log.path, "x.db");
  EXPECT_EQ(options->participants.at(0).name, "a");
}

TEST(ConfigTest, TomlSyntaxErrorNamesLine) {
  ExpectConfigError("node_id = \"n\"\n\nio_threads = = 3\n", {"test.toml:3:"});
}

TEST(ConfigTest, UnknownTopLevelKeyNamesLineAndAllowedKeys) {
  ExpectConfigError(WithTopLevelLine("io_thread = 2"),
                    {"test.toml:2:", "unknown key 'io_thread'",
                     "allowed keys: node_id, io_threads, connect_timeout_ms"});
}

TEST(ConfigTest, TopLevelKeyAfterATableHeaderGetsAHint) {
  ExpectConfigError(std::string(kMinimalConfig) + "io_threads = 2\n",
                    {"test.toml:5:", "unknown key 'io_threads' in [[participants]]",
                     "top-level keys must come before the first [table] header"});
}

TEST(ConfigTest, UnknownKeyInLogSection) {
  ExpectConfigError("node_id = \"n\"\n[log]\npath = \"x\"\nfsync = true\n",
                    {"test.toml:4:", "unknown key 'fsync' in [log]",
                     "allowed keys: store, path, group_commit_window_us, max_batch"});
}

TEST(ConfigTest, LogStoreIsSqliteByDefaultAndPostgresWhenAsked) {
  auto sqlite = ParseConfig(
      "node_id = \"n\"\n[[participants]]\nname = \"a\"\nconninfo = \"dbname=a\"\n", "test.toml");
  ASSERT_TRUE(sqlite.ok()) << sqlite.status().ToString();
  EXPECT_EQ(sqlite->log.store, LogStore::kSqlite);
  auto pg = ParseConfig(
      "node_id = \"n\"\n[log]\nstore = \"postgres\"\n[[participants]]\nname = \"a\"\n"
      "conninfo = \"dbname=a\"\n",
      "test.toml");
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  EXPECT_EQ(pg->log.store, LogStore::kPostgres);
}

TEST(ConfigTest, UnknownLogStoreNamesTheTwoThereAre) {
  ExpectConfigError("node_id = \"n\"\n[log]\nstore = \"mysql\"\n",
                    {"test.toml:3:", "store", "'mysql'", "\"sqlite\"", "\"postgres\""});
}

TEST(ConfigTest, SqliteKeysAreRefusedWithThePostgresStore) {
  ExpectConfigError("node_id = \"n\"\n[log]\nstore = \"postgres\"\npath = \"x.db\"\n",
                    {"test.toml:4:", "path", "no log file"});
  ExpectConfigError("node_id = \"n\"\n[log]\nstore = \"postgres\"\nmax_batch = 3\n",
                    {"test.toml:4:", "max_batch"});
}

TEST(ConfigTest, UnknownKeyInRecoverySection) {
  ExpectConfigError("node_id = \"n\"\n[recovery]\ninterval = 5\n",
                    {"test.toml:3:", "unknown key 'interval' in [recovery]", "interval_ms"});
}

TEST(ConfigTest, UnknownKeyInSecondParticipant) {
  ExpectConfigError(std::string(kMinimalConfig) +
                        "[[participants]]\nname = \"b\"\nconninfo = \"dbname=b\"\nmax_conn = 3\n",
                    {"test.toml:8:", "unknown key 'max_conn' in [[participants]]",
                     "allowed keys: name, conninfo, max_connections"});
}

TEST(ConfigTest, MissingNodeId) {
  ExpectConfigError("[[participants]]\nname = \"a\"\nconninfo = \"dbname=a\"\n",
                    {"test.toml:1:", "missing required key 'node_id'"});
}

TEST(ConfigTest, MissingParticipants) {
  ExpectConfigError("node_id = \"n\"\n", {"test.toml:1:", "[[participants]]"});
  ExpectConfigError("node_id = \"n\"\nparticipants = []\n",
                    {"test.toml:2:", "'participants' is empty"});
}

TEST(ConfigTest, MissingParticipantNameNamesTheHeaderLine) {
  ExpectConfigError("node_id = \"n\"\n\n[[participants]]\nconninfo = \"dbname=a\"\n",
                    {"test.toml:3:", "missing required key 'name' in [[participants]]"});
}

TEST(ConfigTest, MissingConninfo) {
  ExpectConfigError(std::string(kMinimalConfig) + "\n[[participants]]\nname = \"b\"\n",
                    {"test.toml:6:", "missing required key 'conninfo' in [[participants]]"});
}

TEST(ConfigTest, WrongTypes) {
  ExpectConfigError("node_id = 7\n",
                    {"test.toml:1:", "key 'node_id' must be a string, not an integer"});
  ExpectConfigError(WithTopLevelLine("io_threads = \"4\""),
                    {"test.toml:2:", "key 'io_threads' must be an integer, not a string"});
  ExpectConfigError(WithTopLevelLine("connect_timeout_ms = 1.5"),
                    {"test.toml:2:", "'connect_timeout_ms' must be an integer"});
  ExpectConfigError("node_id = \"n\"\nlog = \"x.db\"\n",
                    {"test.toml:2:", "key 'log' must be a table"});
  ExpectConfigError("node_id = \"n\"\n[log]\nmax_batch = true\n",
                    {"test.toml:3:", "'max_batch' in [log] must be an integer, not a boolean"});
  ExpectConfigError("node_id = \"n\"\n[participants]\nname = \"a\"\n",
                    {"test.toml:2:", "'participants' must be an array of tables"});
  ExpectConfigError(
      "node_id = \"n\"\n[[participants]]\nname = \"a\"\nconninfo = [\"dbname=a\"]\n",
      {"test.toml:4:", "'conninfo' in [[participants]] must be a string, not an array"});
}

TEST(ConfigTest, OutOfRangeNumbers) {
  ExpectConfigError(WithTopLevelLine("io_threads = 0"),
                    {"test.toml:2:", "'io_threads' is 0; it must be between 1 and"});
  ExpectConfigError(WithTopLevelLine("default_deadline_ms = -1"),
                    {"test.toml:2:", "'default_deadline_ms' is -1"});
  ExpectConfigError("node_id = \"n\"\n[log]\nmax_batch = 0\n",
                    {"test.toml:3:", "'max_batch' in [log] is 0"});
  ExpectConfigError("node_id = \"n\"\n[log]\ngroup_commit_window_us = 5000000\n",
                    {"test.toml:3:", "'group_commit_window_us' in [log] is 5000000"});
  ExpectConfigError("node_id = \"n\"\n[recovery]\ninterval_ms = -5\n",
                    {"test.toml:3:", "'interval_ms' in [recovery] is -5"});
  ExpectConfigError(std::string(kMinimalConfig) + "max_connections = 0\n",
                    {"test.toml:5:", "'max_connections' in [[participants]] is 0"});
  // Larger than int64: TOML itself rejects it.
  ExpectConfigError(std::string(kMinimalConfig) + "max_connections = 99999999999999999999\n",
                    {"test.toml:5:"});
}

TEST(ConfigTest, DuplicateParticipantNamesBothLines) {
  ExpectConfigError(std::string(kMinimalConfig) +
                        "\n[[participants]]\nname = \"orders\"\nconninfo = \"dbname=o2\"\n",
                    {"test.toml:7:", "duplicate participant name 'orders'",
                     "first defined at test.toml:3"});
}

TEST(ConfigTest, BadNodeIdSaysAllowedCharacters) {
  ExpectConfigError("node_id = \"node a\"\n",
                    {"test.toml:1:", "node_id", "offset 4", "[A-Za-z0-9-]"});
  ExpectConfigError("node_id = \"node.a\"\n", {"test.toml:1:", "'.'", "[A-Za-z0-9-]"});
  ExpectConfigError("node_id = \"\"\n", {"test.toml:1:", "empty"});
  ExpectConfigError("node_id = \"" + std::string(33, 'a') + "\"\n",
                    {"test.toml:1:", "33 bytes", "1-32"});
}

TEST(ConfigTest, BadParticipantNameSaysAllowedCharacters) {
  ExpectConfigError("node_id = \"n\"\n[[participants]]\nname = \"my db\"\nconninfo = \"x=1\"\n",
                    {"test.toml:3:", "'name'", "[A-Za-z0-9_-]"});
  ExpectConfigError("node_id = \"n\"\n[[participants]]\nname = \"" + std::string(64, 'p') +
                        "\"\nconninfo = \"dbname=p\"\n",
                    {"test.toml:3:", "64 bytes", "1-63"});
}

TEST(ConfigTest, EmptyConninfoAndLogPathAreRejected) {
  ExpectConfigError("node_id = \"n\"\n[[participants]]\nname = \"a\"\nconninfo = \"\"\n",
                    {"test.toml:4:", "'conninfo'", "empty"});
  ExpectConfigError("node_id = \"n\"\n[log]\npath = \"\"\n", {"test.toml:3:", "'path'", "empty"});
}

TEST(ConfigTest, NulInsideStringIsRejected) {
  ExpectConfigError("node_id = \"n\"\n[log]\npath = \"a\\u0000b\"\n",
                    {"test.toml:3:", "NUL"});
}

TEST(ConfigTest, LoadConfigFileResolvesRelativeLogPathAgainstConfigDir) {
  TempDir dir;
  fs::path file = dir.Write("etc/twopc.toml", std::string(kMinimalConfig) +
                                                  "[log]\npath = \"data/decisions.db\"\n");
  Result<CoordinatorOptions> options = LoadConfigFile(file.string());
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(fs::path(options->log.path),
            (fs::absolute(dir.path()) / "etc" / "data" / "decisions.db").lexically_normal());
}

TEST(ConfigTest, LoadConfigFileResolvesDefaultLogPathAgainstConfigDir) {
  TempDir dir;
  fs::path file = dir.Write("twopc.toml", kMinimalConfig);
  Result<CoordinatorOptions> options = LoadConfigFile(file.string());
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(fs::path(options->log.path),
            (fs::absolute(dir.path()) / "twopc-decisions.db").lexically_normal());
}

TEST(ConfigTest, LoadConfigFileKeepsAbsoluteLogPath) {
  TempDir dir;
  fs::path file = dir.Write("twopc.toml", std::string(kMinimalConfig) +
                                              "[log]\npath = \"/srv/twopc/log.db\"\n");
  Result<CoordinatorOptions> options = LoadConfigFile(file.string());
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->log.path, "/srv/twopc/log.db");
}

TEST(ConfigTest, LoadConfigFileErrorsNameTheFileAndLine) {
  TempDir dir;
  fs::path file = dir.Write("bad.toml", "node_id = \"n\"\nbogus = 1\n");
  Result<CoordinatorOptions> options = LoadConfigFile(file.string());
  ASSERT_FALSE(options.ok());
  EXPECT_TRUE(options.status().IsInvalidArgument());
  EXPECT_NE(options.status().message().find(file.string() + ":2:"), std::string::npos)
      << options.status().message();
}

TEST(ConfigTest, MissingOrUnreadableFileIsInvalidArgument) {
  TempDir dir;
  std::string missing = (dir.path() / "nope.toml").string();
  Result<CoordinatorOptions> options = LoadConfigFile(missing);
  ASSERT_FALSE(options.ok());
  EXPECT_TRUE(options.status().IsInvalidArgument());
  EXPECT_NE(options.status().message().find(missing), std::string::npos);
  EXPECT_NE(options.status().message().find("No such file"), std::string::npos);

  Result<CoordinatorOptions> directory = LoadConfigFile(dir.path().string());
  ASSERT_FALSE(directory.ok());
  EXPECT_TRUE(directory.status().IsInvalidArgument());
  EXPECT_NE(directory.status().message().find("Is a directory"), std::string::npos)
      << directory.status().message();
}

TEST(ConfigTest, ParticipantKindIsPostgresByDefaultOrMariaDb) {
  auto options = ParseConfig(
      "node_id = \"n\"\n"
      "[[participants]]\nname = \"orders\"\nconninfo = \"dbname=orders\"\n"
      "[[participants]]\nname = \"billing\"\nkind = \"mariadb\"\n"
      "conninfo = \"host=127.0.0.1 dbname=billing\"\n",
      "test.toml");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->participants[0].kind, ParticipantKind::kPostgres);
  EXPECT_EQ(options->participants[1].kind, ParticipantKind::kMariaDb);

  auto bad = ParseConfig(
      "node_id = \"n\"\n[[participants]]\nname = \"x\"\nkind = \"mysql\"\nconninfo = \"a=b\"\n",
      "test.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("test.toml:4"), std::string::npos) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("\"mariadb\""), std::string::npos) << bad.status().ToString();
}

TEST(ConfigTest, LoggingAndMetricsSectionsAreRead) {
  auto options = ParseConfig(
      "node_id = \"n\"\n[logging]\nformat = \"json\"\nlevel = \"info\"\n"
      "[metrics]\nlisten = \"127.0.0.1:9464\"\n"
      "[[participants]]\nname = \"a\"\nconninfo = \"dbname=a\"\n",
      "test.toml");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->logging.format, LogFormat::kJson);
  EXPECT_EQ(options->logging.level, LogLevel::kInfo);
  EXPECT_EQ(options->metrics.listen, "127.0.0.1:9464");
}

TEST(ConfigTest, LoggingAndMetricsStayUnsetWhenAbsent) {
  auto options = ParseConfig(kMinimalConfig, "test.toml");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_FALSE(options->logging.format.has_value());
  EXPECT_FALSE(options->logging.level.has_value());
  EXPECT_EQ(options->metrics.listen, "");
  // One key of [logging] leaves the other unset.
  auto level_only = ParseConfig(
      "node_id = \"n\"\n[logging]\nlevel = \"off\"\n[metrics]\nlisten = \"\"\n"
      "[[participants]]\nname = \"a\"\nconninfo = \"dbname=a\"\n",
      "test.toml");
  ASSERT_TRUE(level_only.ok()) << level_only.status().ToString();
  EXPECT_FALSE(level_only->logging.format.has_value());
  EXPECT_EQ(level_only->logging.level, LogLevel::kOff);
  EXPECT_EQ(level_only->metrics.listen, "");
}

TEST(ConfigTest, EveryLogFormatAndLevelIsAccepted) {
  const std::vector<std::pair<std::string, LogFormat>> formats = {{"text", LogFormat::kText},
                                                                  {"json", LogFormat::kJson}};
  for (const auto& [name, format] : formats) {
    auto options = ParseConfig("node_id = \"n\"\n[logging]\nformat = \"" + name +
                                   "\"\n[[participants]]\nname = \"a\"\nconninfo = \"dbname=a\"\n",
                               "test.toml");
    ASSERT_TRUE(options.ok()) << name << ": " << options.status().ToString();
    EXPECT_EQ(options->logging.format, format) << name;
  }
  const std::vector<std::pair<std::string, LogLevel>> levels = {{"debug", LogLevel::kDebug},
                                                                {"info", LogLevel::kInfo},
                                                                {"warn", LogLevel::kWarn},
                                                                {"error", LogLevel::kError},
                                                                {"off", LogLevel::kOff}};
  for (const auto& [name, level] : levels) {
    auto options = ParseConfig("node_id = \"n\"\n[logging]\nlevel = \"" + name +
                                   "\"\n[[participants]]\nname = \"a\"\nconninfo = \"dbname=a\"\n",
                               "test.toml");
    ASSERT_TRUE(options.ok()) << name << ": " << options.status().ToString();
    EXPECT_EQ(options->logging.level, level) << name;
  }
}

TEST(ConfigTest, BadLoggingSectionNamesLineKeyAndChoices) {
  ExpectConfigError("node_id = \"n\"\n[logging]\nformat = \"xml\"\n",
                    {"test.toml:3:", "key 'format' in [logging]", "'xml'", "\"text\"", "\"json\""});
  ExpectConfigError(
      "node_id = \"n\"\n[logging]\nlevel = \"verbose\"\n",
      {"test.toml:3:", "key 'level' in [logging]", "'verbose'", "\"debug\"", "\"off\""});
  ExpectConfigError("node_id = \"n\"\n[logging]\nlevel = 3\n",
                    {"test.toml:3:", "'level' in [logging] must be a string, not an integer"});
  ExpectConfigError(
      "node_id = \"n\"\n[logging]\ncolor = true\n",
      {"test.toml:3:", "unknown key 'color' in [logging]", "allowed keys: format, level"});
  ExpectConfigError("node_id = \"n\"\nlogging = \"json\"\n",
                    {"test.toml:2:", "key 'logging' must be a table"});
}

TEST(ConfigTest, MetricsListenTakesIpv4BracketedIpv6OrLocalhost) {
  for (const std::string listen :
       {"127.0.0.1:9464", "0.0.0.0:0", "[::1]:9464", "[::]:65535", "localhost:9464"}) {
    auto options = ParseConfig("node_id = \"n\"\n[metrics]\nlisten = \"" + listen +
                                   "\"\n[[participants]]\nname = \"a\"\nconninfo = \"dbname=a\"\n",
                               "test.toml");
    ASSERT_TRUE(options.ok()) << listen << ": " << options.status().ToString();
    EXPECT_EQ(options->metrics.listen, listen);
  }
}

TEST(ConfigTest, BadMetricsListenNamesLineKeyAndProblem) {
  auto expect = [](const std::string& listen, const std::string& problem) {
    SCOPED_TRACE(listen);
    ExpectConfigError("node_id = \"n\"\n[metrics]\nlisten = \"" + listen + "\"\n",
                      {"test.toml:3:", "key 'listen' in [metrics]", problem});
  };
  expect("127.0.0.1", "port is missing");
  expect("127.0.0.1:", "port must be a number from 0 to 65535");
  expect("127.0.0.1:65536", "port must be a number from 0 to 65535");
  expect("127.0.0.1:-1", "port must be a number");
  expect("127.0.0.1:http", "port must be a number");
  expect("metrics.example.com:9464", "host must be an IPv4 address");
  expect("999.0.0.1:9464", "host must be an IPv4 address");
  expect(":9464", "host must be an IPv4 address");
  expect("::1:9464", "IPv6 address is written in brackets");
  expect("[::1:9464", "closing ']'");
  expect("[not-v6]:9464", "not an IPv6 address");
  expect("[::1]9464", "port is missing");
  ExpectConfigError("node_id = \"n\"\n[metrics]\nport = 9464\n",
                    {"test.toml:3:", "unknown key 'port' in [metrics]", "allowed keys: listen"});
  ExpectConfigError("node_id = \"n\"\n[metrics]\nlisten = 9464\n",
                    {"test.toml:3:", "'listen' in [metrics] must be a string, not an integer"});
}

TEST(ConfigTest, TopLevelKeysListLoggingAndMetrics) {
  ExpectConfigError(WithTopLevelLine("tracing = 1"),
                    {"test.toml:2:", "unknown key 'tracing'", "logging", "metrics"});
}

// What the metrics endpoint will bind: the host without its brackets.
TEST(ListenAddressTest, SplitsHostAndPort) {
  auto v4 = internal::ParseListenAddress("127.0.0.1:9464");
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9464);
  auto v6 = internal::ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  auto local = internal::ParseListenAddress("localhost:65535");
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_EQ(local->host, "localhost");
  EXPECT_EQ(local->port, 65535);
  EXPECT_TRUE(internal::ParseListenAddress("").status().IsInvalidArgument());
  EXPECT_TRUE(internal::ParseListenAddress("127.0.0.1:+80").status().IsInvalidArgument());
}

TEST(RedactConninfoTest, KeywordValueForm) {
  EXPECT_EQ(RedactConninfo("host=db password=secret user=app"),
            "host=db password=******** user=app");
  EXPECT_EQ(RedactConninfo("password=secret"), "password=********");
  EXPECT_EQ(RedactConninfo("host=db password = 'se cret' dbname=x"),
            "host=db password = ******** dbname=x");
  EXPECT_EQ(RedactConninfo(R"(password='it\'s a \\ secret' dbname=x)"),
            "password=******** dbname=x");
  EXPECT_EQ(RedactConninfo(R"(password=back\ slash dbname=x)"), "password=******** dbname=x");
  EXPECT_EQ(RedactConninfo("sslpassword=keypass sslkey=/k"), "sslpassword=******** sslkey=/k");
  EXPECT_EQ(RedactConninfo("PASSWORD=secret"), "PASSWORD=********");
}

TEST(RedactConninfoTest, LeavesOtherKeywordsIntact) {
  const std::string plain = "host=db port=5432 dbname='my db' user=app passfile=/p sslmode=require";
  EXPECT_EQ(RedactConninfo(plain), plain);
  EXPECT_EQ(RedactConninfo(""), "");
  EXPECT_EQ(RedactConninfo("dbname=password"), "dbname=password");
}

// Found by fuzz/conninfo_fuzz.cc: libpq reads "password='x'host=h" as two
// settings; redacted, the text must still be two, not a password of
// "********host=h".
TEST(RedactConninfoTest, QuotedPasswordFollowedByAKeywordStaysTwoSettings) {
  EXPECT_EQ(RedactConninfo("password='secret'host=db dbname=x"),
            "password=******** host=db dbname=x");
  EXPECT_EQ(RedactConninfo("password 'secret'sslpassword='k'user=u"),
            "password ******** sslpassword=******** user=u");
}

TEST(RedactConninfoTest, MalformedKeywordValueStillHidesPassword) {
  EXPECT_EQ(RedactConninfo("host=db password 'secret'"), "host=db password ********");
  EXPECT_EQ(RedactConninfo("host=db password='unterminated secret"), "host=db password=********");
}

TEST(RedactConninfoTest, UriForm) {
  EXPECT_EQ(RedactConninfo("postgresql://user:secret@host/db"),
            "postgresql://user:********@host/db");
  EXPECT_EQ(RedactConninfo("postgres://user:secret@host:5432/db?sslmode=require"),
            "postgres://user:********@host:5432/db?sslmode=require");
  EXPECT_EQ(RedactConninfo("postgresql://host/db?password=secret"),
            "postgresql://host/db?password=********");
  EXPECT_EQ(RedactConninfo("postgresql://host/db?user=a&password=secret&sslmode=require"),
            "postgresql://host/db?user=a&password=********&sslmode=require");
  EXPECT_EQ(RedactConninfo("postgresql://host/db?pass%77ord=secret"),
            "postgresql://host/db?pass%77ord=********");
  EXPECT_EQ(RedactConninfo("postgresql://u:p%40ss@h1:5432,h2:5433/db"),
            "postgresql://u:********@h1:5432,h2:5433/db");
}

TEST(RedactConninfoTest, UriPasswordWithRawAtOrQuestionMarkIsHiddenWhole) {
  EXPECT_EQ(RedactConninfo("postgresql://user:p@ss@host/db"), "postgresql://user:********@host/db");
  EXPECT_EQ(RedactConninfo("postgresql://user:pa?ss@host/db"),
            "postgresql://user:********@host/db");
}

// Found by fuzz_conninfo in CI: with no ':' before the first '@', libpq
// reads a query after that '@' even when a later '@' follows; the query was
// looked for only after the last '@', and its password went out in clear.
TEST(RedactConninfoTest, UriQueryBetweenTwoAtsIsRedacted) {
  EXPECT_EQ(RedactConninfo("postgresql://u@h?password=secret@z"),
            "postgresql://u@h?password=********");
  EXPECT_EQ(RedactConninfo("postgresql://u@h?password=secret:x@z"),
            "postgresql://u@h?password=********");
  // A '?' before the first '@' belongs to the user name, for libpq too.
  EXPECT_EQ(RedactConninfo("postgresql://u?x@h?password=secret"),
            "postgresql://u?x@h?password=********");
}

// Found by fuzz_conninfo: masking the query values took away the '/' that
// ended the authority, and the '@' after it then made "u:<text>@" a
// password libpq reads from the redacted text.
TEST(RedactConninfoTest, MaskingThatChangesTheStructureIsRedactedAgain) {
  std::string redacted = RedactConninfo("postgresql://u:secret?a=1&password=/x&b=2@h");
  EXPECT_EQ(redacted.find("secret"), std::string::npos) << redacted;
}

TEST(RedactConninfoTest, UriWithoutPasswordIsUnchanged) {
  for (const std::string uri :
       {"postgresql://", "postgresql://host", "postgresql://user@host:5432/db",
        "postgresql://[::1]:5432/db?sslmode=require", "postgresql:///db?host=/tmp"}) {
    EXPECT_EQ(RedactConninfo(uri), uri);
  }
}

// Every error kind, each with a password-bearing conninfo next to (or in) the
// faulty line: no error text may contain the password.
TEST(ConfigTest, ErrorsNeverContainThePassword) {
  const std::string kSecret = "Hunter2Secret";
  const std::string conninfo = "host=db user=app password=" + kSecret;
  const std::string participant =
      "[[participants]]\nname = \"orders\"\nconninfo = \"" + conninfo + "\"\n";
  const std::vector<std::string> bad_configs = {
      "node_id = \"n\"\n" + participant + "bogus = 1\n",
      "node_id = \"n\"\n" + participant + "max_connections = 0\n",
      "node_id = \"n\"\n" + participant + participant,
      "node_id = \"bad id\"\n" + participant,
      participant,
      "node_id = \"n\"\n[[participants]]\nname = \"a b\"\nconninfo = \"" + conninfo + "\"\n",
      "node_id = \"n\"\n[[participants]]\nconninfo = \"" + conninfo + "\"\n",
      "node_id = \"n\"\n[[participants]]\nname = \"a\"\nconninfo = [\"" + conninfo + "\"]\n",
      "node_id = \"n\"\n[[participants]]\nname = \"a\"\nconninfo = \"" + conninfo + "\n",
      "node_id = \"n\"\n[[participants]]\nname = \"a\"\nconninfo = " + conninfo + "\n",
      "node_id = \"n\"\n[[participants]]\nname = \"a\"\nconninfo = \"" + conninfo + "\\q\"\n",
      "node_id = \"n\"\n[[participants]]\nname = \"a\"\npassword = \"" + kSecret + "\"\n",
      "node_id = \"n\"\n" + conninfo + "\n",
      "node_id = \"" + conninfo + "\"\n" + participant,
      "node_id = \"n\"\n[[participants]]\nname = \"" + conninfo + "\"\nconninfo = \"x=1\"\n",
  };
  for (const std::string& text : bad_configs) {
    Result<CoordinatorOptions> options = ParseConfig(text, "test.toml");
    ASSERT_FALSE(options.ok()) << text;
    EXPECT_EQ(options.status().ToString().find(kSecret), std::string::npos)
        << options.status().ToString();
  }
}

TEST(ConfigTest, SessionInitIsReadInOrder) {
  Result<CoordinatorOptions> options = ParseConfig(
      std::string(kMinimalConfig) +
          "session_init = [\"SET search_path TO app, public\", \"SET work_mem = '8MB'\"]\n",
      "init.toml");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->participants[0].session_init,
            (std::vector<std::string>{"SET search_path TO app, public", "SET work_mem = '8MB'"}));
  // Absent: no statement, the default.
  Result<CoordinatorOptions> plain = ParseConfig(kMinimalConfig, "plain.toml");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->participants[0].session_init.empty());
}

TEST(ConfigTest, BadSessionInitNamesTheParticipantAndTheKey) {
  const std::string base = "node_id = \"n\"\n[[participants]]\nname = \"orders\"\n"
                           "conninfo = \"dbname=orders\"\n";
  ExpectConfigError(base + "session_init = \"SET search_path TO app\"\n",
                    {"test.toml:5:", "key 'session_init' of participant 'orders'",
                     "must be an array of strings", "not a string"});
  ExpectConfigError(base + "session_init = [\"SET a.b = 1\", 3]\n",
                    {"test.toml:5:", "key 'session_init' of participant 'orders': element 2",
                     "must be a string, not an integer"});
  ExpectConfigError(base + "session_init = [\"  \"]\n",
                    {"test.toml:5:", "participant 'orders': element 1 is empty"});
  // twopc names its connections itself (node id, incarnation) for recovery.
  ExpectConfigError(base + "session_init = [\"SET search_path TO app\", "
                           "\"SET Application_Name = 'mine'\"]\n",
                    {"test.toml:5:", "participant 'orders': element 2",
                     "application_name, which twopc reserves"});
  // A statement may hold a secret (SET ROLE ... PASSWORD): never quoted.
  Result<CoordinatorOptions> r =
      ParseConfig(base + "session_init = [\"SET application_name = 'hunter2'\"]\n", "test.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace twopc
