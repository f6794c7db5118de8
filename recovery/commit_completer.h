// Completes decisions that were made but not carried out: every decision
// record without END gets COMMIT PREPARED (or ROLLBACK PREPARED for an ABORT
// record) on each of its branches, then END.
//
// A branch that is no longer prepared (NotFound) was already completed: a
// crash between COMMIT PREPARED and END, or a lost answer, leaves exactly that.
// A participant that cannot be reached keeps the record open for the next
// pass; it is never counted as done.
#pragma once

#include <functional>

#include "coordinator/coordinator_impl.h"

namespace twopc::internal {

struct CompletionPass {
  int completed = 0;  // records that got their END in this pass
  int pending = 0;    // records still without END (a branch unreachable...)
  Status first_error;
};

// Runs one pass over core->log's unended records, skipping those this
// process is completing right now. `done` runs on an I/O thread.
void RunCompletionPass(CoordinatorImpl* core, std::function<void(CompletionPass)> done);

}  // namespace twopc::internal
