#include "participants/mariadb_participant.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <list>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/logging.h"
#include "participants/mariadb_sql.h"

namespace twopc::internal {

namespace asio = boost::asio;

// MariaDbPool: the connections of one MariaDB participant, as PgPool is for
// PostgreSQL. A connection that ran a branch is reset (COM_RESET_CONNECTION,
// then session_init) before anyone else gets it; a broken one is dropped.
class MariaDbPool : public std::enable_shared_from_this<MariaDbPool> {
 public:
  using AcquireCallback = std::function<void(Result<std::shared_ptr<MariaDbConnection>>)>;

  MariaDbPool(asio::io_context& io, ParticipantOptions options, std::chrono::milliseconds connect_timeout,
              Result<MariaDbConnInfo> info)
      : io_(io), options_(std::move(options)), connect_timeout_(connect_timeout), info_(std::move(info)) {}

  const ParticipantOptions& options() const { return options_; }
  asio::io_context& io() const { return io_; }
  const Result<MariaDbConnInfo>& info() const { return info_; }
  std::chrono::milliseconds connect_timeout() const { return connect_timeout_; }

  PoolStats stats() const TWOPC_EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    return {open_, static_cast<int>(idle_.size()), static_cast<int>(waiters_.size())};
  }

  void Acquire(Deadline deadline, AcquireCallback done) TWOPC_EXCLUDES(mutex_) {
    if (!info_.ok()) return done(Status(info_.status()).WithParticipant(options_.name));
    std::shared_ptr<MariaDbConnection> idle;
    {
      MutexLock lock(mutex_);
      while (!idle_.empty() && idle == nullptr) {
        idle = std::move(idle_.front());
        idle_.pop_front();
        if (idle->broken()) {
          idle.reset();
          --open_;
        }
      }
      if (idle == nullptr) {
        if (open_ >= options_.max_connections) {
          auto waiter = std::make_shared<Waiter>(io_, std::move(done));
          waiters_.push_back(waiter);
          waiter->timer.expires_at(deadline);
          auto self = shared_from_this();
          waiter->timer.async_wait([self, waiter](const boost::system::error_code& ec) {
            if (ec) return;
            {
              MutexLock lock(self->mutex_);
              auto it = std::find(self->waiters_.begin(), self->waiters_.end(), waiter);
              if (it == self->waiters_.end()) return;  // answered first
              self->waiters_.erase(it);
            }
            waiter->done(Status::TimedOut("no free connection in time (max_connections reached)")
                             .WithParticipant(self->options_.name));
          });
          return;
        }
        ++open_;
      }
    }
    if (idle != nullptr) return done(std::move(idle));
    Connect(deadline, std::move(done));
  }

  // Closes a connection instead of returning it: its session ends (COM_QUIT),
  // which detaches a prepared XA branch from it so that any session can
  // finish the branch.
  void Discard(std::shared_ptr<MariaDbConnection> conn) TWOPC_EXCLUDES(mutex_) {
    if (conn == nullptr) return;
    conn.reset();
    Drop();
  }

  // `used`: the connection ran a branch's statements and must be reset.
  void Release(std::shared_ptr<MariaDbConnection> conn, bool used) TWOPC_EXCLUDES(mutex_) {
    if (conn == nullptr) return;
    if (conn->broken()) return Drop();
    if (!used) return Hand(std::move(conn));
    auto self = shared_from_this();
    auto c = conn;
    c->AsyncReset(Clock::now() + connect_timeout_, [self, conn = std::move(conn)](const Status& s) mutable {
      if (!s.ok()) return self->Drop();
      self->InitSession(std::move(conn), Clock::now() + self->connect_timeout_,
                        [self](Result<std::shared_ptr<MariaDbConnection>> r) {
                          if (!r.ok()) return self->Drop();
                          self->Hand(std::move(r.value()));
                        });
    });
  }

