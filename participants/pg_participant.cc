#include "participants/pg_participant.h"

#include <libpq-fe.h>

namespace twopc::internal {
namespace {

// SQLSTATE 42704 undefined_object: "prepared transaction with identifier ...
// does not exist".
constexpr char kUndefinedObject[] = "42704";

const char* IsolationSql(IsolationLevel level) {
  switch (level) {
    case IsolationLevel::kRepeatableRead: return "BEGIN ISOLATION LEVEL REPEATABLE READ";
    case IsolationLevel::kSerializable: return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    case IsolationLevel::kReadCommitted: break;
  }
  return "BEGIN ISOLATION LEVEL READ COMMITTED";
}

// The statement that ends a branch must have done what we asked: COMMIT
// and PREPARE TRANSACTION of a transaction that already failed answer with
// the tag ROLLBACK instead of an error. `index` is its place in the pipeline.
Status ExpectCommand(const std::vector<QueryResult>& results, size_t index, const char* expected,
                     const std::string& participant) {
  if (index < results.size() && results[index].command == expected) return Status::OK();
  return Status::SqlError(std::string("transaction was rolled back instead of ") + expected +
                          " (an earlier statement failed)")
      .WithParticipant(participant)
      .WithSqlState("25P02");
}

class PgBranch : public Branch {
 public:
  PgBranch(std::shared_ptr<PgPool> pool, std::shared_ptr<PgConnection> conn,
           TransactionOptions options)
      : pool_(std::move(pool)), conn_(std::move(conn)), options_(options) {}

  // A branch that sent statements may have changed its session (SET, temp
  // tables, advisory locks...). Its last pipeline normally reset it already;
  // if that did not happen (a failed pipeline, an abandoned branch) the pool
  // resets it before reuse.
  ~PgBranch() override { pool_->Release(std::move(conn_), /*reset=*/begun_ && !session_reset_); }

  bool wrote() const override { return wrote_; }

  void Execute(std::vector<Query> queries, Deadline deadline, ExecDone done) override {
    size_t skip = 0;
    std::vector<Query> all = WithBegin(std::move(queries), &skip);
    size_t user_count = all.size() - skip;
    // Ask whether the branch holds a transaction id in the same pipeline, so
    // that Commit knows read-only branches without another round trip.
    bool check = !wrote_;
    if (check) all.push_back({"SELECT txid_current_if_assigned()", {}});
    Send(std::move(all), deadline,
         [this, skip, user_count, check, done = std::move(done)](
             Result<std::vector<QueryResult>> r) {
           if (!r.ok()) {
             done(r.TakeStatus());
             return;
           }
           auto& results = r.value();
           if (check && !results.back().rows.empty() && results.back().rows[0][0].has_value()) {
             wrote_ = true;
           }
           std::vector<QueryResult> user(std::make_move_iterator(results.begin() + skip),
                                         std::make_move_iterator(results.begin() + skip + user_count));
           done(std::move(user));
         });
  }

  void Prepare(std::vector<Query> queued, const std::string& gid, Deadline deadline,
               Done done) override {
    size_t skip = 0;
    std::vector<Query> all = WithBegin(std::move(queued), &skip);
    all.push_back({"PREPARE TRANSACTION " + conn_->QuoteLiteral(gid), {}});
    SendLast(std::move(all), "PREPARE TRANSACTION", deadline, std::move(done));
  }

  void CommitOnePhase(std::vector<Query> queued, Deadline deadline, Done done) override {
    if (!begun_ && queued.empty()) {
      done(Status::OK());  // opened but never used: nothing to commit
      return;
    }
    size_t skip = 0;
    std::vector<Query> all = WithBegin(std::move(queued), &skip);
    all.push_back({"COMMIT", {}});
    SendLast(std::move(all), "COMMIT", deadline, std::move(done));
  }

  void Rollback(Deadline deadline, Done done) override {
    if (!begun_ || conn_->broken() || !conn_->InTransaction()) {
      done(Status::OK());
      return;
    }
    SendLast({{"ROLLBACK", {}}}, "ROLLBACK", deadline, std::move(done));
  }

