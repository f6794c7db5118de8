// The TOML config file. Every error names "<source>:<line>" and the key, and
// never quotes a value that could hold a password: config errors end up in
// terminals, CI logs and bug reports.
#include "twopc/config.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "common/listen_address.h"
#include "participants/session_init.h"
#include "twopc/gid.h"

namespace twopc {
namespace {

constexpr int64_t kOneDayMs = 24LL * 60 * 60 * 1000;
constexpr size_t kMaxParticipantNameLength = 63;  // PostgreSQL's NAMEDATALEN - 1

constexpr std::array<std::string_view, 9> kTopKeys = {
    "node_id", "io_threads", "connect_timeout_ms", "default_deadline_ms", "log", "recovery",
    "logging", "metrics",    "participants"};
constexpr std::array<std::string_view, 4> kLogKeys = {"store", "path", "group_commit_window_us",
                                                      "max_batch"};
constexpr std::array<std::string_view, 3> kRecoveryKeys = {"interval_ms", "pace_us", "live_grace_s"};
constexpr std::array<std::string_view, 2> kLoggingKeys = {"format", "level"};
constexpr std::array<std::string_view, 1> kMetricsKeys = {"listen"};
constexpr std::array<std::string_view, 5> kParticipantKeys = {
    "name", "conninfo", "max_connections", "session_init", "kind"};

struct Range {
  int64_t min;
  int64_t max;
};

std::string_view TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// Keys are user text: a quoted TOML key may hold control characters that
// would forge lines in a log, so those are shown escaped.
std::string Printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      std::array<char, 8> buf{};
      std::snprintf(buf.data(), buf.size(), "\\x%02X", c);
      out += buf.data();
    }
  }
  return out;
}