  // Closes every connection this pool made, idle or busy, and refuses
  // further work. REQUIRES: the io_context is stopped (its threads joined):
  // a connection busy then (a reset after release, an answer never read)
  // would otherwise keep itself alive through its own pending callback,
  // and its session open on the server.
  void Shutdown() TWOPC_EXCLUDES(mutex_) {
    std::vector<std::weak_ptr<MariaDbConnection>> made;
    std::deque<std::shared_ptr<MariaDbConnection>> idle;
    std::list<std::shared_ptr<Waiter>> waiters;
    {
      MutexLock lock(mutex_);
      closed_ = true;
      made.swap(made_);
      idle.swap(idle_);
      waiters.swap(waiters_);
    }
    for (auto& weak : made) {
      if (auto conn = weak.lock()) conn->Close();
    }
  }

 private:
  struct Waiter {
    Waiter(asio::io_context& io, AcquireCallback d) : timer(io), done(std::move(d)) {}
    asio::steady_timer timer;
    AcquireCallback done;
  };

  void Connect(Deadline deadline, AcquireCallback done) {
    auto self = shared_from_this();
    MariaDbConnection::AsyncConnect(
        io_, options_.name, *info_, std::min(deadline, Clock::now() + connect_timeout_),
        [self, deadline, done = std::move(done)](Result<std::shared_ptr<MariaDbConnection>> c) mutable {
          if (!c.ok()) {
            self->Drop(/*serve_waiter=*/false);
            return done(c.TakeStatus());
          }
          self->Remember(c.value());
          self->InitSession(std::move(c.value()), deadline,
                            [self, done = std::move(done)](Result<std::shared_ptr<MariaDbConnection>> r) {
                              if (!r.ok()) self->Drop(/*serve_waiter=*/false);
                              done(std::move(r));
                            });
        },
        options_.application_name);
  }

  void InitSession(std::shared_ptr<MariaDbConnection> conn, Deadline deadline, AcquireCallback done) {
    if (options_.session_init.empty()) return done(std::move(conn));
    std::vector<Query> init;
    for (const auto& sql : options_.session_init) init.push_back({sql, {}});
    auto c = conn;
    std::string name = options_.name;
    c->AsyncExec(std::move(init), deadline,
                 [conn = std::move(conn), name, done = std::move(done)](Result<std::vector<QueryResult>> r) mutable {
                   if (r.ok()) return done(std::move(conn));
                   if (r.status().IsSqlError()) {
                     return done(Status::InvalidArgument(fmt::format(
                                     "session_init statement {} was refused: {}", conn->failed_query() + 1,
                                     r.status().message()))
                                     .WithParticipant(name));
                   }
                   done(r.TakeStatus());
                 });
  }

  void Remember(const std::shared_ptr<MariaDbConnection>& conn) TWOPC_EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    // Forget the closed ones now and then, so the list stays as long as the pool.
    if (made_.size() >= 2 * static_cast<size_t>(options_.max_connections) + 8) {
      made_.erase(std::remove_if(made_.begin(), made_.end(), [](const auto& w) { return w.expired(); }),
                  made_.end());
    }
    made_.push_back(conn);
  }

  void Hand(std::shared_ptr<MariaDbConnection> conn) TWOPC_EXCLUDES(mutex_) {
    std::shared_ptr<Waiter> waiter;
    {
      MutexLock lock(mutex_);
      if (closed_) return;
      if (waiters_.empty()) {
        idle_.push_back(std::move(conn));
        return;
      }
      waiter = std::move(waiters_.front());
      waiters_.pop_front();
    }
    waiter->timer.cancel();
    asio::post(io_, [waiter, conn = std::move(conn)]() mutable { waiter->done(std::move(conn)); });
  }

  // One connection fewer; the oldest waiter connects in its place.
  void Drop(bool serve_waiter = true) TWOPC_EXCLUDES(mutex_) {
    std::shared_ptr<Waiter> waiter;
    {
      MutexLock lock(mutex_);
      --open_;
      if (!serve_waiter || waiters_.empty()) return;
      waiter = std::move(waiters_.front());
      waiters_.pop_front();
      ++open_;
    }
    waiter->timer.cancel();
    Connect(waiter->timer.expiry(), std::move(waiter->done));
  }

  asio::io_context& io_;
  const ParticipantOptions options_;
  const std::chrono::milliseconds connect_timeout_;
  const Result<MariaDbConnInfo> info_;
  mutable Mutex mutex_;
  std::deque<std::shared_ptr<MariaDbConnection>> idle_ TWOPC_GUARDED_BY(mutex_);
  std::list<std::shared_ptr<Waiter>> waiters_ TWOPC_GUARDED_BY(mutex_);
  std::vector<std::weak_ptr<MariaDbConnection>> made_ TWOPC_GUARDED_BY(mutex_);
  int open_ TWOPC_GUARDED_BY(mutex_) = 0;
  bool closed_ TWOPC_GUARDED_BY(mutex_) = false;
};

