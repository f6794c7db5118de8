#include "recovery/incarnation_check.h"

#include <fmt/format.h>

#include <utility>
#include <vector>

#include "common/wait.h"
#include "twopc/recovery.h"

namespace twopc::internal {

Status CheckNoNewerIncarnation(
    const std::map<std::string, std::unique_ptr<Participant>, std::less<>>& participants,
    const CoordinatorOptions& options, uint64_t incarnation) {
  // All participants at once: an unreachable one costs one timeout, not one
  // per participant.
  using Rows = Result<std::vector<PreparedXact>>;
  std::vector<std::pair<std::string, Answer<Rows>>> scans;
  Deadline deadline = Clock::now() + options.connect_timeout + std::chrono::seconds(5);
  for (const auto& [name, participant] : participants) {
    auto& [_, answer] = scans.emplace_back(name, Answer<Rows>());
    participant->Recover(deadline, answer.Callback());
  }
  Status refusal;
  for (auto& [name, answer] : scans) {
    Rows rows = answer.Wait();  // every answer is waited for, even after a refusal
    if (!rows.ok() || !refusal.ok()) continue;
    for (const PreparedXact& x : *rows) {
      ClassifiedGid c = ClassifyGid(x.gid, options.node_id);
      if (c.kind != GidKind::kThisNode || c.parts->incarnation < incarnation) continue;
      refusal = Status::InvalidArgument(fmt::format(
          "participant {} holds prepared branch {} of node {} incarnation {}, newer than this "
          "log's incarnation {} ({}): is another log in use for node {}?",
          name, x.gid, options.node_id, c.parts->incarnation, incarnation, options.log.path,
          options.node_id));
      break;
    }
  }
  return refusal;
}

}  // namespace twopc::internal