std::string JoinKeys(std::span<const std::string_view> keys) {
  std::string out;
  for (std::string_view key : keys) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

bool IsParticipantNameChar(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Turns a parsed TOML document into CoordinatorOptions. `section` arguments
// are how a table is named in messages: "" (top level), "[log]", ...
class ConfigReader {
 public:
  explicit ConfigReader(std::string_view source) : source_(source) {}

  Result<CoordinatorOptions> Read(const toml::table& root) const;

 private:
  Status Error(const toml::source_region& where, const std::string& what) const {
    return Status::InvalidArgument(source_ + ":" + std::to_string(where.begin.line) + ": " + what);
  }
  static std::string KeyLabel(std::string_view section, std::string_view key) {
    std::string label = "key '" + Printable(key) + "'";
    if (!section.empty()) label += " in " + std::string(section);
    return label;
  }

  Status CheckKeys(const toml::table& table, std::string_view section,
                   std::span<const std::string_view> allowed) const;
  const toml::node* Required(const toml::table& table, std::string_view section,
                             std::string_view key, Status* status) const;
  Status TypeError(const toml::node& node, std::string_view section, std::string_view key,
                   std::string_view expected) const;
  Status ReadInt(const toml::table& table, std::string_view section, std::string_view key,
                 Range range, int64_t* out) const;
  Status ReadString(const toml::node& node, std::string_view section, std::string_view key,
                    std::string* out) const;
  const toml::table* SubTable(const toml::table& root, std::string_view key,
                              Status* status) const;

  Status ReadTopLevel(const toml::table& root, CoordinatorOptions* options) const;
  Status ReadLog(const toml::table& log, LogOptions* options) const;
  Status ReadRecovery(const toml::table& recovery, RecoveryOptions* options) const;
  Status ReadLogging(const toml::table& logging, LoggingOptions* options) const;
  Status ReadMetrics(const toml::table& metrics, MetricsOptions* options) const;
  Status ReadParticipants(const toml::table& root,
                          std::vector<ParticipantOptions>* participants) const;
  Status ReadParticipant(const toml::table& table, ParticipantOptions* participant) const;
  Status ReadSessionInit(const toml::table& table, ParticipantOptions* participant) const;
  Status CheckParticipantName(const toml::node& node, const std::string& name) const;

  std::string source_;
};

Status ConfigReader::CheckKeys(const toml::table& table, std::string_view section,
                               std::span<const std::string_view> allowed) const {
  for (auto&& [key, value] : table) {
    bool known = false;
    for (std::string_view name : allowed) known = known || key.str() == name;
    if (!known) {
      std::string where = section.empty() ? "at top level" : "in " + std::string(section);
      // TOML puts every key after a [header] into that table, so a
      // top-level key written below [[participants]] lands here.
      bool top_level = false;
      for (std::string_view name : kTopKeys) top_level = top_level || key.str() == name;
      std::string hint =
          !section.empty() && top_level
              ? " (top-level keys must come before the first [table] header)"
              : "";
      return Error(key.source(), "unknown key '" + Printable(key.str()) + "' " + where +
                                     "; allowed keys: " + JoinKeys(allowed) + hint);
    }
  }
  return Status::OK();
}

// The node under `key`, or nullptr with *status saying it is missing.
const toml::node* ConfigReader::Required(const toml::table& table, std::string_view section,
                                         std::string_view key, Status* status) const {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    std::string where = section.empty() ? "" : " in " + std::string(section);
    *status = Error(table.source(), "missing required key '" + std::string(key) + "'" + where);
  }
  return node;
}

Status ConfigReader::TypeError(const toml::node& node, std::string_view section,
                               std::string_view key, std::string_view expected) const {
  // Only the type is named, never the value: it may be a password.
  return Error(node.source(), KeyLabel(section, key) + " must be " + std::string(expected) +
                                  ", not " + std::string(TypeName(node.type())));
}

Status ConfigReader::ReadInt(const toml::table& table, std::string_view section,
                             std::string_view key, Range range, int64_t* out) const {
  const toml::node* node = table.get(key);
  if (node == nullptr) return Status::OK();  // keep the default
  const auto* value = node->as_integer();
  if (value == nullptr) return TypeError(*node, section, key, "an integer");
  int64_t v = value->get();
  if (v < range.min || v > range.max) {
    return Error(node->source(), KeyLabel(section, key) + " is " + std::to_string(v) +
                                     "; it must be between " + std::to_string(range.min) +
                                     " and " + std::to_string(range.max));
  }
  *out = v;
  return Status::OK();
}

Status ConfigReader::ReadString(const toml::node& node, std::string_view section,
                                std::string_view key, std::string* out) const {
  const auto* value = node.as_string();
  if (value == nullptr) return TypeError(node, section, key, "a string");
  // libpq and SQLite take C strings: a NUL would silently cut the value.
  if (value->get().find('\0') != std::string::npos) {
    return Error(node.source(), KeyLabel(section, key) + " must not contain a NUL character");
  }
  *out = value->get();
  return Status::OK();
}

// The table under `key` of the root, nullptr if absent or (with *status set)
// if it is not a table.
const toml::table* ConfigReader::SubTable(const toml::table& root, std::string_view key,
                                          Status* status) const {
  const toml::node* node = root.get(key);
  if (node == nullptr) return nullptr;
  if (!node->is_table()) {
    *status = TypeError(*node, "", key, "a table ([" + std::string(key) + "])");
    return nullptr;
  }
  return node->as_table();
}

Status ConfigReader::ReadTopLevel(const toml::table& root, CoordinatorOptions* options) const {
  Status status;
  const toml::node* node_id = Required(root, "", "node_id", &status);
  if (node_id == nullptr) return status;
  if (Status s = ReadString(*node_id, "", "node_id", &options->node_id); !s.ok()) return s;
  if (Status s = ValidateNodeId(options->node_id); !s.ok()) {
    return Error(node_id->source(), KeyLabel("", "node_id") + ": " + s.message());
  }
  int64_t io_threads = options->io_threads;
  if (Status s = ReadInt(root, "", "io_threads", {1, 1024}, &io_threads); !s.ok()) return s;
  options->io_threads = static_cast<int>(io_threads);
  int64_t connect_ms = options->connect_timeout.count();
  if (Status s = ReadInt(root, "", "connect_timeout_ms", {1, kOneDayMs}, &connect_ms); !s.ok()) {
    return s;
  }
  options->connect_timeout = std::chrono::milliseconds(connect_ms);
  int64_t deadline_ms = options->default_deadline.count();
  if (Status s = ReadInt(root, "", "default_deadline_ms", {1, kOneDayMs}, &deadline_ms);
      !s.ok()) {
    return s;
  }
  options->default_deadline = std::chrono::milliseconds(deadline_ms);
  return Status::OK();
}

Status ConfigReader::ReadLog(const toml::table& log, LogOptions* options) const {
  constexpr std::string_view kSection = "[log]";
  if (Status s = CheckKeys(log, kSection, kLogKeys); !s.ok()) return s;
  if (const toml::node* store = log.get("store"); store != nullptr) {
    std::string name;
    if (Status s = ReadString(*store, kSection, "store", &name); !s.ok()) return s;
    if (name == "sqlite") {
      options->store = LogStore::kSqlite;
    } else if (name == "postgres") {
      options->store = LogStore::kPostgres;
    } else {
      return Error(store->source(), KeyLabel(kSection, "store") + " is '" + Printable(name) +
                                        "'; it is \"sqlite\" (the embedded log, the default) or "
                                        "\"postgres\" (decisions inside the participants)");
    }
  }
  if (options->store == LogStore::kPostgres) {
    // Keys of the SQLite log would silently do nothing.
    for (std::string_view key : {"path", "group_commit_window_us", "max_batch"}) {
      if (const toml::node* n = log.get(key); n != nullptr) {
        return Error(n->source(), KeyLabel(kSection, key) +
                                      " belongs to the SQLite log; with store = \"postgres\" there "
                                      "is no log file (decisions are rows in the participants)");
      }
    }
    return Status::OK();
  }
  if (const toml::node* path = log.get("path"); path != nullptr) {
    if (Status s = ReadString(*path, kSection, "path", &options->path); !s.ok()) return s;
    if (options->path.empty()) {
      return Error(path->source(), KeyLabel(kSection, "path") + " must not be empty");
    }
  }
  // Above one second a window only adds latency: a batch never needs that
  // long to fill.
  int64_t window_us = options->group_commit_window.count();
  if (Status s = ReadInt(log, kSection, "group_commit_window_us", {0, 1'000'000}, &window_us);
      !s.ok()) {
    return s;
  }
  options->group_commit_window = std::chrono::microseconds(window_us);
  int64_t max_batch = options->max_batch;
  if (Status s = ReadInt(log, kSection, "max_batch", {1, 1'000'000}, &max_batch); !s.ok()) {
    return s;
  }
  options->max_batch = static_cast<int>(max_batch);
  return Status::OK();
}

Status ConfigReader::ReadRecovery(const toml::table& recovery, RecoveryOptions* options) const {
  constexpr std::string_view kSection = "[recovery]";
  if (Status s = CheckKeys(recovery, kSection, kRecoveryKeys); !s.ok()) return s;
  int64_t interval_ms = options->interval.count();
  if (Status s = ReadInt(recovery, kSection, "interval_ms", {0, kOneDayMs}, &interval_ms);
      !s.ok()) {
    return s;
  }
  options->interval = std::chrono::milliseconds(interval_ms);
  int64_t pace_us = options->pace.count();
  if (Status s = ReadInt(recovery, kSection, "pace_us", {0, 1000000}, &pace_us); !s.ok()) return s;
  options->pace = std::chrono::microseconds(pace_us);
  int64_t grace_s = options->live_grace.count();
  if (Status s = ReadInt(recovery, kSection, "live_grace_s", {0, kOneDayMs / 1000}, &grace_s);
      !s.ok()) {
    return s;
  }
  options->live_grace = std::chrono::seconds(grace_s);
  return Status::OK();
}

Status ConfigReader::ReadLogging(const toml::table& logging, LoggingOptions* options) const {
  constexpr std::string_view kSection = "[logging]";
  if (Status s = CheckKeys(logging, kSection, kLoggingKeys); !s.ok()) return s;
  if (const toml::node* format = logging.get("format"); format != nullptr) {
    std::string name;
    if (Status s = ReadString(*format, kSection, "format", &name); !s.ok()) return s;
    if (name == "text") {
      options->format = LogFormat::kText;
    } else if (name == "json") {
      options->format = LogFormat::kJson;
    } else {
      return Error(format->source(), KeyLabel(kSection, "format") + " is '" + Printable(name) +
                                         R"('; it is "text" (the default) or "json" (one JSON )"
                                         "object per line)");
    }
  }
  if (const toml::node* level = logging.get("level"); level != nullptr) {
    std::string name;
    if (Status s = ReadString(*level, kSection, "level", &name); !s.ok()) return s;
    constexpr std::array<std::pair<std::string_view, LogLevel>, 5> kLevels = {{
        {"debug", LogLevel::kDebug},
        {"info", LogLevel::kInfo},
        {"warn", LogLevel::kWarn},
        {"error", LogLevel::kError},
        {"off", LogLevel::kOff},
    }};
    for (const auto& [text, value] : kLevels) {
      if (name == text) options->level = value;
    }
    if (!options->level) {
      return Error(level->source(), KeyLabel(kSection, "level") + " is '" + Printable(name) +
                                        R"('; it is "debug", "info", "warn" (the default), )"
                                        R"("error" or "off")");
    }
  }
  return Status::OK();
}

Status ConfigReader::ReadMetrics(const toml::table& metrics, MetricsOptions* options) const {
  constexpr std::string_view kSection = "[metrics]";
  if (Status s = CheckKeys(metrics, kSection, kMetricsKeys); !s.ok()) return s;
  const toml::node* listen = metrics.get("listen");
  if (listen == nullptr) return Status::OK();
  std::string text;
  if (Status s = ReadString(*listen, kSection, "listen", &text); !s.ok()) return s;
  // Empty means off, like leaving the key out: a templated config can
  // switch the endpoint off without deleting lines.
  if (!text.empty()) {
    auto address = internal::ParseListenAddress(text);
    if (!address.ok()) {
      return Error(listen->source(), KeyLabel(kSection, "listen") + " is '" + Printable(text) +
                                         "': " + address.status().message());
    }
  }
  options->listen = std::move(text);
  return Status::OK();
}

Status ConfigReader::CheckParticipantName(const toml::node& node, const std::string& name) const {
  const std::string rule = "; a participant name is 1-63 characters of [A-Za-z0-9_-]";
  const std::string label = KeyLabel("[[participants]]", "name");
  if (name.empty()) return Error(node.source(), label + " is empty" + rule);
  if (name.size() > kMaxParticipantNameLength) {
    return Error(node.source(),
                 label + " is " + std::to_string(name.size()) + " bytes long" + rule);
  }
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (!IsParticipantNameChar(c)) {
      return Error(node.source(), label + " contains " + Printable("'" + std::string(1, c) + "'") +
                                      " at offset " + std::to_string(i) + rule);
    }
  }
  return Status::OK();
}