namespace {

// SQLSTATE of XAER_NOTA (1397): no such xid.
constexpr char kXaNotA[] = "XAE04";

// The writes a session did so far, from its own status counters (no
// privilege needed): a branch whose count did not move since XA START wrote
// nothing and commits locally (docs/protocol.md, "MariaDB participants").
constexpr char kWriteCount[] =
    "SELECT CAST(SUM(VARIABLE_VALUE) AS UNSIGNED) FROM information_schema.SESSION_STATUS "
    "WHERE VARIABLE_NAME IN ('HANDLER_WRITE', 'HANDLER_UPDATE', 'HANDLER_DELETE')";

const char* IsolationSql(IsolationLevel level) {
  switch (level) {
    case IsolationLevel::kRepeatableRead: return "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ";
    case IsolationLevel::kSerializable: return "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE";
    case IsolationLevel::kReadCommitted: break;
  }
  return "SET TRANSACTION ISOLATION LEVEL READ COMMITTED";
}

uint64_t CountOf(const QueryResult& r) {
  if (r.rows.empty() || r.rows[0].empty() || !r.rows[0][0].has_value()) return 0;
  return std::strtoull(r.rows[0][0]->c_str(), nullptr, 10);
}

class MariaDbBranch : public Branch {
 public:
  MariaDbBranch(std::shared_ptr<MariaDbPool> pool, std::shared_ptr<MariaDbConnection> conn,
                TransactionOptions options, const Xid& xid)
      : pool_(std::move(pool)), conn_(std::move(conn)), options_(options), xid_sql_(MariaDbXidSql(xid)) {}

  // The reset rolls back an XA branch that is still active or idle. A
  // session whose branch is still prepared is closed instead: MariaDB 10.11
  // breaks a prepared branch on COM_RESET_CONNECTION -- another session's
  // XA COMMIT then answers OK and commits nothing, while the branch keeps its
  // locks (docs/mariadb-notes.md, "COM_RESET_CONNECTION and a prepared
  // branch"). Closing detaches it whole, for recovery to finish.
  ~MariaDbBranch() override {
    if (prepared_ && !ended_) {
      pool_->Discard(std::move(conn_));
    } else {
      pool_->Release(std::move(conn_), begun_);
    }
  }

  bool wrote() const override { return wrote_; }
  uint64_t txid() const override { return 0; }  // MariaDB has no txid_status()
  bool prepared() const override { return prepared_; }
  int session() const override {
    return conn_ != nullptr && conn_->broken() ? static_cast<int>(conn_->connection_id()) : 0;
  }

  void Execute(std::vector<Query> queries, Deadline deadline, ExecDone done) override {
    size_t skip = 0;
    std::vector<Query> all = WithStart(std::move(queries), &skip);
    size_t user_count = all.size() - skip;
    bool check = !wrote_;
    if (check) all.push_back({kWriteCount, {}});
    Send(std::move(all), deadline,
         [this, skip, user_count, check, done = std::move(done)](Result<std::vector<QueryResult>> r) {
           if (!r.ok()) {
             NoteBaseline(conn_->TakePartialResults());
             return done(r.TakeStatus());
           }
           auto& results = r.value();
           NoteBaseline(results);
           if (check) NoteWrites(results.back());
           done(std::vector<QueryResult>(std::make_move_iterator(results.begin() + skip),
                                         std::make_move_iterator(results.begin() + skip + user_count)));
         });
  }

  void Prepare(std::vector<Query> queued, const std::string& /*gid*/, Deadline deadline,
               Done done) override {
    size_t skip = 0;
    std::vector<Query> all = WithStart(std::move(queued), &skip);
    all.push_back({"XA END " + xid_sql_, {}});
    all.push_back({"XA PREPARE " + xid_sql_, {}});
    Send(std::move(all), deadline, [this, done = std::move(done)](Result<std::vector<QueryResult>> r) {
      if (r.ok()) {
        prepared_ = true;
        return done(Status::OK());
      }
      // Refused: nothing is prepared. The branch may still exist (active, or
      // rollback-only after a deadlock, where XA END fails too); Rollback
      // ends it, and an XAER_NOTA there means XA PREPARE's refusal
      // (XA_RB*) already rolled it back.
      done(r.TakeStatus());
    });
  }

