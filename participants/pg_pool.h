// PgPool: the connections of one participant, reused across transactions.
//
// A connection is handed to one branch at a time. Connections come back idle
// (no open transaction) or are dropped: a branch whose connection broke or
// timed out never returns it.
//
// Every connection the pool hands out is a fresh session: right after
// connecting it runs the participant's session_init statements, and a
// connection that ran application statements is reset (DISCARD ALL, then
// session_init again) before anyone else gets it, as pgbouncer's
// server_reset_query does. A branch normally sends the reset in its last
// pipeline (ResetQueries); Release(reset = true) is the fallback. Otherwise what one transaction did to its session
// -- SET, a session advisory lock, a temp table, a prepared statement, LISTEN
// -- would reach whichever transaction gets the connection next, and an idle
// pooled connection could sit on an advisory lock that blocks others.
#pragma once

#include <deque>
#include <list>
#include <memory>
#include "common/thread_annotations.h"
#include "participants/participant.h"
#include "participants/pg_connection.h"
#include "twopc/options.h"

namespace twopc::internal {

class PgPool : public std::enable_shared_from_this<PgPool> {
 public:
  using AcquireCallback = std::function<void(Result<std::shared_ptr<PgConnection>>)>;

  // A new connection gives up after `connect_timeout` even if the caller's
  // deadline is later.
  PgPool(boost::asio::io_context& io, ParticipantOptions options,
         std::chrono::milliseconds connect_timeout);

  // Calls `done` with an idle connection: a pooled one, a new one, or the
  // next one released if max_connections are all in use. TimedOut at
  // `deadline`.
  void Acquire(Deadline deadline, AcquireCallback done) TWOPC_EXCLUDES(mutex_);

  // Returns a connection. Broken ones and ones still inside a transaction are
  // dropped (closing them makes the server roll back). With `reset` (the
  // connection ran application statements and was not reset since) it is
  // reset first, in the background: the caller does not wait, the next user
  // does. A reset that fails or takes longer than the connect timeout drops
  // the connection.
  void Release(std::shared_ptr<PgConnection> conn, bool reset = false) TWOPC_EXCLUDES(mutex_);

  // Closes idle connections; later Acquire calls still work.
  void Clear() TWOPC_EXCLUDES(mutex_);

  // DISCARD ALL, then session_init: what resets a session. A branch sends
  // them in its last pipeline, behind PREPARE/COMMIT/ROLLBACK, which saves
  // the round trip of a reset at release.
  std::vector<Query> ResetQueries() const;

  const ParticipantOptions& options() const { return options_; }
  boost::asio::io_context& io() const { return io_; }
  std::chrono::milliseconds connect_timeout() const { return connect_timeout_; }
  PoolStats stats() const TWOPC_EXCLUDES(mutex_);

 private:
  struct Waiter;

  // An idle connection that is not broken (broken ones are dropped), or null.
  std::shared_ptr<PgConnection> TakeIdle() TWOPC_REQUIRES(mutex_);
  // TimedOut for `waiter` at `deadline` unless it was answered first. Its
  // handler takes the lock: it never runs inside async_wait.
  void ArmTimeout(const std::shared_ptr<Waiter>& waiter, Deadline deadline) TWOPC_REQUIRES(mutex_);
  void Connect(Deadline deadline, AcquireCallback done);
  // Runs session_init on a new connection, then hands it to `done`.
  void InitSession(std::shared_ptr<PgConnection> conn, Deadline deadline,
                   AcquireCallback done);
  void Reset(std::shared_ptr<PgConnection> conn);
  void Hand(std::shared_ptr<PgConnection> conn) TWOPC_EXCLUDES(mutex_);
  // Closes a connection that will not be reused, and lets the oldest waiter
  // connect anew in its place.
  void Drop(std::shared_ptr<PgConnection> conn) TWOPC_EXCLUDES(mutex_);

  boost::asio::io_context& io_;
  const ParticipantOptions options_;
  const std::chrono::milliseconds connect_timeout_;
  mutable Mutex mutex_;
  std::deque<std::shared_ptr<PgConnection>> idle_ TWOPC_GUARDED_BY(mutex_);
  std::list<std::shared_ptr<Waiter>> waiters_ TWOPC_GUARDED_BY(mutex_);
  int open_ TWOPC_GUARDED_BY(mutex_) = 0;  // idle + lent + connecting
};

}  // namespace twopc::internal
