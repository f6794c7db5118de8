#include "participants/participant.h"

#include <mutex>

namespace twopc::internal {

void Participant::FinishPreparedMany(std::vector<PreparedEnd> ends, Deadline deadline,
                                     std::function<void(std::vector<Status>)> done) {
  if (ends.empty()) return done({});
  // The answers arrive on any thread, in any order: the last one calls done.
  struct Batch {
    std::mutex mutex;
    std::vector<Status> statuses;
    size_t remaining;
    std::function<void(std::vector<Status>)> done;
  };
  auto batch = std::make_shared<Batch>();
  batch->statuses.resize(ends.size());
  batch->remaining = ends.size();
  batch->done = std::move(done);
  for (size_t i = 0; i < ends.size(); ++i) {
    auto answer = [batch, i](Status s) {
      std::unique_lock lock(batch->mutex);
      batch->statuses[i] = std::move(s);
      if (--batch->remaining > 0) return;
      lock.unlock();
      batch->done(std::move(batch->statuses));
    };
    if (ends[i].decision == Decision::kCommit) {
      CommitPrepared(ends[i].gid, deadline, std::move(answer));
    } else {
      RollbackPrepared(ends[i].gid, deadline, std::move(answer));
    }
  }
}

}  // namespace twopc::internal
