#include "recovery/commit_completer.h"

#include <spdlog/spdlog.h>

#include <atomic>

namespace twopc::internal {
namespace {

struct PassState {
  std::function<void(CompletionPass)> done;
  std::mutex mutex;
  CompletionPass result;  // GUARDED_BY(mutex)
  std::atomic<size_t> records_left{0};
};

void FinishRecord(const std::shared_ptr<PassState>& pass, CoordinatorImpl* core,
                  const DecisionRecord& record, bool all_done, const Status& error) {
  if (all_done) {
    core->log->End(record.gtrid);
    spdlog::info("twopc: completed {} ({}) left by an earlier run", record.gtrid,
                 DecisionName(record.decision));
  }
  {
    std::lock_guard lock(pass->mutex);
    (all_done ? pass->result.completed : pass->result.pending)++;
    if (!error.ok() && pass->result.first_error.ok()) pass->result.first_error = error;
  }
  if (pass->records_left.fetch_sub(1) == 1) pass->done(pass->result);
}

void CompleteRecord(const std::shared_ptr<PassState>& pass, CoordinatorImpl* core,
                    DecisionRecord record) {
  struct RecordState {
    std::atomic<size_t> left;
    std::atomic<bool> all_done{true};
    std::mutex mutex;
    Status error;
  };
  auto rs = std::make_shared<RecordState>();
  rs->left = record.branches.size();
  auto shared_record = std::make_shared<DecisionRecord>(std::move(record));
  if (shared_record->branches.empty()) return FinishRecord(pass, core, *shared_record, true, {});
  Deadline deadline = Clock::now() + core->options.default_deadline;
  for (const BranchRef& ref : shared_record->branches) {
    auto on_done = [pass, core, rs, shared_record, ref](Status s) {
      if (!s.ok() && !s.IsNotFound()) {
        rs->all_done = false;
        spdlog::warn("twopc: cannot complete {} on {} yet: {}", ref.gid, ref.participant, s.ToString());
        std::lock_guard lock(rs->mutex);
        if (rs->error.ok()) rs->error = s;
      }
      if (rs->left.fetch_sub(1) == 1) {
        std::lock_guard lock(rs->mutex);
        FinishRecord(pass, core, *shared_record, rs->all_done, rs->error);
      }
    };
    Participant* p = core->FindParticipant(ref.participant);
    if (p == nullptr) {
      on_done(Status::InvalidArgument("the log names participant '" + ref.participant +
                                      "', which is not in the configuration"));
    } else if (shared_record->decision == Decision::kCommit) {
      p->CommitPrepared(ref.gid, deadline, on_done);
    } else {
      p->RollbackPrepared(ref.gid, deadline, on_done);
    }
  }
}

}  // namespace

void RunCompletionPass(CoordinatorImpl* core, std::function<void(CompletionPass)> done) {
  auto unended = core->log->Unended();
  if (!unended.ok()) {
    CompletionPass r;
    r.first_error = unended.status();
    return done(r);
  }
  std::vector<DecisionRecord> todo;
  for (auto& rec : unended.value()) {
    if (!core->IsCompleting(rec.gtrid)) todo.push_back(std::move(rec));
  }
  auto pass = std::make_shared<PassState>();
  pass->done = std::move(done);
  if (todo.empty()) return pass->done(pass->result);
  pass->records_left = todo.size();
  for (auto& rec : todo) CompleteRecord(pass, core, std::move(rec));
}

}  // namespace twopc::internal