  void CommitOnePhase(std::vector<Query> queued, Deadline deadline, Done done) override {
    if (!begun_ && queued.empty()) return done(Status::OK());
    size_t skip = 0;
    std::vector<Query> all = WithStart(std::move(queued), &skip);
    all.push_back({"XA END " + xid_sql_, {}});
    all.push_back({"XA COMMIT " + xid_sql_ + " ONE PHASE", {}});
    Send(std::move(all), deadline, [this, done = std::move(done)](Result<std::vector<QueryResult>> r) {
      if (r.ok()) ended_ = true;
      done(r.ok() ? Status::OK() : r.TakeStatus());
    });
  }

  void Rollback(Deadline deadline, Done done) override {
    if (!begun_ || ended_ || prepared_ || conn_->broken()) return done(Status::OK());
    // XA END may answer an error (already idle, or rollback-only after a
    // deadlock); XA ROLLBACK goes out on its own either way.
    Send({{"XA END " + xid_sql_, {}}}, deadline, [this, deadline, done = std::move(done)](auto) mutable {
      if (conn_->broken()) return done(Status::OK());  // closing rolled it back
      Send({{"XA ROLLBACK " + xid_sql_, {}}}, deadline, [this, done = std::move(done)](Result<std::vector<QueryResult>> r) {
        ended_ = true;
        Status s = r.ok() ? Status::OK() : MapXaResult(r.TakeStatus(), /*rollback=*/true);
        done(s.IsNotFound() ? Status::OK() : s);
      });
    });
  }

  void CommitPrepared(const std::string& /*gid*/, Deadline deadline, Done done) override {
    FinishPrepared("XA COMMIT ", false, deadline, std::move(done));
  }

  void RollbackPrepared(const std::string& /*gid*/, Deadline deadline, Done done) override {
    FinishPrepared("XA ROLLBACK ", true, deadline, std::move(done));
  }

 private:
  // Prepends the isolation level, the per-transaction limits, XA START and
  // the write count's baseline to the branch's first statements.
  std::vector<Query> WithStart(std::vector<Query> queries, size_t* skip) {
    if (begun_) return queries;
    begun_ = true;
    std::vector<Query> all;
    all.reserve(queries.size() + 5);
    all.push_back({IsolationSql(options_.isolation), {}});
    // Session settings: the reset at release puts them back. The numbers go
    // into the SQL as numeric literals, not as $n: a bound parameter is a
    // string literal, which SET refuses for a numeric variable (1232).
    if (options_.statement_timeout.count() > 0) {
      all.push_back({fmt::format("SET SESSION max_statement_time = {:.3f}",
                                 static_cast<double>(options_.statement_timeout.count()) / 1000.0),
                     {}});
    }
    if (options_.lock_timeout.count() > 0) {
      // Whole seconds only; rounded up so that a limit never becomes "no wait".
      all.push_back({fmt::format("SET SESSION innodb_lock_wait_timeout = {}",
                                 (options_.lock_timeout.count() + 999) / 1000),
                     {}});
    }
    all.push_back({"XA START " + xid_sql_, {}});
    baseline_at_ = all.size();
    all.push_back({kWriteCount, {}});
    *skip = all.size();
    for (auto& q : queries) all.push_back(std::move(q));
    return all;
  }

  // On this session, which the prepared branch is attached to: here
  // XAER_NOTA really means "no such branch".
  void FinishPrepared(const char* verb, bool rollback, Deadline deadline, Done done) {
    Send({{verb + xid_sql_, {}}}, deadline,
         [this, rollback, done = std::move(done)](Result<std::vector<QueryResult>> r) {
           if (r.ok()) ended_ = true;
           done(MapXaResult(r.ok() ? Status::OK() : r.TakeStatus(), rollback));
         });
  }