Status ConfigReader::ReadParticipant(const toml::table& table,
                                     ParticipantOptions* participant) const {
  constexpr std::string_view kSection = "[[participants]]";
  if (Status s = CheckKeys(table, kSection, kParticipantKeys); !s.ok()) return s;
  Status status;
  const toml::node* name = Required(table, kSection, "name", &status);
  if (name == nullptr) return status;
  if (Status s = ReadString(*name, kSection, "name", &participant->name); !s.ok()) return s;
  if (Status s = CheckParticipantName(*name, participant->name); !s.ok()) return s;
  if (const toml::node* kind = table.get("kind"); kind != nullptr) {
    std::string value;
    if (Status s = ReadString(*kind, kSection, "kind", &value); !s.ok()) return s;
    if (value == "postgres") {
      participant->kind = ParticipantKind::kPostgres;
    } else if (value == "mariadb") {
      participant->kind = ParticipantKind::kMariaDb;
    } else {
      return Error(kind->source(), KeyLabel(kSection, "kind") + " of participant '" +
                                       participant->name + "' is '" + Printable(value) +
                                       R"('; it is "postgres" (the default) or "mariadb")");
    }
  }
  const toml::node* conninfo = Required(table, kSection, "conninfo", &status);
  if (conninfo == nullptr) return status;
  if (Status s = ReadString(*conninfo, kSection, "conninfo", &participant->conninfo); !s.ok()) {
    return s;
  }
  // libpq would read an empty string as "every setting from the environment",
  // which silently points every such participant at one database.
  if (participant->conninfo.empty()) {
    return Error(conninfo->source(), KeyLabel(kSection, "conninfo") +
                                         " is empty; name at least the database (dbname=...)");
  }
  int64_t max_connections = participant->max_connections;
  if (Status s = ReadInt(table, kSection, "max_connections", {1, 100'000}, &max_connections);
      !s.ok()) {
    return s;
  }
  participant->max_connections = static_cast<int>(max_connections);
  return ReadSessionInit(table, participant);
}

// session_init = ["SET search_path TO app", ...]. Errors name the
// participant (its name is checked by now) and the element's position, never
// the statement itself: it may hold a secret.
Status ConfigReader::ReadSessionInit(const toml::table& table,
                                     ParticipantOptions* participant) const {
  const toml::node* node = table.get("session_init");
  if (node == nullptr) return Status::OK();
  const std::string label =
      "key 'session_init' of participant '" + participant->name + "'";
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    return Error(node->source(), label + " must be an array of strings (SQL statements), not " +
                                     std::string(TypeName(node->type())));
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const std::string where = label + ": element " + std::to_string(i + 1);
    const auto* sql = element.as_string();
    if (sql == nullptr) {
      return Error(element.source(),
                   where + " must be a string, not " + std::string(TypeName(element.type())));
    }
    if (std::string problem = internal::SessionInitProblem(sql->get()); !problem.empty()) {
      return Error(element.source(), where + " " + problem);
    }
    participant->session_init.push_back(sql->get());
  }
  return Status::OK();
}

Status ConfigReader::ReadParticipants(const toml::table& root,
                                      std::vector<ParticipantOptions>* participants) const {
  const toml::node* node = root.get("participants");
  if (node == nullptr) {
    return Error(root.source(),
                 "missing required [[participants]]: name at least one participant");
  }
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    return TypeError(*node, "", "participants", "an array of tables ([[participants]])");
  }
  if (array->empty()) {
    return Error(node->source(), "key 'participants' is empty: name at least one participant");
  }
  // Name -> line of its first definition, to name both lines of a duplicate.
  std::map<std::string, uint32_t> first_line;
  for (const toml::node& element : *array) {
    const toml::table* table = element.as_table();
    if (table == nullptr) {
      return TypeError(element, "", "participants", "an array of tables ([[participants]])");
    }
    ParticipantOptions participant;
    if (Status s = ReadParticipant(*table, &participant); !s.ok()) return s;
    const toml::source_region& where = table->get("name")->source();
    auto [it, inserted] = first_line.emplace(participant.name, where.begin.line);
    if (!inserted) {
      return Error(where, "duplicate participant name '" + participant.name + "'; first defined at " +
                              source_ + ":" + std::to_string(it->second));
    }
    participants->push_back(std::move(participant));
  }
  return Status::OK();
}

