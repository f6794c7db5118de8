// Recognizes statements that would take a branch's transaction out of
// twopc's hands: COMMIT, ROLLBACK, PREPARE TRANSACTION... sent through
// Execute/Queue they would commit or end one branch on their own, which no
// later abort can undo. Internal.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace twopc::internal {

// If `sql` starts (after whitespace, comments and empty statements) with a
// statement that ends the transaction, starts another one or changes the
// session's transaction defaults, returns its name ("COMMIT", "ROLLBACK",
// "PREPARE TRANSACTION", ...); otherwise nullopt. Refused:
//   COMMIT [AND [NO] CHAIN], END, ROLLBACK [AND [NO] CHAIN], ABORT,
//   BEGIN, START TRANSACTION, PREPARE TRANSACTION, COMMIT PREPARED,
//   ROLLBACK PREPARED, SET SESSION CHARACTERISTICS AS TRANSACTION.
// Allowed, because the branch stays inside its transaction: SAVEPOINT,
// RELEASE [SAVEPOINT], ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT],
// SET TRANSACTION, SET LOCAL, PREPARE name AS ... (a prepared statement).
//
// Only the first statement is looked at: twopc sends every statement with
// the extended query protocol, in which PostgreSQL refuses a string of
// several statements (42601) before running any of them.
std::optional<std::string> TransactionControlStatement(std::string_view sql);

}  // namespace twopc::internal