  void NoteBaseline(const std::vector<QueryResult>& results) {
    if (baseline_at_ == 0) return;
    if (baseline_at_ < results.size()) baseline_ = CountOf(results[baseline_at_]);
    baseline_at_ = 0;
  }

  void NoteWrites(const QueryResult& r) {
    if (CountOf(r) > baseline_) wrote_ = true;
  }

  void Send(std::vector<Query> queries, Deadline deadline, MariaDbConnection::ExecCallback done) {
    if (conn_->broken()) {
      return done(Status::Unavailable("connection was lost earlier in this transaction")
                      .WithParticipant(pool_->options().name));
    }
    conn_->AsyncExec(std::move(queries), deadline, std::move(done));
  }

  std::shared_ptr<MariaDbPool> pool_;
  std::shared_ptr<MariaDbConnection> conn_;
  TransactionOptions options_;
  std::string xid_sql_;
  bool begun_ = false;
  bool wrote_ = false;
  bool prepared_ = false;
  bool ended_ = false;       // XA COMMIT/ROLLBACK (ONE PHASE) done
  size_t baseline_at_ = 0;   // index of the baseline count in the first request
  uint64_t baseline_ = 0;
};

Result<std::string> XidSqlOf(const std::string& gid) {
  if (gid.rfind("xa:", 0) == 0) {
    Result<Xid> xid = ForeignMariaDbXid(gid);
    if (!xid.ok()) return xid.TakeStatus();
    return MariaDbXidSql(*xid);
  }
  Result<Xid> xid = MariaDbXidOfGid(gid);
  if (!xid.ok()) return xid.TakeStatus();
  return MariaDbXidSql(*xid);
}

}  // namespace

Status MapXaResult(Status s, bool rollback) {
  if (s.ok()) return s;
  if (s.sqlstate() == kXaNotA) {
    return std::move(Status::NotFound(s.message()).WithParticipant(s.participant())).WithSqlState(kXaNotA);
  }
  // XA_RBROLLBACK, XA_RBDEADLOCK, XA_RBTIMEOUT...: the server rolled the
  // branch back already, which is what a rollback asked for.
  if (rollback && s.sqlstate().rfind("XA1", 0) == 0) return Status::OK();
  return s;
}

MariaDbParticipant::MariaDbParticipant(asio::io_context& io, ParticipantOptions options,
                                       std::chrono::milliseconds connect_timeout) {
  Result<MariaDbConnInfo> info = ParseMariaDbConnInfo(options.conninfo);
  pool_ = std::make_shared<MariaDbPool>(io, std::move(options), connect_timeout, std::move(info));
}

// Its owner stopped the I/O threads first (CoordinatorImpl,
// RecoveryManagerImpl): every session this participant opened ends now.
MariaDbParticipant::~MariaDbParticipant() {
  pool_->Shutdown();
  std::shared_ptr<MariaDbConnection> registry;
  {
    MutexLock lock(registry_mutex_);
    registry = std::move(registry_);
  }
  if (registry != nullptr) registry->Close();  // frees the registration lock now
}

PoolStats MariaDbParticipant::pool_stats() const { return pool_->stats(); }

const std::string& MariaDbParticipant::name() const { return pool_->options().name; }

void MariaDbParticipant::Open(const TransactionOptions& options, const std::string& gid, Deadline deadline,
                              std::function<void(Result<std::unique_ptr<Branch>>)> done) {
  Result<Xid> xid = MariaDbXidOfGid(gid);
  if (!xid.ok()) {
    return done(Status::Internal("a MariaDB branch needs its gid at XA START: " + xid.status().message())
                    .WithParticipant(name()));
  }
  auto pool = pool_;
  pool_->Acquire(deadline, [pool, options, xid = std::move(*xid), done = std::move(done)](
                               Result<std::shared_ptr<MariaDbConnection>> conn) mutable {
    if (!conn.ok()) return done(conn.TakeStatus());
    done(std::unique_ptr<Branch>(new MariaDbBranch(pool, std::move(conn.value()), options, xid)));
  });
}

