// PgClient: one blocking libpq connection, for work that runs on a thread
// of its own rather than on the coordinator's I/O threads: the decision
// store kept in PostgreSQL (decision_log/pg_decision_log.h), whose callers
// are recovery passes, operator tools and its own deleter thread, and the
// benchmark's setup, auditors and final checks.
//
// Every call is bounded: connecting by the config's connect_timeout_ms, each
// statement by a deadline, so that a server that accepts connections but
// never answers makes the bench fail with a clear error instead of hanging.
// A statement past its deadline closes the connection; later calls fail.
//
// Thread-safety: one thread at a time per PgClient.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twopc/options.h"
#include "twopc/status.h"

using PGconn = struct pg_conn;

namespace twopc::internal {

using TextRow = std::vector<std::optional<std::string>>;

struct PgClientTimeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds statement{30000};
};

// The config's connect_timeout_ms, and its default_deadline_ms for each
// statement: what the library itself allows a participant.
PgClientTimeouts TimeoutsOf(const CoordinatorOptions& options);

class PgClient {
 public:
  // `name` appears in errors (the participant name); the conninfo never does.
  // A non-empty `application_name` overrides one in the conninfo.
  static Result<std::unique_ptr<PgClient>> Connect(const std::string& name,
                                                   const std::string& conninfo,
                                                   PgClientTimeouts timeouts,
                                                   const std::string& application_name = "");
  ~PgClient();

  PgClient(const PgClient&) = delete;
  PgClient& operator=(const PgClient&) = delete;

  // Runs `sql`, which may hold several statements when `params` is empty.
  Status Exec(const std::string& sql);

  // Rows of a single statement, values as text (SQL NULL = nullopt).
  Result<std::vector<TextRow>> Query(const std::string& sql,
                                     const std::vector<std::string>& params = {});

  // The first row as integers (SQL NULL reads as 0, for sum() of no rows).
  Result<std::vector<int64_t>> QueryInts(const std::string& sql);

  // QueryInts in two halves, so that one thread can have several servers
  // take their snapshots at (nearly) the same instant: Send on every
  // connection first, then Receive on each. REQUIRES: Receive after Send.
  Status SendQuery(const std::string& sql);
  Result<std::vector<int64_t>> ReceiveInts();

  // The deadline of each later statement (setup statements may need longer
  // than reads).
  void set_statement_timeout(std::chrono::milliseconds timeout) { statement_timeout_ = timeout; }
  std::chrono::milliseconds statement_timeout() const { return statement_timeout_; }

  const std::string& name() const { return name_; }
  // False once the connection was closed after a timeout or found broken:
  // every later call fails, so the owner should connect again.
  bool usable() const;

 private:
  using Clock = std::chrono::steady_clock;

  PgClient(std::string name, PGconn* conn, std::chrono::milliseconds statement_timeout)
      : name_(std::move(name)), conn_(conn), statement_timeout_(statement_timeout) {}
  Status Error(const char* what, const void* result) const;
  // Sent? Then waits (up to the deadline) until every result of the
  // statement has arrived; closes the connection if the deadline passes.
  Status Await(Clock::time_point deadline);
  // Every result of the statement just sent; `*failure` holds the first error.
  std::vector<TextRow> Collect(const char* what, Status* failure);

  std::string name_;
  PGconn* conn_;  // nullptr once closed after a timeout
  std::chrono::milliseconds statement_timeout_;
  Clock::time_point pending_deadline_{};  // of the statement SendQuery sent
};

}  // namespace twopc::internal