  void CommitPrepared(const std::string& gid, Deadline deadline, Done done) override {
    Send({{"COMMIT PREPARED " + conn_->QuoteLiteral(gid), {}}}, deadline,
         [done = std::move(done)](Result<std::vector<QueryResult>> r) {
           done(MapPreparedResult(r.ok() ? Status::OK() : r.TakeStatus()));
         });
  }

 private:
  // Prepends BEGIN (and the per-transaction limits) to the branch's first
  // statements; *skip = how many leading results are ours, not the caller's.
  std::vector<Query> WithBegin(std::vector<Query> queries, size_t* skip) {
    if (begun_) return queries;
    begun_ = true;
    std::vector<Query> all;
    all.reserve(queries.size() + 3);
    all.push_back({IsolationSql(options_.isolation), {}});
    if (options_.statement_timeout.count() > 0) {
      all.push_back({"SELECT set_config('statement_timeout', $1, true)",
                     {std::to_string(options_.statement_timeout.count()) + "ms"}});
    }
    if (options_.lock_timeout.count() > 0) {
      all.push_back({"SELECT set_config('lock_timeout', $1, true)",
                     {std::to_string(options_.lock_timeout.count()) + "ms"}});
    }
    *skip = all.size();
    for (auto& q : queries) all.push_back(std::move(q));
    return all;
  }

  // Sends the branch's last pipeline, ending with the statement that ends
  // its transaction block (tagged `expected`), and the session reset right
  // behind it: DISCARD ALL is allowed there, and riding along saves the
  // round trip of a reset at release. The session advisory locks go too; a
  // prepared transaction keeps its own locks.
  void SendLast(std::vector<Query> queries, const char* expected, Deadline deadline, Done done) {
    const size_t last = queries.size() - 1;
    for (auto& q : pool_->ResetQueries()) queries.push_back(std::move(q));
    Send(std::move(queries), deadline,
         [this, last, expected, done = std::move(done)](Result<std::vector<QueryResult>> r) {
           std::vector<QueryResult> results;
           if (r.ok()) {
             results = std::move(r.value());
             session_reset_ = true;
           } else if (r.status().IsSqlError() && conn_->failed_query() > last) {
             // The branch's own statement went through; only the reset
             // behind it failed: the pool resets (or drops) the connection.
             results = conn_->TakePartialResults();
           } else {
             done(r.TakeStatus());
             return;
           }
           done(ExpectCommand(results, last, expected, pool_->options().name));
         });
  }

  void Send(std::vector<Query> queries, Deadline deadline, PgConnection::ExecCallback done) {
    if (conn_->broken()) {
      done(Status::Unavailable("connection was lost earlier in this transaction")
               .WithParticipant(pool_->options().name));
      return;
    }
    conn_->AsyncExec(std::move(queries), deadline, std::move(done));
  }

