// PgConnection: one non-blocking libpq connection driven by Boost.Asio.
//
// No thread per connection: the socket's readiness is awaited with
// asio::posix::stream_descriptor on the coordinator's io_context, and every
// request is sent in libpq pipeline mode, so "BEGIN; stmt; stmt; PREPARE
// TRANSACTION" costs one round trip.
//
// Thread-safety: all handlers of one connection run on its strand; a
// connection serves one request at a time (the pool hands it to one branch).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "participants/query.h"
#include "twopc/status.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace twopc::internal {

class PgConnection : public std::enable_shared_from_this<PgConnection> {
 public:
  using ConnectCallback = std::function<void(Result<std::shared_ptr<PgConnection>>)>;
  using ExecCallback = std::function<void(Result<std::vector<QueryResult>>)>;

  // Connects asynchronously. Errors are Unavailable (or TimedOut past
  // `deadline`) and name `participant`; they never contain the conninfo.
  // A non-empty `application_name` overrides the conninfo's: it is how
  // recovery finds the sessions of a coordinator process (docs/protocol.md,
  // "Sessions of a dead coordinator").
  static void AsyncConnect(boost::asio::io_context& io, std::string participant,
                           const std::string& conninfo, Deadline deadline, ConnectCallback done,
                           std::string application_name = {});

  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Sends `queries` in one pipeline and calls `done` with one result per
  // query, or with the first failure:
  //   SqlError    -- the server refused a statement (sqlstate() says why);
  //                  the connection stays usable;
  //   Unavailable -- the connection broke: the server may or may not have
  //                  executed what was sent ("outcome unknown");
  //   TimedOut    -- `deadline` passed; the connection is closed, which makes
  //                  the server abort an open (unprepared) transaction.
  // REQUIRES: no other request in flight; !broken().
  void AsyncExec(std::vector<Query> queries, Deadline deadline, ExecCallback done);

  bool broken() const { return conn_ == nullptr; }
  // The server process serving this connection (pg_backend_pid()); kept
  // after the connection broke, so that its session can be waited out.
  int backend_pid() const { return backend_pid_; }
  // True when the session is inside a transaction block (or a failed one).
  bool InTransaction() const;
  // Stricter, for the end of a request: the server's last ReadyForQuery said
  // the session is inside a transaction block, failed or not
  // (PQTRANS_INTRANS / PQTRANS_INERROR), not idle. In pipeline mode libpq
  // knows this only at a sync point, i.e. once a request has finished.
  bool InTransactionBlock() const;
  const std::string& participant() const { return participant_; }
  // After AsyncExec answered SqlError: the 0-based index of the query that
  // failed.
  size_t failed_query() const { return failed_query_; }
  // After AsyncExec failed (SqlError, or a connection lost mid-way): the
  // results of the queries that answered before (the rest are empty). Call
  // at most once per failure.
  std::vector<QueryResult> TakePartialResults() { return std::move(partial_results_); }
  // After AsyncExec failed: each query's own answer, for requests whose
  // statements stand alone (each followed by a Sync, so one failing does not
  // abort the rest): OK, its SqlError, or nullopt when no answer arrived
  // (the connection broke first: it may or may not have run; in a segment
  // that an earlier statement's error aborted it certainly did not, which
  // cannot happen with a Sync after each). Call at most once per failure.
  std::vector<std::optional<Status>> TakeQueryStatuses() { return std::move(query_statuses_); }
  // Quotes `text` as an SQL literal with libpq's escaping. REQUIRES: !broken().
  std::string QuoteLiteral(const std::string& text) const;

 private:
  struct Request;

  PgConnection(boost::asio::io_context& io, std::string participant);

  void ContinueConnect(int poll_status, Deadline deadline, ConnectCallback done);
  void WatchSocket(bool for_write, std::function<void()> on_ready);
  void Flush();
  void ReadResults();
  void Finish(Status failure);
  void Break(Status reason);
  Status ConnectionError(const char* what) const;

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::posix::stream_descriptor socket_;
  boost::asio::steady_timer timer_;
  std::string participant_;
  PGconn* conn_ = nullptr;
  int backend_pid_ = 0;
  std::unique_ptr<Request> request_;  // the request in flight, if any
  size_t failed_query_ = 0;
  std::vector<QueryResult> partial_results_;
  std::vector<std::optional<Status>> query_statuses_;
};

}  // namespace twopc::internal
