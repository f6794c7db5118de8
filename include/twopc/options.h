// Options: plain structs, every field with a default and what it costs.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twopc/logging.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace twopc {

class Tracer;  // twopc/tracing.h

// One participant = one PostgreSQL *database*: COMMIT PREPARED must run in the
// database where the branch was prepared.
// What kind of database a participant is (docs/configuration.md).
enum class ParticipantKind {
  kPostgres,  // PostgreSQL: PREPARE TRANSACTION / COMMIT PREPARED (the default)
  kMariaDb,   // MariaDB >= 10.5: XA START ... XA PREPARE / XA COMMIT
};

struct ParticipantOptions {
  // Unique name the application uses to address this participant ("orders").
  std::string name;
  // Connection string, libpq's key=value style for both kinds (MariaDB takes
  // host, port, user, password, dbname, connect_timeout; a host starting
  // with '/' is its unix socket). It may hold a password; twopc never logs it
  // (see RedactConninfo) -- prefer a ~/.pgpass file or PGPASSFILE anyway.
  std::string conninfo;
  // Upper bound of pooled connections to this participant. A transaction
  // holds one connection per participant it touches until it ends, so this
  // caps the number of concurrent transactions touching the participant.
  int max_connections = 64;
  // Statements run on every new connection right after it is opened, and
  // again after every reset: the session settings the application's SQL
  // relies on, e.g. {"SET search_path TO app, public"}. A connection that ran
  // a transaction's statements is reset (DISCARD ALL) before it is reused, so
  // that nothing one transaction did to its session (SET, advisory locks,
  // temp tables...) reaches the next; SET them here instead. They run in one
  // round trip outside any transaction. One the server refuses is an
  // InvalidArgument error naming the participant and the statement's
  // position (Coordinator::Open fails with it). They must not set
  // application_name: twopc names its connections itself.
  std::vector<std::string> session_init;
  // Set by twopc, not by the config: the application_name of every
  // connection to this participant, "twopc.<node_id>.<incarnation>". It is
  // how recovery finds, and ends, the sessions of a coordinator process that
  // died (docs/protocol.md, "Sessions of a dead coordinator"); a value set
  // here by the application is overwritten.
  std::string application_name;
  // PostgreSQL (the default) or MariaDB; config key `kind`.
  ParticipantKind kind = ParticipantKind::kPostgres;
};

// Where the coordinator keeps its decisions (docs/protocol.md).
enum class LogStore {
  // The embedded SQLite log at LogOptions::path: one file per node, a forced
  // COMMIT record per two-phase transaction.
  kSqlite,
  // Rows in a `twopc` schema of every participant database: the COMMIT row
  // is inserted by the deciding branch's own local transaction (logging last
  // resource). No local file; any number of coordinator processes may share
  // one config, and any of them, or the CLI from any host, can recover any
  // transaction (docs/protocol.md, "Decisions inside PostgreSQL").
  kPostgres,
};

struct LogOptions {
  // The embedded SQLite decision log (store = kSqlite only). Created with mode 0600 if missing
  // (see create_if_missing).
  std::string path = "twopc-decisions.db";
  // How long the log writer waits for more COMMIT records to join a batch
  // before forcing it. 0 = force as soon as the writer is free; concurrent
  // records still share one fsync because they queue while it runs.
  std::chrono::microseconds group_commit_window{0};
  // Upper bound of records forced together in one fsync.
  int max_batch = 1024;
  // Whether opening creates the log when `path` does not exist (or is an
  // empty file: what a first start that crashed before writing the schema
  // leaves). True for a coordinator: it creates its node's log on first use.
  // Operator tools (RecoveryManager, the `twopc` CLI) never create one: a
  // mistyped or wrongly resolved path would otherwise give them an empty log,
  // and an empty log presumes abort for transactions whose COMMIT is durable
  // in the real one.
  bool create_if_missing = true;
  // [log] store = "sqlite" | "postgres". Last, so that `{path}` still
  // initializes the SQLite log's options.
  LogStore store = LogStore::kSqlite;
};

