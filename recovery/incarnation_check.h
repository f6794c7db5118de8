// The coordinator's start-up check that its decision log is the node's real
// one (docs/operations.md, "A missing or empty decision log").
// Internal.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "participants/participant.h"
#include "twopc/options.h"
#include "twopc/status.h"

namespace twopc::internal {

// Fails when a participant holds a prepared branch of `options.node_id`
// whose incarnation is not older than `incarnation`, the one this start got
// from its log. Every incarnation handed out by a log is bumped at open, so
// such a branch cannot come from this log: it was prepared by a process
// writing another log for the same node id (a config copied elsewhere with a
// relative path, a mistyped path, a restored backup). Recovery would then
// presume abort for transactions whose COMMIT is durable in that other log:
// refusing to start is the only safe answer. Unreachable participants are
// skipped (the caller already warned about them). Blocking; InvalidArgument
// names the participant, gid, both incarnations and the log's path.
Status CheckNoNewerIncarnation(
    const std::map<std::string, std::unique_ptr<Participant>, std::less<>>& participants,
    const CoordinatorOptions& options, uint64_t incarnation);

}  // namespace twopc::internal
