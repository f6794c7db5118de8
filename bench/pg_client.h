// PgClient: one blocking libpq connection of the benchmark's own.
//
// The bench reads and resets the databases *beside* the system under test:
// table setup, the auditors (one read per database, as a user would) and the
// final checks. In crash mode the coordinator lives in a child process, so
// these reads cannot go through a Coordinator anyway. Never used for the
// measured operations.
//
// Thread-safety: one thread at a time per PgClient.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twopc/status.h"

typedef struct pg_conn PGconn;

namespace twopc::bench {

using TextRow = std::vector<std::optional<std::string>>;

class PgClient {
 public:
  // `name` appears in errors (the participant name); the conninfo never does.
  static Result<std::unique_ptr<PgClient>> Connect(const std::string& name,
                                                   const std::string& conninfo);
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

  const std::string& name() const { return name_; }

 private:
  PgClient(std::string name, PGconn* conn) : name_(std::move(name)), conn_(conn) {}
  Status Error(const char* what, const void* result) const;

  std::string name_;
  PGconn* conn_;
};

}  // namespace twopc::bench