struct RecoveryOptions {
  // How often the coordinator runs a recovery pass in the background
  // (completing decisions without END, fencing and rolling back orphans it
  // left). 0 disables the background pass; the pass at Open always runs.
  std::chrono::milliseconds interval{10000};
  // While the coordinator has transactions in flight, its pass sends
  // COMMIT/ROLLBACK PREPARED one at a time with this pause after each, so
  // that recovery does not take throughput away from them. Without any in
  // flight, a pass runs batched at full speed (docs/protocol.md, "Recovery
  // of a backlog").
  std::chrono::microseconds pace{1000};
  // Undecided branches of this very process older than this are fenced even
  // if it still counts them in flight (a stuck caller). 0 = never.
  std::chrono::seconds live_grace{0};
};

// Prometheus metrics (docs/operations.md, "Metrics"). Off by default: with
// neither field set, the coordinator still counts (a Coordinator::metrics()
// registry the application may expose itself) but opens no port.
struct MetricsOptions {
  // "host:port" where GET /metrics is served, e.g. "127.0.0.1:9464"; port 0
  // picks a free one (Coordinator::metrics_endpoint() says which). Empty:
  // no endpoint. Config: [metrics] listen.
  std::string listen;
  // The application's own registry: twopc adds its metric families to it
  // instead of to a registry of its own, so that they are served by the
  // application's existing exposer. Not from the config file.
  std::shared_ptr<prometheus::Registry> registry;
};

// twopc's log output, process-wide (twopc/logging.h). Applied when a
// Coordinator opens; unset fields leave the current setting alone.
// Config: [logging] format = "text" | "json", level = "debug" | ... | "off".
struct LoggingOptions {
  std::optional<LogFormat> format;
  std::optional<LogLevel> level;
};

struct CoordinatorOptions {
  // Stable identity of this coordinator; part of every gid it generates.
  // 1-32 characters of [A-Za-z0-9-]. Two coordinators must never share one.
  std::string node_id;
  LogOptions log;
  RecoveryOptions recovery;
  std::vector<ParticipantOptions> participants;
  // Threads that drive the non-blocking libpq connections and the protocol.
  // One is plenty for dozens of participants; more helps only when the
  // coordinator's own CPU is the bottleneck.
  int io_threads = 1;
  // Connecting to a participant gives up after this long.
  std::chrono::milliseconds connect_timeout{5000};
  // Deadline of a transaction whose TransactionOptions leave it at zero.
  std::chrono::milliseconds default_deadline{30000};
  // COMMIT PREPARED that fails (connection lost, server restarting) is retried
  // with exponential backoff from `complete_retry_initial` up to
  // `complete_retry_max` between tries (full jitter: each pause is uniform in
  // [0, that ceiling]), for `complete_retry_for` in total;
  // after that the COMMIT record stays without END and recovery completes it.
  std::chrono::milliseconds complete_retry_initial{20};
  std::chrono::milliseconds complete_retry_max{2000};
  std::chrono::milliseconds complete_retry_for{60000};
  // Refuse to open when a participant has max_prepared_transactions = 0.
  bool check_max_prepared_transactions = true;
  MetricsOptions metrics;
  LoggingOptions logging;
  // Called at the start and end of every protocol phase (twopc/tracing.h),
  // e.g. to bridge to OpenTelemetry. Null: no tracing.
  std::shared_ptr<Tracer> tracer;
};

enum class IsolationLevel { kReadCommitted, kRepeatableRead, kSerializable };

struct TransactionOptions {
  // Whole-transaction deadline: work, prepare and the decision must finish in
  // it or the transaction aborts (a participant that does not answer cannot
  // hang the caller). Zero = CoordinatorOptions::default_deadline.
  std::chrono::milliseconds deadline{0};
  IsolationLevel isolation = IsolationLevel::kReadCommitted;
  // Return from Commit() as soon as the COMMIT decision is durable and run
  // COMMIT PREPARED in the background. Saves one round trip of latency; the
  // caller's next transaction may not yet see this one's writes on a branch.
  bool early_ack = false;
  // Server-side limits set on every branch (SET LOCAL); zero leaves the
  // server's setting alone.
  std::chrono::milliseconds statement_timeout{0};
  std::chrono::milliseconds lock_timeout{0};
};

}  // namespace twopc
