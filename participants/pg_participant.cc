#include "participants/pg_participant.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <regex>

namespace twopc::internal {
namespace {

// SQLSTATE 42704 undefined_object: "prepared transaction with identifier ...
// does not exist".
constexpr char kUndefinedObject[] = "42704";
// SQLSTATE 25P01 no_active_sql_transaction: kBlockCheck outside a block.
constexpr char kNoActiveTransaction[] = "25P01";

// Sent after a branch's queued statements, before its PREPARE TRANSACTION or
// COMMIT. A queued statement that ended the branch's transaction would leave
// the statements after it in an implicit transaction that the server commits
// at the end of the pipeline (PREPARE TRANSACTION outside a block only
// warns). SAVEPOINT is refused outside a transaction block, which aborts
// that implicit transaction instead and tells us what happened. Inside the
// block it costs next to nothing, and PREPARE/COMMIT ends it with the rest.
// (Transaction refuses such statements before they are sent; this is the
// check that does not depend on recognizing them.)
constexpr char kBlockCheck[] = "SAVEPOINT twopc_branch_check";

// A statement of the caller's ended the branch's transaction: whatever the
// branch did before it is out of twopc's hands. `fate` says what became of
// it, as far as the server's answers tell.
Status EndedTransaction(const std::string& participant, const std::string& statement,
                        const std::string& fate) {
  return Status::InvalidArgument("statement ended the branch's transaction (" + statement +
                                 "): transaction control is twopc's job. " + fate +
                                 "; the rest of the global transaction is rolled back")
      .WithParticipant(participant)
      .WithSqlState(kNoActiveTransaction);
}

// After Execute: the branch is no longer inside its transaction. The command
// tag of the statement that ended it says whether it committed.
Status EndedByExecute(const std::string& participant, const std::vector<QueryResult>& user) {
  std::string tag;
  for (const QueryResult& r : user) {
    if (r.command == "COMMIT" || r.command == "ROLLBACK" || r.command == "PREPARE TRANSACTION" ||
        r.command == "COMMIT PREPARED" || r.command == "ROLLBACK PREPARED") {
      tag = r.command;
    }
  }
  if (tag == "COMMIT") {
    return EndedTransaction(participant, tag,
                            "The branch's work before it was committed by it, for good: it "
                            "cannot be rolled back");
  }
  if (tag == "ROLLBACK") {
    return EndedTransaction(participant, tag, "The branch's work before it was rolled back by it");
  }
  return EndedTransaction(participant, tag.empty() ? "COMMIT/ROLLBACK/..." : tag,
                          "The branch's work before it may have been committed by it and "
                          "cannot be rolled back");
}

// After a pipeline ending in PREPARE TRANSACTION or COMMIT that carried
// kBlockCheck: its 25P01 means a queued statement ended the transaction.
Status MapBlockCheck(Status s, const std::string& participant) {
  if (s.sqlstate() != kNoActiveTransaction) return s;
  return EndedTransaction(participant, "a queued COMMIT/ROLLBACK/...",
                          "The branch's work before it may have been committed by it and "
                          "cannot be rolled back; the statements queued after it were rolled "
                          "back");
}

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
  uint64_t txid() const override { return txid_; }
  bool prepared() const override { return prepared_; }
  // Only a connection that broke (timeout, loss) may leave its session
  // running what was sent; one that answered has nothing in flight.
  int session() const override {
    return conn_ != nullptr && conn_->broken() ? conn_->backend_pid() : 0;
  }

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
           if (check) NoteTxid(results.back());
           std::vector<QueryResult> user(std::make_move_iterator(results.begin() + skip),
                                         std::make_move_iterator(results.begin() + skip + user_count));
           // Every statement must leave the branch inside its transaction.
           // A COMMIT would have committed this branch alone, for good.
           if (!conn_->InTransactionBlock()) {
             done(EndedByExecute(pool_->options().name, user));
             return;
           }
           done(std::move(user));
         });
  }

  void Prepare(std::vector<Query> queued, const std::string& gid, Deadline deadline,
               Done done) override {
    size_t skip = 0;
    const bool check = !queued.empty();
    std::vector<Query> all = WithBegin(std::move(queued), &skip);
    // The transaction id goes into the COMMIT record; asking in the same
    // pipeline costs no round trip.
    if (check) all.push_back({kBlockCheck, {}});
    bool ask_txid = txid_ == 0;
    if (ask_txid) all.push_back({"SELECT txid_current_if_assigned()", {}});
    all.push_back({"PREPARE TRANSACTION " + conn_->QuoteLiteral(gid), {}});
    const size_t last = all.size() - 1;
    SendLast(std::move(all), "PREPARE TRANSACTION", deadline, std::move(done),
             [this, ask_txid, last](const std::vector<QueryResult>& results) {
               // Prepared even if what followed failed: undone with ROLLBACK
               // PREPARED, never ROLLBACK (docs/protocol.md, "Prepare").
               prepared_ = last < results.size() && results[last].command == "PREPARE TRANSACTION";
               if (ask_txid && last >= 1 && last - 1 < results.size()) NoteTxid(results[last - 1]);
             });
  }

  void CommitOnePhase(std::vector<Query> queued, Deadline deadline, Done done) override {
    if (!begun_ && queued.empty()) {
      done(Status::OK());  // opened but never used: nothing to commit
      return;
    }
    size_t skip = 0;
    const bool check = !queued.empty();
    std::vector<Query> all = WithBegin(std::move(queued), &skip);
    if (check) all.push_back({kBlockCheck, {}});
    // The transaction id, in a segment of its own: it reaches us before the
    // COMMIT runs, so that a lost COMMIT answer can be settled by asking
    // txid_status() (docs/protocol.md, "A gone branch proves nothing").
    size_t txid_at = 0;
    if (txid_ == 0 && all.size() > skip) {
      txid_at = all.size();
      all.push_back({"SELECT txid_current_if_assigned()", {}, /*sync_after=*/true});
    }
    all.push_back({"COMMIT", {}});
    SendLast(std::move(all), "COMMIT", deadline, std::move(done),
             [this, txid_at](const std::vector<QueryResult>& results) {
               if (txid_at > 0 && txid_at < results.size()) NoteTxid(results[txid_at]);
             });
  }

  void Rollback(Deadline deadline, Done done) override {
    if (!begun_ || conn_->broken() || !conn_->InTransaction()) {
      done(Status::OK());
      return;
    }
    SendLast({{"ROLLBACK", {}}}, "ROLLBACK", deadline, std::move(done));
  }

  void CommitPrepared(const std::string& gid, Deadline deadline, Done done) override {
    FinishPrepared("COMMIT PREPARED ", gid, deadline, std::move(done));
  }

  void RollbackPrepared(const std::string& gid, Deadline deadline, Done done) override {
    FinishPrepared("ROLLBACK PREPARED ", gid, deadline, std::move(done));
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
  // `inspect` sees the branch's own results before `done` runs: all of them,
  // or, when the request failed, those that arrived (the rest empty).
  void SendLast(std::vector<Query> queries, const char* expected, Deadline deadline, Done done,
                std::function<void(const std::vector<QueryResult>&)> inspect = nullptr) {
    const size_t last = queries.size() - 1;
    for (auto& q : pool_->ResetQueries()) queries.push_back(std::move(q));
    Send(std::move(queries), deadline,
         [this, last, expected, inspect = std::move(inspect), done = std::move(done)](
             Result<std::vector<QueryResult>> r) {
           const std::string& name = pool_->options().name;
           std::vector<QueryResult> results;
           if (r.ok()) {
             results = std::move(r.value());
             session_reset_ = true;
           } else if (r.status().IsSqlError() && conn_->failed_query() > last) {
             // The branch's own statement went through; only the reset
             // behind it failed: the pool resets (or drops) the connection.
             results = conn_->TakePartialResults();
           } else {
             if (inspect) inspect(conn_->TakePartialResults());
             done(MapBlockCheck(r.TakeStatus(), name));
             return;
           }
           if (inspect) inspect(results);
           done(ExpectCommand(results, last, expected, name));
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

  void FinishPrepared(const char* verb, const std::string& gid, Deadline deadline, Done done) {
    Send({{verb + conn_->QuoteLiteral(gid), {}}}, deadline,
         [done = std::move(done)](Result<std::vector<QueryResult>> r) {
           done(MapPreparedResult(r.ok() ? Status::OK() : r.TakeStatus()));
         });
  }

  // The answer of txid_current_if_assigned(): NULL until the branch wrote.
  void NoteTxid(const QueryResult& r) {
    if (r.rows.empty() || !r.rows[0][0].has_value()) return;
    wrote_ = true;
    txid_ = std::strtoull(r.rows[0][0]->c_str(), nullptr, 10);
  }

  std::shared_ptr<PgPool> pool_;
  std::shared_ptr<PgConnection> conn_;
  TransactionOptions options_;
  bool begun_ = false;
  bool wrote_ = false;
  bool prepared_ = false;
  uint64_t txid_ = 0;
  bool session_reset_ = false;  // the last pipeline reset the session
};

}  // namespace

// A prepared transaction's xid is older than the snapshot's xmax: it lies in
// xmax's epoch, or in the one before when the 32-bit counter wrapped since.
uint64_t EpochQualified(uint64_t xid32, uint64_t xmax) {
  uint64_t candidate = (xmax & ~uint64_t{0xffffffff}) | (xid32 & 0xffffffff);
  if (candidate >= xmax && candidate >= (uint64_t{1} << 32)) candidate -= uint64_t{1} << 32;
  return candidate;
}

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

void PgParticipant::Open(const TransactionOptions& options, const std::string& /*gid*/,
                         Deadline deadline,
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

void PgParticipant::FinishPreparedMany(std::vector<PreparedEnd> ends, Deadline deadline,
                                       std::function<void(std::vector<Status>)> done) {
  if (ends.empty()) return done({});
  auto pool = pool_;
  pool_->Acquire(deadline, [pool, ends = std::move(ends), deadline, done = std::move(done)](
                               Result<std::shared_ptr<PgConnection>> conn) mutable {
    if (!conn.ok()) {
      done(std::vector<Status>(ends.size(), conn.status()));
      return;
    }
    auto c = std::move(conn.value());
    std::vector<Query> queries;
    queries.reserve(ends.size());
    for (const PreparedEnd& e : ends) {
      const char* verb = e.decision == Decision::kCommit ? "COMMIT PREPARED " : "ROLLBACK PREPARED ";
      // A Sync after each: COMMIT PREPARED may not share an implicit
      // transaction with another statement, and one gid already gone must
      // not abort the others.
      queries.push_back({verb + c->QuoteLiteral(e.gid), {}, /*sync_after=*/true});
    }
    size_t n = ends.size();
    c->AsyncExec(std::move(queries), deadline,
                 [pool, c, n, done = std::move(done)](const Result<std::vector<QueryResult>>& r) mutable {
                   std::vector<Status> statuses(n);
                   if (!r.ok()) {
                     // An unanswered statement was lost with the connection
                     // (Unavailable, TimedOut): it may or may not have run.
                     Status lost = r.status().IsSqlError()
                                       ? Status::Unavailable("no answer").WithParticipant(c->participant())
                                       : r.status();
                     auto answered = c->TakeQueryStatuses();
                     for (size_t i = 0; i < n; ++i) {
                       statuses[i] = i < answered.size() && answered[i].has_value()
                                         ? MapPreparedResult(*answered[i])
                                         : lost;
                     }
                   }
                   pool->Release(std::move(c));
                   done(std::move(statuses));
                 });
  });
}

void PgParticipant::Recover(Deadline deadline,
                            std::function<void(Result<std::vector<PreparedXact>>)> done) {
  // The snapshot's xmax (64-bit) qualifies each 32-bit xid with its epoch.
  Query q{"SELECT gid, database, owner, "
          "(extract(epoch FROM prepared) * 1000)::bigint, transaction::text, "
          "txid_snapshot_xmax(txid_current_snapshot())::text "
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
      x.txid = EpochQualified(x.transaction, std::stoull(row[5].value_or("0")));
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

namespace {

// Milliseconds left until `deadline`, at least 1: pg_terminate_backend's
// wait (0 would mean "do not wait").
int64_t MillisLeft(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max<int64_t>(1, left.count());
}

// The registration's advisory lock: (this constant, hashtext(node_id)).
constexpr char kRegistrationClass[] = "1953984611";  // "twpc" in ASCII

// What goes into the registration statement's comment, so that a refused
// process can name the holder: pg_stat_activity shows the holder's last
// statement. Only [A-Za-z0-9.-]: it is part of an SQL text.
std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  std::string host(buf);
  host.erase(std::remove_if(host.begin(), host.end(),
                            [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'); }),
             host.end());
  if (host.size() > 64) host.resize(64);
  return host.empty() ? "unknown" : host;
}

// Every statement of the registration connection carries it, since
// pg_stat_activity shows only the last one.
std::string RegistrationComment() {
  return fmt::format("/* twopc registration host={} pid={} */", HostName(), ::getpid());
}

}  // namespace

const char* TxidOutcomeName(TxidOutcome o) {
  switch (o) {
    case TxidOutcome::kCommitted: return "committed";
    case TxidOutcome::kAborted: return "aborted";
    case TxidOutcome::kInProgress: return "in progress";
    case TxidOutcome::kUnknown: return "unknown";
  }
  return "?";
}

void PgParticipant::TransactionStatus(uint64_t txid, Deadline deadline,
                                      std::function<void(Result<TxidOutcome>)> done) {
  RunPooled({"SELECT txid_status($1::bigint)", {std::to_string(txid)}}, deadline,
            [done = std::move(done)](Result<std::vector<QueryResult>> r) {
              // "transaction ID ... is in the future": the server crashed
              // before that id reached its WAL. A COMMIT would have flushed
              // it, so the transaction never committed.
              if (!r.ok() && r.status().sqlstate() == "22023" &&
                  r.status().message().find("in the future") != std::string::npos) {
                return done(TxidOutcome::kAborted);
              }
              if (!r.ok()) return done(r.TakeStatus());
              const auto& rows = r.value()[0].rows;
              std::string v = rows.empty() ? "" : rows[0][0].value_or("");
              if (v == "committed") return done(TxidOutcome::kCommitted);
              if (v == "aborted") return done(TxidOutcome::kAborted);
              if (v == "in progress") return done(TxidOutcome::kInProgress);
              done(TxidOutcome::kUnknown);
            });
}

void PgParticipant::EndSession(int session, Deadline deadline, std::function<void(Status)> done) {
  if (session <= 0) return done(Status::OK());
  // Only a session that still carries this participant's application_name:
  // a recycled pid belongs to someone else.
  std::string name = this->name();
  RunPooled({"SELECT coalesce(bool_and(pg_terminate_backend(pid, $2::bigint)), true) "
             "FROM pg_stat_activity WHERE pid = $1::int AND application_name = $3",
             {std::to_string(session), std::to_string(MillisLeft(deadline)),
              pool_->options().application_name}},
            deadline, [name, session, done = std::move(done)](Result<std::vector<QueryResult>> r) {
              if (!r.ok()) return done(r.TakeStatus());
              const auto& rows = r.value()[0].rows;
              if (!rows.empty() && rows[0][0].value_or("f") == "t") return done(Status::OK());
              done(Status::TimedOut(fmt::format("server session {} did not end in time", session))
                       .WithParticipant(name));
            });
}

void PgParticipant::EndSessions(const std::string& node_id, IncarnationRange which,
                                Deadline deadline, std::function<void(Result<EndedSessions>)> done) {
  // Node ids are [A-Za-z0-9-] (ValidateNodeId): no LIKE wildcard, no dot.
  RunPooled({"SELECT count(*) FILTER (WHERE ended), count(*) FILTER (WHERE NOT ended) FROM ("
             " SELECT pg_terminate_backend(pid, $3::bigint) AS ended FROM pg_stat_activity"
             " WHERE application_name LIKE $1 AND pid <> pg_backend_pid()"
             " AND split_part(application_name, '.', 3) ~ '^[0-9]{1,19}$'"
             " AND split_part(application_name, '.', 3)::numeric < $2::numeric"
             " AND split_part(application_name, '.', 3)::numeric >= $4::numeric) s",
             {"twopc." + node_id + ".%", std::to_string(which.below),
              std::to_string(MillisLeft(deadline)), std::to_string(which.from)}},
            deadline, [done = std::move(done)](Result<std::vector<QueryResult>> r) {
              if (!r.ok()) return done(r.TakeStatus());
              const auto& rows = r.value()[0].rows;
              EndedSessions e;
              if (!rows.empty()) {
                e.terminated = std::atoi(rows[0][0].value_or("0").c_str());
                e.remaining = std::atoi(rows[0][1].value_or("0").c_str());
              }
              done(e);
            });
}

void PgParticipant::Register(const std::string& node_id, uint64_t incarnation, Deadline deadline,
                             std::function<void(Status)> done) {
  std::shared_ptr<PgConnection> conn;
  {
    MutexLock lock(registry_mutex_);
    conn = registry_;
  }
  // Callbacks hold `this`: a participant lives until its owner stopped the
  // I/O threads.
  auto* self = this;
  if (conn != nullptr && !conn->broken()) {
    // Still registered while the session lives; a probe finds a lost one.
    conn->AsyncExec({{"SELECT 1 " + RegistrationComment(), {}}}, deadline,
                    [self, node_id, incarnation, deadline, done = std::move(done)](
                        Result<std::vector<QueryResult>> r) mutable {
                      if (r.ok()) return done(Status::OK());
                      self->Register(node_id, incarnation, deadline, std::move(done));
                    });
    return;
  }
  const ParticipantOptions& o = pool_->options();
  PgConnection::AsyncConnect(
      pool_->io(), o.name, o.conninfo, std::min(deadline, Clock::now() + pool_->connect_timeout()),
      [self, node_id, deadline, done = std::move(done)](Result<std::shared_ptr<PgConnection>> c) mutable {
        if (!c.ok()) return done(c.TakeStatus());
        auto conn = std::move(c.value());
        // Waiting a moment (lock_timeout) rather than trying once lets a
        // holder that is just exiting -- the previous coordinator of this
        // node, closed a moment ago -- release the lock first.
        std::string sql = fmt::format("SELECT pg_advisory_lock({}, hashtext($1)) {}",
                                      kRegistrationClass, RegistrationComment());
        conn->AsyncExec({{"SELECT set_config('lock_timeout', '1500ms', false)", {}},
                         {std::move(sql), {node_id}}},
                        deadline,
                        [self, conn, node_id, deadline, done = std::move(done)](
                            Result<std::vector<QueryResult>> r) mutable {
                          if (r.ok()) {
                            {
                              MutexLock lock(self->registry_mutex_);
                              self->registry_ = std::move(conn);
                            }
                            return done(Status::OK());  // not under the lock
                          }
                          if (r.status().sqlstate() != "55P03") return done(r.TakeStatus());
                          self->DescribeHolder(node_id, deadline, std::move(done));
                        });
      },
      o.application_name);
}

void PgParticipant::DescribeHolder(const std::string& node_id, Deadline deadline,
                                   std::function<void(Status)> done) {
  std::string name = this->name();
  RunPooled(
      {std::string("SELECT a.pid, coalesce(host(a.client_addr), 'a local socket'), "
                   "a.application_name, a.query, to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') "
                   "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                   "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                   "AND l.classid::bigint = ") + kRegistrationClass +
           " AND l.objid::bigint = (hashtext($1)::bigint & 4294967295)",
       {node_id}},
      deadline, [name, node_id, done = std::move(done)](Result<std::vector<QueryResult>> r) {
        std::string holder = "another process";
        if (r.ok() && !r.value()[0].rows.empty()) {
          const auto& row = r.value()[0].rows[0];
          std::smatch m;
          std::string query = row[3].value_or("");
          static const std::regex kComment(R"(host=([A-Za-z0-9.-]+) pid=([0-9]+))");
          if (std::regex_search(query, m, kComment)) {
            holder = fmt::format("host {}, pid {}", m[1].str(), m[2].str());
          } else {
            holder = fmt::format("the session of server pid {}", row[0].value_or("?"));
          }
          holder += fmt::format(" (connected from {} since {}, application_name '{}')",
                                row[1].value_or("?"), row[4].value_or("?"), row[2].value_or(""));
        }
        done(std::move(Status::Conflict(fmt::format(
                 "node id '{}' is already in use by a live coordinator: {}. Two coordinators "
                 "with one node id would roll back each other's transactions: give each "
                 "process (each replica) its own node_id (docs/operations.md, \"Node ids\")",
                 node_id, holder))
                 .WithParticipant(name)));
      });
}

}  // namespace twopc::internal
