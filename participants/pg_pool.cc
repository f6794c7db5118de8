#include "participants/pg_pool.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/logging.h"
#include "participants/session_init.h"

namespace twopc::internal {

namespace asio = boost::asio;

namespace {

// The participant's own statements, run on every new session and after
// every reset.
std::vector<Query> SessionInitQueries(const ParticipantOptions& options) {
  std::vector<Query> out;
  out.reserve(options.session_init.size());
  for (const auto& sql : options.session_init) out.push_back({sql, {}});
  return out;
}

}  // namespace

struct PgPool::Waiter {
  explicit Waiter(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  AcquireCallback done;  // empty once answered
};

PgPool::PgPool(asio::io_context& io, ParticipantOptions options,
               std::chrono::milliseconds connect_timeout)
    : io_(io), options_(std::move(options)), connect_timeout_(connect_timeout) {}

PoolStats PgPool::stats() const {
  MutexLock lock(mutex_);
  return {open_, static_cast<int>(idle_.size()), static_cast<int>(waiters_.size())};
}

std::shared_ptr<PgConnection> PgPool::TakeIdle() {
  while (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    if (!conn->broken()) return conn;
    --open_;
  }
  return nullptr;
}

void PgPool::Acquire(Deadline deadline, AcquireCallback done) {
  std::shared_ptr<PgConnection> conn;
  {
    MutexLock lock(mutex_);
    conn = TakeIdle();
    if (conn == nullptr && open_ < options_.max_connections) {
      ++open_;  // the slot of the connection opened below
    } else if (conn == nullptr) {
      // Every connection is lent out: wait for one to come back.
      auto waiter = std::make_shared<Waiter>(io_);
      waiter->done = std::move(done);
      // Armed before anyone can find it in waiters_: Hand and Drop cancel
      // the timer of a waiter they took from there, on their own thread,
      // and an asio timer must not be used by two threads at once.
      ArmTimeout(waiter, deadline);
      waiters_.push_back(std::move(waiter));
      return;
    }
  }
  // Callbacks and connects run outside the lock: they may come back here.
  if (conn != nullptr) return done(std::move(conn));
  Connect(deadline, std::move(done));
}

void PgPool::ArmTimeout(const std::shared_ptr<Waiter>& waiter, Deadline deadline) {
  waiter->timer.expires_at(deadline);
  std::weak_ptr<PgPool> weak = weak_from_this();
  waiter->timer.async_wait([weak, waiter](const boost::system::error_code& ec) {
    if (ec) return;
    auto pool = weak.lock();
    if (!pool) return;
    AcquireCallback done;
    {
      MutexLock lock(pool->mutex_);
      if (!waiter->done) return;
      done = std::move(waiter->done);
      pool->waiters_.remove(waiter);
    }
    done(Status::TimedOut("all " + std::to_string(pool->options_.max_connections) +
                          " connections are in use (max_connections)")
             .WithParticipant(pool->options_.name));
  });
}

void PgPool::Connect(Deadline deadline, AcquireCallback done) {
  auto self = shared_from_this();
  deadline = std::min(deadline, Clock::now() + connect_timeout_);
  PgConnection::AsyncConnect(
      io_, options_.name, options_.conninfo, deadline,
      [self, deadline, done = std::move(done)](Result<std::shared_ptr<PgConnection>> conn) {
        if (!conn.ok()) {
          {
            MutexLock lock(self->mutex_);
            --self->open_;
          }
          done(std::move(conn));
          return;
        }
        self->InitSession(std::move(conn.value()), deadline, std::move(done));
      },
      options_.application_name);
}

void PgPool::InitSession(std::shared_ptr<PgConnection> conn, Deadline deadline,
                         AcquireCallback done) {
  if (options_.session_init.empty()) {
    done(std::move(conn));
    return;
  }
  // Options built in code skip the config reader's checks.
  for (size_t i = 0; i < options_.session_init.size(); ++i) {
    std::string problem = SessionInitProblem(options_.session_init[i]);
    if (problem.empty()) continue;
    conn.reset();
    {
      MutexLock lock(mutex_);
      --open_;
    }
    done(Status::InvalidArgument("session_init statement " + std::to_string(i + 1) + " " +
                                 problem)
             .WithParticipant(options_.name));
    return;
  }
  auto self = shared_from_this();
  auto c = conn;
  c->AsyncExec(
      SessionInitQueries(options_), deadline,
      [self, conn = std::move(conn), done = std::move(done)](
          Result<std::vector<QueryResult>> r) mutable {
        Status failure;
        if (!r.ok()) {
          failure = r.TakeStatus();
          // A statement the server refuses is a configuration error, to be
          // fixed in the config, not retried: InvalidArgument makes
          // Coordinator::Open fail with it.
          if (failure.IsSqlError()) {
            failure = std::move(Status::InvalidArgument(
                                    "session_init statement " +
                                    std::to_string(conn->failed_query() + 1) + " of " +
                                    std::to_string(self->options_.session_init.size()) +
                                    " failed: " + failure.message())
                                    .WithParticipant(self->options_.name))
                          .WithSqlState(failure.sqlstate());
          }
        } else if (conn->InTransaction()) {
          failure = Status::InvalidArgument(
                        "session_init leaves the session inside a transaction block; its "
                        "statements must not open a transaction")
                        .WithParticipant(self->options_.name);
        }
        if (!failure.ok()) {
          conn.reset();
          {
            MutexLock lock(self->mutex_);
            --self->open_;
          }
          done(std::move(failure));
          return;
        }
        done(std::move(conn));
      });
}

void PgPool::Release(std::shared_ptr<PgConnection> conn, bool reset) {
  if (conn == nullptr) return;
  if (conn->broken() || conn->InTransaction()) {
    Drop(std::move(conn));  // closing it makes the server roll back
    return;
  }
  if (reset) {
    Reset(std::move(conn));
    return;
  }
  Hand(std::move(conn));
}

std::vector<Query> PgPool::ResetQueries() const {
  // DISCARD ALL, not a list of RESETs: it also drops what no list names
  // (temp tables, session advisory locks, prepared statements, LISTEN, WITH
  // HOLD cursors, SET ROLE / SESSION AUTHORIZATION). Settings made when the
  // session started (the conninfo's parameters, options=-c...) are its
  // defaults and survive it. PostgreSQL runs it only as the first statement
  // of a pipeline segment or right after the transaction block ended
  // (COMMIT, ROLLBACK, PREPARE TRANSACTION), which is where it is sent.
  std::vector<Query> queries;
  queries.reserve(options_.session_init.size() + 1);
  queries.push_back({"DISCARD ALL", {}});
  for (auto& q : SessionInitQueries(options_)) queries.push_back(std::move(q));
  return queries;
}

void PgPool::Reset(std::shared_ptr<PgConnection> conn) {
  std::vector<Query> queries = ResetQueries();
  auto self = shared_from_this();
  auto c = conn;
  c->AsyncExec(std::move(queries), Clock::now() + connect_timeout_,
               [self, conn = std::move(conn)](Result<std::vector<QueryResult>> r) mutable {
                 if (!r.ok() || conn->InTransaction()) {
                   LogWith(LogLevel::kWarn,
                           {.event = "connection_reset_failed",
                            .participant = self->options_.name,
                            .sqlstate = r.ok() ? std::string_view() : r.status().sqlstate()},
                           "twopc: participant {}: resetting a pooled connection failed ({}); "
                           "closing it",
                           self->options_.name,
                           r.ok() ? "session_init left a transaction open" : r.status().ToString());
                   self->Drop(std::move(conn));
                   return;
                 }
                 self->Hand(std::move(conn));
               });
}

void PgPool::Drop(std::shared_ptr<PgConnection> conn) {
  conn.reset();
  std::shared_ptr<Waiter> waiter;
  {
    MutexLock lock(mutex_);
    --open_;
    if (!waiters_.empty()) {
      // A slot is free again: connect anew for the oldest waiter.
      waiter = waiters_.front();
      waiters_.pop_front();
      ++open_;
    }
  }
  if (waiter) {
    waiter->timer.cancel();
    auto deadline = waiter->timer.expiry();
    AcquireCallback done;
    {
      MutexLock lock(mutex_);
      done = std::move(waiter->done);
    }
    if (done) {
      Connect(deadline, std::move(done));
    } else {
      MutexLock lock(mutex_);  // its timer answered it first
      --open_;
    }
  }
}

void PgPool::Hand(std::shared_ptr<PgConnection> conn) {
  AcquireCallback done;
  {
    MutexLock lock(mutex_);
    while (!waiters_.empty() && !done) {
      auto waiter = waiters_.front();
      waiters_.pop_front();
      waiter->timer.cancel();
      done = std::move(waiter->done);
    }
    if (!done) {
      idle_.push_back(std::move(conn));
      return;
    }
  }
  // Not called under the lock: the waiter may Acquire/Release at once.
  asio::post(io_, [done = std::move(done), conn = std::move(conn)]() mutable { done(std::move(conn)); });
}

void PgPool::Clear() {
  MutexLock lock(mutex_);
  open_ -= static_cast<int>(idle_.size());
  idle_.clear();
}

}  // namespace twopc::internal
