// A Saga definition as JSON text, stored in the saga log so that a saga
// left unfinished by a crash can be resumed without its caller: the steps,
// their SQL, and their parameters as text or null (the form they are sent to
// PostgreSQL in, so nothing is lost).
//
//   {"format": 1, "name": "transfer", "steps": [
//     {"name": "debit", "participant": "a", "require_rows": true,
//      "action": [{"sql": "UPDATE ...", "params": ["20", "1", null]}],
//      "compensation": [...]}]}
#pragma once

#include <string>

#include "twopc/saga.h"
#include "twopc/status.h"

namespace twopc::internal {

// InvalidArgument if a text is not valid UTF-8 (JSON cannot carry it, and
// PostgreSQL would refuse it as a parameter anyway).
Result<std::string> SagaToJson(const Saga& saga);

// Corruption if `json` is not a saga definition of a known format.
Result<Saga> SagaFromJson(const std::string& json);

}  // namespace twopc::internal
