// The participant-neutral words of a request: a statement with its
// parameters, the answer to it, and a deadline. Participant kinds (today
// PostgreSQL, participants/pg_connection.h) translate them to their wire
// protocol; the commit protocol and recovery see only these.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "twopc/coordinator.h"

namespace twopc::internal {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

struct Query {
  std::string sql;
  std::vector<std::optional<std::string>> params;
  // End a pipeline segment after this statement (a Sync): the server runs
  // and flushes the results so far before it reads what follows, so they
  // reach the client even if a later statement's answer is lost.
  bool sync_after = false;
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<Rows::Row> rows;
  uint64_t affected = 0;
  std::string command;  // the command tag: "COMMIT", "ROLLBACK", "PREPARE TRANSACTION"...
};

std::vector<std::optional<std::string>> ToTextParams(const std::vector<Param>& params);

}  // namespace twopc::internal