Result<CoordinatorOptions> ConfigReader::Read(const toml::table& root) const {
  CoordinatorOptions options;
  if (Status s = CheckKeys(root, "", kTopKeys); !s.ok()) return s;
  if (Status s = ReadTopLevel(root, &options); !s.ok()) return s;
  Status status;
  if (const toml::table* log = SubTable(root, "log", &status); log != nullptr) {
    if (Status s = ReadLog(*log, &options.log); !s.ok()) return s;
  }
  if (!status.ok()) return status;
  if (const toml::table* recovery = SubTable(root, "recovery", &status); recovery != nullptr) {
    if (Status s = ReadRecovery(*recovery, &options.recovery); !s.ok()) return s;
  }
  if (!status.ok()) return status;
  if (const toml::table* logging = SubTable(root, "logging", &status); logging != nullptr) {
    if (Status s = ReadLogging(*logging, &options.logging); !s.ok()) return s;
  }
  if (!status.ok()) return status;
  if (const toml::table* metrics = SubTable(root, "metrics", &status); metrics != nullptr) {
    if (Status s = ReadMetrics(*metrics, &options.metrics); !s.ok()) return s;
  }
  if (!status.ok()) return status;
  if (Status s = ReadParticipants(root, &options.participants); !s.ok()) return s;
  return options;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) {
    return Status::InvalidArgument(path + ": cannot open config file: " + std::strerror(errno));
  }
  std::string text;
  std::array<char, 8192> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), file.get())) > 0) text.append(buf.data(), n);
  // A directory opens fine and fails only on read (EISDIR).
  if (std::ferror(file.get())) {
    return Status::InvalidArgument(path + ": cannot read config file: " + std::strerror(errno));
  }
  return text;
}

