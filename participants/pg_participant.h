// The PostgreSQL participant: one database, reached through a PgPool.
#pragma once

#include <memory>

#include "common/thread_annotations.h"
#include "participants/participant.h"
#include "participants/pg_pool.h"

namespace twopc::internal {

class PgParticipant : public Participant {
 public:
  PgParticipant(boost::asio::io_context& io, ParticipantOptions options,
                std::chrono::milliseconds connect_timeout);

  const std::string& name() const override { return pool_->options().name; }
  PoolStats pool_stats() const override { return pool_->stats(); }
  void Open(const TransactionOptions& options, const std::string& gid, Deadline deadline,
            std::function<void(Result<std::unique_ptr<Branch>>)> done) override;
  // One pooled connection, one pipeline, a Sync after each statement so
  // that every one stands alone (docs/protocol.md, "Recovery of a backlog").
  void FinishPreparedMany(std::vector<PreparedEnd> ends, Deadline deadline,
                          std::function<void(std::vector<Status>)> done) override;
  void CommitPrepared(const std::string& gid, Deadline deadline,
                      std::function<void(Status)> done) override;
  void RollbackPrepared(const std::string& gid, Deadline deadline,
                        std::function<void(Status)> done) override;
  void Recover(Deadline deadline,
               std::function<void(Result<std::vector<PreparedXact>>)> done) override;
  void CheckReady(Deadline deadline, std::function<void(Status)> done) override;
  void TransactionStatus(uint64_t txid, Deadline deadline,
                         std::function<void(Result<TxidOutcome>)> done) override;
  void EndSession(int session, Deadline deadline, std::function<void(Status)> done) override;
  void EndSessions(const std::string& node_id, IncarnationRange which, Deadline deadline,
                   std::function<void(Result<EndedSessions>)> done) override;
  void Register(const std::string& node_id, uint64_t incarnation, Deadline deadline,
                std::function<void(Status)> done) override TWOPC_EXCLUDES(registry_mutex_);
  void Inspect(Query query, Deadline deadline,
               std::function<void(Result<std::vector<QueryResult>>)> done) override {
    RunPooled(std::move(query), deadline, std::move(done));
  }

 private:
  // Runs one statement on a pooled connection and returns the connection.
  void RunPooled(Query query, Deadline deadline,
                 std::function<void(Result<std::vector<QueryResult>>)> done);
  void FinishPrepared(const char* verb, const std::string& gid, Deadline deadline,
                      std::function<void(Status)> done);

  void DescribeHolder(const std::string& node_id, Deadline deadline, std::function<void(Status)> done);

  std::shared_ptr<PgPool> pool_;
  Mutex registry_mutex_;
  // The registration's own connection (not pooled: it holds a session
  // advisory lock for the life of this participant).
  std::shared_ptr<PgConnection> registry_ TWOPC_GUARDED_BY(registry_mutex_);
};

// A 32-bit xid of a prepared transaction, qualified with its epoch from the
// 64-bit xmax of a snapshot taken at the same time.
uint64_t EpochQualified(uint64_t xid32, uint64_t xmax);

// "COMMIT PREPARED" / "ROLLBACK PREPARED" answered 42704: no such gid.
Status MapPreparedResult(Status s);

}  // namespace twopc::internal
