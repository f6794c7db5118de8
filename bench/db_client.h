// The bench's own blocking connections (setup, auditors, final checks) to a
// participant of either kind: PostgreSQL through the library's PgClient,
// MariaDB through Connector/C's blocking API. They run beside the system
// under test, never through it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/pg_client.h"
#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc::bench {

class DbClient {
 public:
  // A PgClient or a MariaDB connection, by `participant.kind`.
  static Result<std::unique_ptr<DbClient>> Connect(const ParticipantOptions& participant,
                                                   PgClientTimeouts timeouts);
  virtual ~DbClient() = default;

  virtual ParticipantKind kind() const = 0;
  bool is_mariadb() const { return kind() == ParticipantKind::kMariaDb; }

  // Runs `sql`, which may hold several statements separated by ';'; every
  // result is read and dropped.
  virtual Status Exec(const std::string& sql) = 0;
  // Rows of a single statement without parameters, values as text.
  virtual Result<std::vector<TextRow>> Query(const std::string& sql) = 0;
  // The first row as integers (SQL NULL reads as 0). As on PgClient, in two
  // halves so that one thread can have several servers take their snapshots
  // at (nearly) the same instant. REQUIRES: Receive after Send.
  virtual Status SendQuery(const std::string& sql) = 0;
  virtual Result<std::vector<int64_t>> ReceiveInts() = 0;
  Result<std::vector<int64_t>> QueryInts(const std::string& sql) {
    if (Status s = SendQuery(sql); !s.ok()) return s;
    return ReceiveInts();
  }

  virtual void set_statement_timeout(std::chrono::milliseconds timeout) = 0;
  virtual std::chrono::milliseconds statement_timeout() const = 0;

  // Prepared branches of gids starting "tpc1.<node_id>." on this database.
  virtual Result<int64_t> CountPrepared(const std::string& node_id) = 0;
};

}  // namespace twopc::bench