void MariaDbParticipant::RunPooled(std::vector<Query> queries, Deadline deadline,
                                   std::function<void(Result<std::vector<QueryResult>>)> done) {
  auto pool = pool_;
  pool_->Acquire(deadline, [pool, queries = std::move(queries), deadline, done = std::move(done)](
                               Result<std::shared_ptr<MariaDbConnection>> conn) mutable {
    if (!conn.ok()) return done(conn.TakeStatus());
    auto c = std::move(conn.value());
    c->AsyncExec(std::move(queries), deadline,
                 [pool, c, done = std::move(done)](Result<std::vector<QueryResult>> r) mutable {
                   pool->Release(std::move(c), /*used=*/false);
                   done(std::move(r));
                 });
  });
}

void MariaDbParticipant::Inspect(Query query, Deadline deadline,
                                 std::function<void(Result<std::vector<QueryResult>>)> done) {
  RunPooled({std::move(query)}, deadline, std::move(done));
}

void MariaDbParticipant::FinishPrepared(const char* verb, const std::string& gid, Deadline deadline,
                                        std::function<void(Status)> done) {
  Result<std::string> xid = XidSqlOf(gid);
  if (!xid.ok()) return done(xid.TakeStatus().WithParticipant(name()));
  bool rollback = std::string_view(verb) == "XA ROLLBACK";
  auto* self = this;
  RunPooled({{std::string(verb) + " " + *xid, {}}}, deadline,
            [self, gid, rollback, deadline, done = std::move(done)](Result<std::vector<QueryResult>> r) mutable {
              Status s = MapXaResult(r.ok() ? Status::OK() : r.TakeStatus(), rollback);
              if (!s.IsNotFound()) return done(std::move(s));
              // XAER_NOTA also answers a branch still attached to the live
              // session that prepared it: gone only if XA RECOVER agrees.
              self->Recover(deadline, [self, gid, s = std::move(s), done = std::move(done)](
                                          Result<std::vector<PreparedXact>> listed) mutable {
                if (!listed.ok()) return done(listed.TakeStatus());
                for (const PreparedXact& x : *listed) {
                  if (x.gid == gid) {
                    return done(Status::Unavailable(
                                    "XA branch " + gid +
                                    " is still attached to the live session that prepared it; retry once "
                                    "that session ends")
                                    .WithParticipant(self->name()));
                  }
                }
                done(std::move(s));
              });
            });
}

void MariaDbParticipant::CommitPrepared(const std::string& gid, Deadline deadline,
                                        std::function<void(Status)> done) {
  FinishPrepared("XA COMMIT", gid, deadline, std::move(done));
}

void MariaDbParticipant::RollbackPrepared(const std::string& gid, Deadline deadline,
                                          std::function<void(Status)> done) {
  FinishPrepared("XA ROLLBACK", gid, deadline, std::move(done));
}

void MariaDbParticipant::Recover(Deadline deadline,
                                 std::function<void(Result<std::vector<PreparedXact>>)> done) {
  // Plain XA RECOVER gives the xid's raw bytes with their lengths, which
  // survives binary xids exactly.
  std::string database = pool_->info().ok() ? pool_->info()->dbname : "";
  RunPooled({{"XA RECOVER", {}}}, deadline,
            [database, done = std::move(done)](Result<std::vector<QueryResult>> r) {
              if (!r.ok()) return done(r.TakeStatus());
              // MariaDB does not say when a branch was prepared:
              // prepared_at_ms stays 0, "unknown" (never old enough to be
              // fenced by age: recovery_scanner.cc, MayBeDeciding).
              std::vector<PreparedXact> out;
              for (const auto& row : r.value()[0].rows) {
                if (row.size() < 4) continue;
                Xid xid;
                xid.format_id = static_cast<int32_t>(std::strtol(row[0].value_or("0").c_str(), nullptr, 10));
                size_t gl = std::strtoul(row[1].value_or("0").c_str(), nullptr, 10);
                size_t bl = std::strtoul(row[2].value_or("0").c_str(), nullptr, 10);
                std::string data = row[3].value_or("");
                if (gl + bl > data.size()) continue;
                xid.gtrid = data.substr(0, gl);
                xid.bqual = data.substr(gl, bl);
                PreparedXact x;
                x.gid = GidOfMariaDbXid(xid);
                x.database = database;
                out.push_back(std::move(x));
              }
              done(std::move(out));
            });
}