// Relative to the config file's directory, made absolute so that the log
// stays the same file if the process changes its working directory later.
std::string ResolveAgainstConfigDir(const std::string& config_path, const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.is_absolute()) return path;
  std::error_code ec;
  fs::path config = fs::absolute(fs::path(config_path), ec);
  if (ec) config = fs::path(config_path);
  return (config.parent_path() / p).lexically_normal().string();
}

constexpr std::string_view kMask = "********";

// libpq keywords whose values are secrets; compared case-insensitively so
// that a misspelt-case keyword, which libpq rejects, is not printed either.
bool IsSecretKeyword(std::string_view keyword) {
  auto equals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
    }
    return true;
  };
  return equals(keyword, "password") || equals(keyword, "sslpassword");
}

bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

size_t SkipSpaces(std::string_view s, size_t i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
  return i;
}

// End of a keyword/value value starting at `begin`, by libpq's rules: either
// single-quoted or up to whitespace, with backslash escaping the next
// character in both. An unterminated quote runs to the end.
size_t ValueEnd(std::string_view s, size_t begin) {
  size_t i = begin;
  if (i < s.size() && s[i] == '\'') {
    for (++i; i < s.size(); ++i) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == '\'') {
        return i + 1;
      }
    }
    return s.size();
  }
  while (i < s.size() && !IsSpace(s[i])) i += s[i] == '\\' ? 2 : 1;
  return std::min(i, s.size());
}

