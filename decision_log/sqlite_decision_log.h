// Internal entry points of the embedded SQLite decision log (the public ones
// are in include/twopc/decision_log.h).
#pragma once

#include <memory>
#include <string>

#include "twopc/decision_log.h"
#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc::internal {

// OpenSqliteDecisionLog, with every file access going through the SQLite VFS
// named `vfs` (nullptr: the default one). Tests register a VFS that wraps the
// default one to count fsyncs or to fail writes as a full disk would, the way
// LevelDB's fault-injection tests wrap its Env.
Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLogWithVfs(const LogOptions& options,
                                                                  const char* vfs);

// OpenSqliteDecisionLogReadOnly, holding the log's lock for the life of the
// returned log when `lock` (Busy if a coordinator holds it): what `twopc
// recover --dry-run` needs to report exactly what a real pass would fence,
// without bumping the incarnation or writing anything. `vfs` as above.
Result<std::unique_ptr<DecisionLog>> OpenSqliteDecisionLogReadOnly(const std::string& path,
                                                                   bool lock, const char* vfs);

}  // namespace twopc::internal