void MariaDbParticipant::TransactionStatus(uint64_t, Deadline, std::function<void(Result<TxidOutcome>)> done) {
  done(TxidOutcome::kUnknown);
}

void MariaDbParticipant::AwaitGone(std::vector<uint64_t> ids, Deadline deadline, std::function<void(Status)> done) {
  if (ids.empty()) return done(Status::OK());
  std::string list;
  for (uint64_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
  auto* self = this;
  std::string name = this->name();
  RunPooled({{"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (" + list + ")", {}}}, deadline,
            [self, ids = std::move(ids), name, deadline, done = std::move(done)](
                Result<std::vector<QueryResult>> r) mutable {
              if (!r.ok()) return done(r.TakeStatus());
              if (CountOf(r.value()[0]) == 0) return done(Status::OK());
              if (Clock::now() >= deadline) {
                return done(Status::TimedOut("a killed server session did not end in time").WithParticipant(name));
              }
              auto timer = std::make_shared<asio::steady_timer>(self->pool_->io(), std::chrono::milliseconds(20));
              timer->async_wait([self, timer, ids = std::move(ids), deadline, done = std::move(done)](auto) mutable {
                self->AwaitGone(std::move(ids), deadline, std::move(done));
              });
            });
}

void MariaDbParticipant::EndSession(int session, Deadline deadline, std::function<void(Status)> done) {
  if (session <= 0) return done(Status::OK());
  auto* self = this;
  auto id = static_cast<uint64_t>(session);
  // KILL of a session that is gone already answers ER_NO_SUCH_THREAD (1094).
  RunPooled({{"KILL CONNECTION " + std::to_string(id), {}}}, deadline,
            [self, id, deadline, done = std::move(done)](Result<std::vector<QueryResult>> r) mutable {
              if (!r.ok() && !r.status().IsSqlError()) return done(r.TakeStatus());
              self->AwaitGone({id}, deadline, std::move(done));
            });
}

void MariaDbParticipant::EndSessions(const std::string& node_id, IncarnationRange which, Deadline deadline,
                                     std::function<void(Result<EndedSessions>)> done) {
  // A busy session of ours shows its request, which opens with the tag
  // comment "/* twopc.<node>.<incarnation> */". An idle one holds no XA
  // branch that could still prepare: the server rolled back an active
  // branch when its client went away.
  auto* self = this;
  RunPooled({{"SELECT ID, INFO FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE $1",
              {"/* twopc." + node_id + ".%"}}},
            deadline, [self, node_id, which, deadline, done = std::move(done)](Result<std::vector<QueryResult>> r) mutable {
              if (!r.ok()) return done(r.TakeStatus());
              std::vector<uint64_t> ids;
              std::string prefix = "/* twopc." + node_id + ".";
              for (const auto& row : r.value()[0].rows) {
                std::string info = row[1].value_or("");
                if (info.rfind(prefix, 0) != 0) continue;
                uint64_t inc = std::strtoull(info.c_str() + prefix.size(), nullptr, 10);
                if (inc < which.from || inc >= which.below) continue;
                ids.push_back(std::strtoull(row[0].value_or("0").c_str(), nullptr, 10));
              }
              if (ids.empty()) return done(EndedSessions{});
              std::vector<Query> kills;
              kills.reserve(ids.size());
              for (uint64_t id : ids) kills.push_back({"KILL CONNECTION " + std::to_string(id), {}});
              int n = static_cast<int>(ids.size());
              // One KILL per request: one that is gone already must not stop the rest.
              auto remaining = std::make_shared<size_t>(kills.size());
              auto finish = [self, ids, n, deadline, done = std::move(done)]() mutable {
                self->AwaitGone(ids, deadline, [n, done = std::move(done)](const Status& s) {
                  EndedSessions e;
                  e.terminated = s.ok() ? n : 0;
                  e.remaining = s.ok() ? 0 : n;
                  done(e);
                });
              };
              auto shared_finish = std::make_shared<decltype(finish)>(std::move(finish));
              for (auto& k : kills) {
                self->RunPooled({std::move(k)}, deadline, [remaining, shared_finish](auto) {
                  if (--*remaining == 0) (*shared_finish)();
                });
              }
            });
}

void MariaDbParticipant::Register(const std::string& node_id, uint64_t /*incarnation*/, Deadline deadline,
                                  std::function<void(Status)> done) {
  std::shared_ptr<MariaDbConnection> conn;
  {
    MutexLock lock(registry_mutex_);
    conn = registry_;
  }
  auto* self = this;
  std::string lock_name = "twopc.registration." + node_id;
  if (conn != nullptr && !conn->broken()) {
    conn->AsyncExec({{"SELECT 1", {}}}, deadline,
                    [self, node_id, deadline, done = std::move(done)](const Result<std::vector<QueryResult>>& r) mutable {
                      if (r.ok()) return done(Status::OK());
                      self->Register(node_id, 0, deadline, std::move(done));
                    });
    return;
  }
  if (!pool_->info().ok()) return done(Status(pool_->info().status()).WithParticipant(name()));
  std::string name = this->name();
  MariaDbConnection::AsyncConnect(
      pool_->io(), name, *pool_->info(), std::min(deadline, Clock::now() + pool_->connect_timeout()),
      [self, name, node_id, lock_name, deadline, done = std::move(done)](
          Result<std::shared_ptr<MariaDbConnection>> c) mutable {
        if (!c.ok()) return done(c.TakeStatus());
        auto conn = std::move(c.value());
        // GET_LOCK: a named lock held by this session until it ends, the
        // MariaDB counterpart of the session advisory lock.
        conn->AsyncExec({{"SELECT GET_LOCK($1, 1.5), IS_USED_LOCK($1)", {lock_name}}}, deadline,
                        [self, conn, name, node_id, done = std::move(done)](Result<std::vector<QueryResult>> r) mutable {
                          if (!r.ok()) return done(r.TakeStatus());
                          const auto& rows = r.value()[0].rows;
                          if (!rows.empty() && rows[0][0].value_or("0") == "1") {
                            {
                              MutexLock lock(self->registry_mutex_);
                              self->registry_ = std::move(conn);
                            }
                            return done(Status::OK());
                          }
                          std::string holder = rows.empty() ? "?" : rows[0][1].value_or("?");
                          done(Status::Conflict(fmt::format(
                                   "node id '{}' is already in use by a live coordinator (MariaDB session {} "
                                   "holds its registration lock). Give each process its own node_id "
                                   "(docs/operations.md, \"Node ids\")",
                                   node_id, holder))
                                   .WithParticipant(name));
                        });
      });
}

void MariaDbParticipant::CheckReady(Deadline deadline, std::function<void(Status)> done) {
  std::string name = this->name();
  // The version, and whether this server rolls prepared XA branches back
  // when their client disconnects (MariaDB < 10.5 did; the variable exists
  // only where that can still be switched on). XA RECOVER needs no
  // privilege on MariaDB; it runs here so that a server that refuses it
  // fails at start-up rather than in recovery.
  RunPooled({{"SELECT VERSION(), (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES "
              "WHERE VARIABLE_NAME = 'LEGACY_XA_ROLLBACK_AT_DISCONNECT')",
              {}},
             {"XA RECOVER", {}}},
            deadline, [name, done = std::move(done)](Result<std::vector<QueryResult>> r) {
              if (!r.ok()) return done(r.TakeStatus());
              const auto& rows = r.value()[0].rows;
              std::string version = rows.empty() ? "" : rows[0][0].value_or("");
              std::string legacy = rows.empty() ? "" : rows[0][1].value_or("");
              int major = 0, minor = 0;
              std::sscanf(version.c_str(), "%d.%d", &major, &minor);
              if (version.find("MariaDB") == std::string::npos || major < 10 || (major == 10 && minor < 5)) {
                return done(Status::InvalidArgument(fmt::format(
                                "server version {} cannot be an XA participant: twopc needs MariaDB 10.5 or "
                                "newer, where a prepared XA branch survives its client disconnecting",
                                version.empty() ? "unknown" : version))
                                .WithParticipant(name));
              }
              if (legacy == "ON" || legacy == "1") {
                return done(Status::InvalidArgument(
                                "legacy_xa_rollback_at_disconnect is ON: prepared XA branches would be rolled "
                                "back when their connection ends. Set it OFF")
                                .WithParticipant(name));
              }
              done(Status::OK());
            });
}

}  // namespace twopc::internal