std::string RedactKeywordValue(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t keyword_begin = SkipSpaces(s, i);
    size_t keyword_end = keyword_begin;
    while (keyword_end < s.size() && s[keyword_end] != '=' && !IsSpace(s[keyword_end])) {
      ++keyword_end;
    }
    bool secret = IsSecretKeyword(s.substr(keyword_begin, keyword_end - keyword_begin));
    size_t eq = SkipSpaces(s, keyword_end);
    bool has_eq = eq < s.size() && s[eq] == '=';
    if (!has_eq && !secret) {
      // Malformed (libpq refuses it); go on with the next word.
      out.append(s.substr(i, eq - i));
      i = eq;
      continue;
    }
    // A secret keyword without '=' is malformed too, but its next word is
    // still most likely the password.
    size_t value_begin = has_eq ? SkipSpaces(s, eq + 1) : eq;
    size_t value_end = ValueEnd(s, value_begin);
    out.append(s.substr(i, value_begin - i));
    if (secret && value_end > value_begin) {
      out += kMask;
      // libpq ends a quoted value at its closing quote, so "password='x'host=h"
      // is two settings; the bare mask would swallow "host=h" into the
      // password and the redacted text would mean something else to libpq.
      if (value_end < s.size() && !IsSpace(s[value_end])) out += ' ';
    } else {
      out.append(s.substr(value_begin, value_end - value_begin));
    }
    i = value_end;
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// libpq percent-decodes query keywords, so "pass%77ord" is "password".
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
        HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "?a=1&password=x&b=2": each parameter's value up to the next '&'.
std::string RedactUriQuery(std::string_view query) {
  std::string out;
  size_t i = 0;
  while (i <= query.size()) {
    size_t amp = query.find('&', i);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view param = query.substr(i, amp - i);
    size_t eq = param.find('=');
    if (eq != std::string_view::npos && IsSecretKeyword(PercentDecode(param.substr(0, eq)))) {
      out.append(param.substr(0, eq + 1));
      out += kMask;
    } else {
      out.append(param);
    }
    if (amp == query.size()) break;
    out += '&';
    i = amp + 1;
  }
  return out;
}

// "postgresql://user:secret@host/db?password=secret". libpq ends the
// user:password part at the first '@' before the first '/'; everything from
// the ':' to the last such '@' is masked here instead, so that a password
// with a raw '@' (which libpq misreads, but which is still the user's
// secret) is hidden whole. The query is looked for where libpq looks: after
// the masked part, or after the first '@' when there is no password (a '?'
// inside the user name is part of the user name, one after the '@' starts
// the query even if a later '@' follows).
std::string RedactUri(std::string_view uri, size_t authority_begin) {
  size_t slash = uri.find('/', authority_begin);
  std::string_view authority = uri.substr(authority_begin, slash == std::string_view::npos
                                                               ? std::string_view::npos
                                                               : slash - authority_begin);
  std::string out(uri.substr(0, authority_begin));
  size_t first_at = authority.find('@');
  size_t rest = authority_begin;    // what is copied from here on
  size_t host = authority_begin;    // where libpq's host (then query) begins
  if (first_at != std::string_view::npos) {
    host = authority_begin + first_at;
    size_t colon = authority.substr(0, first_at).find(':');
    if (colon != std::string_view::npos) {
      size_t last_at = authority.rfind('@');
      out.append(authority.substr(0, colon + 1));
      out += kMask;
      rest = host = authority_begin + last_at;
    }
  }
  size_t query = uri.find('?', host);
  if (query == std::string_view::npos) {
    out.append(uri.substr(rest));
    return out;
  }
  out.append(uri.substr(rest, query + 1 - rest));
  out += RedactUriQuery(uri.substr(query + 1));
  return out;
}

// Index just past "postgresql://" or "postgres://", or npos for the
// keyword/value form.
size_t UriAuthorityBegin(std::string_view conninfo) {
  size_t start = SkipSpaces(conninfo, 0);
  for (std::string_view scheme : {std::string_view("postgresql://"),
                                  std::string_view("postgres://")}) {
    if (conninfo.size() - start < scheme.size()) continue;
    bool match = true;
    for (size_t i = 0; i < scheme.size(); ++i) {
      match = match &&
              std::tolower(static_cast<unsigned char>(conninfo[start + i])) == scheme[i];
    }
    if (match) return start + scheme.size();
  }
  return std::string_view::npos;
}

}  // namespace

