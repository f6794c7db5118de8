// twopc_saga_applied: the idempotency keys of saga steps, one table in each
// participant, written in the step's own local transaction (saga.h).
//
//   twopc_saga_applied(saga_id text, step int, direction text,
//                      applied_at timestamptz, PRIMARY KEY (saga_id, step, direction))
//
// direction is 'forward' for an action and 'compensate' for a compensation.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "common/thread_annotations.h"
#include "twopc/coordinator.h"

namespace twopc::internal {

inline constexpr const char* kSagaDirectionForward = "forward";
inline constexpr const char* kSagaDirectionCompensate = "compensate";

// $1 saga id, $2 step (0-based), $3 direction. affected() == 0 means the key
// was there already: that step and direction were applied before.
inline constexpr const char* kInsertSagaKey =
    "INSERT INTO twopc_saga_applied(saga_id, step, direction) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING";
// The same on MariaDB (no ON CONFLICT; a $n is a string literal there). An
// update that changes nothing counts 0 affected rows (twopc's connections do
// not set CLIENT_FOUND_ROWS), so a key that was there reads as affected() == 0.
inline constexpr const char* kInsertSagaKeyMariaDb =
    "INSERT INTO twopc_saga_applied(saga_id, step, direction) VALUES ($1, CAST($2 AS SIGNED), $3) "
    "ON DUPLICATE KEY UPDATE saga_id = saga_id";
// MariaDB refuses DDL inside an XA branch (docs/protocol.md, "MariaDB
// participants", rule 5), and every statement twopc sends it runs in one:
// on a MariaDB participant the table must be created beforehand, with this.
inline constexpr const char* kCreateSagaAppliedMariaDb =
    "CREATE TABLE IF NOT EXISTS twopc_saga_applied("
    " saga_id varchar(255) NOT NULL,"
    " step int NOT NULL,"
    " direction varchar(16) NOT NULL,"
    " applied_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
    " PRIMARY KEY (saga_id, step, direction)) ENGINE=InnoDB";

// True when the coordinator's participant `name` is of kind "mariadb".
bool IsMariaDbParticipant(const Coordinator& coordinator, const std::string& name);

// Creates the table on each participant the first time this process runs a
// step there (on MariaDB only checks that it exists: kCreateSagaAppliedMariaDb). Thread-safe; concurrent first steps on one participant wait
// for one creation.
class AppliedTables {
 public:
  explicit AppliedTables(Coordinator& coordinator) : coordinator_(coordinator) {}

  // OK once the table exists on `participant`. A failure is the creating
  // transaction's (e.g. Unavailable), and the next call tries again.
  Status Ensure(const std::string& participant, std::chrono::milliseconds deadline);

 private:
  struct Entry {
    Mutex mu;       // held while creating, so only one thread creates
    bool ready TWOPC_GUARDED_BY(mu) = false;
  };

  Entry& EntryFor(const std::string& participant);
  Status Create(const std::string& participant, std::chrono::milliseconds deadline);

  Coordinator& coordinator_;
  Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ TWOPC_GUARDED_BY(mu_);
};

}  // namespace twopc::internal
