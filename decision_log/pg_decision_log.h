// The decision store kept inside the participant databases (store =
// "postgres"; docs/protocol.md, "Decisions inside PostgreSQL").
//
// Each participant holds the decisions of the transactions it decided in
// twopc.decisions. The COMMIT row is never written here: the decider's own
// transaction inserts it (commit_protocol.cc), so that its work and the
// decision commit together. This class reads the rows, writes the ABORT
// fences of recovery, deletes rows that may go, keeps the heuristic records
// and the registrations: a coordinator holds an advisory lock keyed on its
// incarnation on a registry connection (the first participant) for as long
// as it lives, and another process concludes it is gone only by taking that
// lock (ClaimIfGone).
//
// Blocking: every call may wait on a participant. Its callers are recovery
// passes, operator tools, the coordinator's slow-path thread, and its own
// deleter thread -- never an I/O thread.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"
#include "storage/pg_client.h"
#include "twopc/decision_log.h"

namespace twopc::internal {

class PgDecisionLog : public DecisionLog {
 public:
  enum class Role {
    kCoordinator,  // creates the schema, draws an incarnation, registers it
    kOperator,     // creates and registers nothing; incarnation 0
  };
  static Result<std::unique_ptr<PgDecisionLog>> Open(const CoordinatorOptions& options, Role role);

  // Deletes what End() queued (as far as the participants answer), then
  // closes every connection, which releases the registration and the claims.
  ~PgDecisionLog() override;

  uint64_t incarnation() const override { return incarnation_; }
  // ABORT fences only: a COMMIT decision is the decider's own transaction
  // (InvalidArgument here).
  void DecideAsync(DecisionRecord record, std::function<void(Status)> done) override;
  // Fences only, like DecideAsync: one INSERT per decider for up to
  // kFencesPerStatement records (one commit, one WAL flush).
  std::vector<Status> DecideMany(std::vector<DecisionRecord> records) override;
  void End(const std::string& gtrid) override;
  Result<std::optional<DecisionRecord>> Lookup(const std::string& gtrid) override;
  Result<std::vector<DecisionRecord>> Unended() override;
  Result<std::vector<DecisionRecord>> All() override;
  Result<uint64_t> Compact() override;
  Status RecordHeuristic(const HeuristicRecord& record) override;
  Result<std::vector<HeuristicRecord>> Heuristics() override;
  Result<uint64_t> ForgetHeuristic(const std::string& key) override;
  Result<std::vector<std::string>> Verify() override;
  Status Flush() override;
  LogStats stats() const override;

  bool shared() const override { return true; }
  Result<std::optional<DecisionRecord>> LookupForGid(const std::string& gid) override;
  std::vector<Result<std::optional<DecisionRecord>>> LookupManyForGids(
      const std::vector<std::string>& gids) override;
  Result<bool> ClaimIfGone(uint64_t incarnation) override;
  void ReleaseClaims() override;
  Status Reregister() override;
  bool registered() const override { return registered_.load(); }

  // "node-a.17@host:pid", what the COMMIT rows of this process say.
  const std::string& coordinator_label() const { return label_; }

 private:
  // One blocking connection to a participant, (re)connected on demand.
  struct Session {
    std::string name, conninfo;
    Mutex mutex;
    std::unique_ptr<PgClient> client TWOPC_GUARDED_BY(mutex);
    bool schema_ready TWOPC_GUARDED_BY(mutex) = false;
  };

  PgDecisionLog(const CoordinatorOptions& options, Role role);
  Status Start();

  Session* FindSession(const std::string& participant);
  // Runs `fn` on `s`'s connection, connecting (and setting up the schema)
  // first if needed; a connection that failed is dropped so that the next
  // call connects again.
  template <class T>
  Result<T> With(Session& s, const std::function<Result<T>(PgClient&)>& fn) TWOPC_EXCLUDES(s.mutex);
  Status Connect(Session& s) TWOPC_REQUIRES(s.mutex);
  Status EnsureSchema(Session& s) TWOPC_REQUIRES(s.mutex);
  Status DrawIncarnation();
  // Every row of every reachable participant. `*failed` counts the others.
  Result<std::vector<DecisionRecord>> ReadAll(int* failed);
  Status Fence(const DecisionRecord& record);
  // Fences records[i] for i in `which` (all naming `s` as their decider) in
  // one statement; the answers go to (*out)[i].
  void FenceMany(Session& s, const std::vector<DecisionRecord>& records,
                 const std::vector<size_t>& which, std::vector<Status>* out);
  void DeleteLoop();
  // Deletes the rows of `gtrids` that may go, at every participant.
  void DeleteEnded(const std::vector<std::string>& gtrids);

  const CoordinatorOptions options_;
  const Role role_;
  PgClientTimeouts timeouts_;
  std::string app_name_;
  std::vector<std::unique_ptr<Session>> sessions_;  // config order; [0] is the registry
  // The registry connection that holds this process's registration and its
  // claims (session advisory locks: they end with the connection).
  Session registration_;
  std::set<uint64_t> claims_ TWOPC_GUARDED_BY(registration_.mutex);
  uint64_t incarnation_ = 0;
  std::string label_;
  std::atomic<bool> registered_{true};
  std::atomic<uint64_t> fences_{0};
  std::atomic<uint64_t> fence_statements_{0};  // the commits that wrote them

  Mutex queue_mutex_;
  CondVar queue_cv_;      // work queued, or stopping
  CondVar drained_cv_;    // a batch finished
  std::vector<std::string> to_delete_ TWOPC_GUARDED_BY(queue_mutex_);
  uint64_t queued_ TWOPC_GUARDED_BY(queue_mutex_) = 0;   // End() calls so far
  uint64_t deleted_ TWOPC_GUARDED_BY(queue_mutex_) = 0;  // of them, handled
  bool stopping_ TWOPC_GUARDED_BY(queue_mutex_) = false;
  std::thread deleter_;
};

}  // namespace twopc::internal
