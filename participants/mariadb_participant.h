// The MariaDB participant: one database on a MariaDB (>= 10.5) server,
// enlisted through XA (docs/protocol.md, "MariaDB participants").
//
// Behind the same Participant interface as PostgreSQL, so the commit
// protocol and recovery do not know which kind they talk to:
//   Open / Execute   -> XA START <xid>, the statements
//   Prepare          -> XA END, XA PREPARE              (one round trip)
//   CommitOnePhase   -> XA END, XA COMMIT ... ONE PHASE (one round trip)
//   Commit/RollbackPrepared -> XA COMMIT / XA ROLLBACK
//   Recover          -> XA RECOVER
// The xid is the branch's gid split as ToXid() does (docs/gid-format.md,
// "MariaDB XA"), so the gid is needed at Open: a MariaDB participant works
// with the SQLite decision log, where gids are known before the first
// statement.
#pragma once

#include <memory>

#include "common/thread_annotations.h"
#include "participants/mariadb_connection.h"
#include "participants/participant.h"

namespace twopc::internal {

class MariaDbPool;

class MariaDbParticipant : public Participant {
 public:
  MariaDbParticipant(boost::asio::io_context& io, ParticipantOptions options,
                     std::chrono::milliseconds connect_timeout);
  ~MariaDbParticipant() override;

  const std::string& name() const override;
  PoolStats pool_stats() const override;
  ParticipantKind kind() const override { return ParticipantKind::kMariaDb; }
  void Open(const TransactionOptions& options, const std::string& gid, Deadline deadline,
            std::function<void(Result<std::unique_ptr<Branch>>)> done) override;
  void CommitPrepared(const std::string& gid, Deadline deadline,
                      std::function<void(Status)> done) override;
  void RollbackPrepared(const std::string& gid, Deadline deadline,
                        std::function<void(Status)> done) override;
  void Recover(Deadline deadline,
               std::function<void(Result<std::vector<PreparedXact>>)> done) override;
  void Inspect(Query query, Deadline deadline,
               std::function<void(Result<std::vector<QueryResult>>)> done) override;
  // MariaDB cannot tell what became of a transaction by its id: kUnknown.
  void TransactionStatus(uint64_t txid, Deadline deadline,
                         std::function<void(Result<TxidOutcome>)> done) override;
  void EndSession(int session, Deadline deadline, std::function<void(Status)> done) override;
  void EndSessions(const std::string& node_id, IncarnationRange which, Deadline deadline,
                   std::function<void(Result<EndedSessions>)> done) override;
  void Register(const std::string& node_id, uint64_t incarnation, Deadline deadline,
                std::function<void(Status)> done) override TWOPC_EXCLUDES(registry_mutex_);
  void CheckReady(Deadline deadline, std::function<void(Status)> done) override;

 private:
  void RunPooled(std::vector<Query> queries, Deadline deadline,
                 std::function<void(Result<std::vector<QueryResult>>)> done);
  void FinishPrepared(const char* verb, const std::string& gid, Deadline deadline,
                      std::function<void(Status)> done);
  // Polls the processlist until none of `ids` is there (KILL returns before
  // the session is gone).
  void AwaitGone(std::vector<uint64_t> ids, Deadline deadline, std::function<void(Status)> done);

  std::shared_ptr<MariaDbPool> pool_;
  Mutex registry_mutex_;
  std::shared_ptr<MariaDbConnection> registry_ TWOPC_GUARDED_BY(registry_mutex_);
};

// MariaDB's answers to XA COMMIT / XA ROLLBACK, in the words of the
// PostgreSQL participant: XAER_NOTA (SQLSTATE XAE04) is NotFound; for a
// rollback, XA_RB* (XA1xx: the branch was rolled back already) is OK.
Status MapXaResult(Status s, bool rollback);

}  // namespace twopc::internal
