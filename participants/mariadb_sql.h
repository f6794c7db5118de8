// The SQL text twopc sends to MariaDB: statements with their parameters
// bound, and XA xids, all without ever splicing caller text into SQL.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twopc/gid.h"
#include "twopc/status.h"

namespace twopc::internal {

// "_utf8mb4 X'<hex>'": a string literal in MariaDB's type rules (it compares
// and converts as a quoted string, coercibility 4), made of hex digits only.
std::string MariaDbLiteral(std::string_view value);

// `sql` with each $1...$n placeholder replaced by its parameter's literal
// (NULL for a null one). Placeholders inside quotes, backquoted names and
// comments are left alone, as is a '$' inside a name (`a$1`).
// InvalidArgument when a placeholder has no parameter, or when `sql` holds
// more than one statement (a ';' outside quotes and comments, but trailing
// ones): every Query is one statement, so that each answer is its own.
Result<std::string> BindMariaDbParams(std::string_view sql,
                                      const std::vector<std::optional<std::string>>& params);

// "X'<gtrid hex>',X'<bqual hex>',<format id>": the xid part of XA START,
// XA END, XA PREPARE, XA COMMIT and XA ROLLBACK.
std::string MariaDbXidSql(const Xid& xid);

// The xid of the twopc gid `gid` (ToXid of its parts), checked against
// MariaDB's limits: InvalidArgument when the gtrid or bqual is longer than
// 64 bytes (docs/gid-format.md, "MariaDB XA").
Result<Xid> MariaDbXidOfGid(std::string_view gid);

// The gid an xid listed by XA RECOVER stands for: "<gtrid>.<bqual>" for a
// twopc xid (so that it reads as the same gid PostgreSQL lists), otherwise
// "xa:<format id>:<gtrid hex>:<bqual hex>", which no twopc gid matches.
std::string GidOfMariaDbXid(const Xid& xid);

// The inverse for the foreign form, so that the CLI can name such a branch
// back to XA COMMIT / XA ROLLBACK. InvalidArgument for anything else.
Result<Xid> ForeignMariaDbXid(std::string_view gid);

inline constexpr size_t kMariaDbMaxXidPart = 64;  // MAXGTRIDSIZE, MAXBQUALSIZE

}  // namespace twopc::internal