Result<CoordinatorOptions> ParseConfig(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    // toml++ quotes at most a key or one character of the input, never a
    // value, so its description cannot carry a password.
    return Status::InvalidArgument(std::string(source_name) + ":" +
                                   std::to_string(e.source().begin.line) + ": " +
                                   Printable(e.description()));
  }
  return ConfigReader(source_name).Read(root);
}

Result<CoordinatorOptions> LoadConfigFile(const std::string& path) {
  Result<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.TakeStatus();
  Result<CoordinatorOptions> options = ParseConfig(*text, path);
  if (!options.ok()) return options;
  options->log.path = ResolveAgainstConfigDir(path, options->log.path);
  return options;
}

namespace {

std::string RedactOnce(std::string_view conninfo) {
  size_t authority_begin = UriAuthorityBegin(conninfo);
  if (authority_begin == std::string_view::npos) return RedactKeywordValue(conninfo);
  return RedactUri(conninfo, authority_begin);
}

}  // namespace

// Masking can change how the rest reads: a masked query value may have held
// the '/' that ended the authority, and without it an '@' further on makes
// "user:<text>@" a password (found by fuzz_conninfo). So the text is redacted
// again until a pass finds nothing more; a text that still changes after a
// few passes is hidden whole.
std::string RedactConninfo(std::string_view conninfo) {
  std::string redacted = RedactOnce(conninfo);
  for (int pass = 0; pass < 8; ++pass) {
    std::string again = RedactOnce(redacted);
    if (again == redacted) return redacted;
    redacted = std::move(again);
  }
  return std::string(kMask);
}

}  // namespace twopc
