#include "recovery/incarnation_check.h"

#include <fmt/format.h>

#include <future>
#include <utility>
#include <vector>

#include "twopc/recovery.h"

namespace twopc::internal {

Status CheckNoNewerIncarnation(
    const std::map<std::string, std::unique_ptr<Participant>, std::less<>>& participants,
    const CoordinatorOptions& options, uint64_t incarnation) {
  // All participants at once: an unreachable one costs one timeout, not one
  // per participant.
  using Rows = Result<std::vector<PreparedXact>>;
  std::vector<std::pair<std::string, std::future<Rows>>> scans;
  Deadline deadline = Clock::now() + options.connect_timeout + std::chrono::seconds(5);
  for (const auto& [name, participant] : participants) {
    auto promise = std::make_shared<std::promise<Rows>>();
    scans.emplace_back(name, promise->get_future());
    participant->Recover(deadline, [promise](Rows rows) { promise->set_value(std::move(rows)); });
  }
  Status refusal;
  for (auto& [name, future] : scans) {
    Rows rows = future.get();  // every future is waited for: the callbacks hold the promises
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