  std::shared_ptr<PgPool> pool_;
  std::shared_ptr<PgConnection> conn_;
  TransactionOptions options_;
  bool begun_ = false;
  bool wrote_ = false;
  bool session_reset_ = false;  // the last pipeline reset the session
};

}  // namespace

Status MapPreparedResult(Status s) {
  if (s.sqlstate() == kUndefinedObject) {
    return std::move(Status::NotFound(s.message()).WithParticipant(s.participant()))
        .WithSqlState(kUndefinedObject);
  }
  return s;
}

PgParticipant::PgParticipant(boost::asio::io_context& io, ParticipantOptions options,
                             std::chrono::milliseconds connect_timeout)
    : pool_(std::make_shared<PgPool>(io, std::move(options), connect_timeout)) {}

void PgParticipant::Open(const TransactionOptions& options, Deadline deadline,
                         std::function<void(Result<std::unique_ptr<Branch>>)> done) {
  auto pool = pool_;
  pool_->Acquire(deadline, [pool, options, done = std::move(done)](
                               Result<std::shared_ptr<PgConnection>> conn) {
    if (!conn.ok()) {
      done(conn.TakeStatus());
      return;
    }
    done(std::unique_ptr<Branch>(new PgBranch(pool, std::move(conn.value()), options)));
  });
}

void PgParticipant::RunPooled(Query query, Deadline deadline,
                              std::function<void(Result<std::vector<QueryResult>>)> done) {
  auto pool = pool_;
  pool_->Acquire(deadline, [pool, query = std::move(query), deadline, done = std::move(done)](
                               Result<std::shared_ptr<PgConnection>> conn) mutable {
    if (!conn.ok()) {
      done(conn.TakeStatus());
      return;
    }
    auto c = std::move(conn.value());
    c->AsyncExec({std::move(query)}, deadline,
                 [pool, c, done = std::move(done)](Result<std::vector<QueryResult>> r) mutable {
                   pool->Release(std::move(c));
                   done(std::move(r));
                 });
  });
}

void PgParticipant::FinishPrepared(const char* verb, const std::string& gid, Deadline deadline,
                                   std::function<void(Status)> done) {
  auto pool = pool_;
  std::string verb_str = verb;
  pool_->Acquire(deadline, [pool, verb_str, gid, deadline, done = std::move(done)](
                               Result<std::shared_ptr<PgConnection>> conn) mutable {
    if (!conn.ok()) {
      done(conn.TakeStatus());
      return;
    }
    auto c = std::move(conn.value());
    std::string sql = verb_str + " " + c->QuoteLiteral(gid);
    c->AsyncExec({{std::move(sql), {}}}, deadline,
                 [pool, c, done = std::move(done)](Result<std::vector<QueryResult>> r) mutable {
                   pool->Release(std::move(c));
                   done(MapPreparedResult(r.ok() ? Status::OK() : r.TakeStatus()));
                 });
  });
}

void PgParticipant::CommitPrepared(const std::string& gid, Deadline deadline,
                                   std::function<void(Status)> done) {
  FinishPrepared("COMMIT PREPARED", gid, deadline, std::move(done));
}

void PgParticipant::RollbackPrepared(const std::string& gid, Deadline deadline,
                                     std::function<void(Status)> done) {
  FinishPrepared("ROLLBACK PREPARED", gid, deadline, std::move(done));
}

void PgParticipant::Recover(Deadline deadline,
                            std::function<void(Result<std::vector<PreparedXact>>)> done) {
  Query q{"SELECT gid, database, owner, "
          "(extract(epoch FROM prepared) * 1000)::bigint, transaction::text "
          "FROM pg_prepared_xacts WHERE database = current_database() ORDER BY prepared",
          {}};
  RunPooled(std::move(q), deadline, [done = std::move(done)](Result<std::vector<QueryResult>> r) {
    if (!r.ok()) {
      done(r.TakeStatus());
      return;
    }
    std::vector<PreparedXact> out;
    for (const auto& row : r.value()[0].rows) {
      PreparedXact x;
      x.gid = row[0].value_or("");
      x.database = row[1].value_or("");
      x.owner = row[2].value_or("");
      x.prepared_at_ms = std::stoll(row[3].value_or("0"));
      x.transaction = std::stoull(row[4].value_or("0"));
      out.push_back(std::move(x));
    }
    done(std::move(out));
  });
}

void PgParticipant::CheckReady(Deadline deadline, std::function<void(Status)> done) {
  std::string name = this->name();
  RunPooled({"SELECT current_setting('max_prepared_transactions')::int", {}}, deadline,
            [name, done = std::move(done)](Result<std::vector<QueryResult>> r) {
              if (!r.ok()) {
                done(r.TakeStatus());
                return;
              }
              const auto& rows = r.value()[0].rows;
              if (rows.empty() || rows[0][0].value_or("0") == "0") {
                done(Status::InvalidArgument(
                         "max_prepared_transactions = 0: this server cannot run two-phase "
                         "commit. Set max_prepared_transactions in postgresql.conf to at least "
                         "the number of concurrent twopc transactions (e.g. 100, or "
                         "max_connections) and restart the server")
                         .WithParticipant(name));
                return;
              }
              done(Status::OK());
            });
}

}  // namespace twopc::internal
