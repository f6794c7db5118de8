// MariaDbConnection: one MariaDB Connector/C connection in its non-blocking
// mode, driven by Boost.Asio.
//
// The same shape as PgConnection: no thread per connection and no blocking
// call on an I/O thread. Every Connector/C call is a `_start` / `_cont` pair;
// between the two, the socket (mysql_get_socket) is awaited with
// asio::posix::stream_descriptor and the library's own timeouts
// (mysql_get_timeout_value_ms) with a timer. A request's statements go out
// as one multi-statement query, so "XA START; stmt; stmt; XA END; XA
// PREPARE" costs one round trip; the server stops at the first statement
// that fails, as a PostgreSQL pipeline does.
//
// Statements use PostgreSQL's $1...$n placeholders; each parameter is sent
// as a `_utf8mb4 X'<hex>'` literal (participants/mariadb_sql.h), so no
// parameter text ever becomes SQL.
//
// Thread-safety: all handlers of one connection run on its strand; a
// connection serves one request at a time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "participants/query.h"
#include "twopc/status.h"

struct st_mysql;
using MYSQL = st_mysql;  // as mysql.h declares it

namespace twopc::internal {

// The parts of a MariaDB participant's conninfo: the libpq key=value style
// (and quoting), with the keywords host, port, user, password, dbname and
// connect_timeout. A host starting with '/' is a unix socket path.
struct MariaDbConnInfo {
  std::string host = "127.0.0.1";
  unsigned port = 3306;
  std::string user;
  std::string password;
  std::string dbname;
  std::string socket;
  unsigned connect_timeout_s = 0;
};

// InvalidArgument naming the keyword when `conninfo` has one MariaDB does not
// take, or is malformed; the message never holds the conninfo itself.
Result<MariaDbConnInfo> ParseMariaDbConnInfo(const std::string& conninfo);

class MariaDbConnection : public std::enable_shared_from_this<MariaDbConnection> {
 public:
  using ConnectCallback = std::function<void(Result<std::shared_ptr<MariaDbConnection>>)>;
  using ExecCallback = std::function<void(Result<std::vector<QueryResult>>)>;
  using DoneCallback = std::function<void(Status)>;

  // Connects asynchronously (utf8mb4, multi-statements). Errors are
  // Unavailable (TimedOut past `deadline`), name `participant` and never
  // hold the password. `tag` (e.g. "twopc.node-a.3") opens every request
  // as a comment, so that the processlist tells whose a session is
  // (docs/protocol.md, "Sessions of a dead coordinator").
  static void AsyncConnect(boost::asio::io_context& io, std::string participant,
                           const MariaDbConnInfo& info, Deadline deadline, ConnectCallback done,
                           std::string tag = {});

  ~MariaDbConnection();
  MariaDbConnection(const MariaDbConnection&) = delete;
  MariaDbConnection& operator=(const MariaDbConnection&) = delete;

  // Sends `queries` as one multi-statement query; one result per query, or
  // the first failure, as PgConnection::AsyncExec:
  //   InvalidArgument -- a statement could not be sent as written (a
  //                      placeholder without a parameter, two statements in
  //                      one Query); nothing was sent;
  //   SqlError    -- the server refused statement failed_query(); the ones
  //                  after it did not run; the connection stays usable;
  //   Unavailable -- the connection broke: what was sent may have run;
  //   TimedOut    -- `deadline` passed; the connection is closed.
  // Query::sync_after has no meaning here (each statement already answers
  // on its own). REQUIRES: no other request in flight.
  void AsyncExec(std::vector<Query> queries, Deadline deadline, ExecCallback done);

  // Closes the connection now, answering a request in flight with
  // Unavailable. For shutdown: REQUIRES that no handler of this connection
  // can run concurrently (its io_context is stopped). A request's callback
  // may hold the connection itself (a reset in flight at release), which
  // nothing else would ever break once the event loop is gone.
  void Close() { Break(Status::Unavailable("closed").WithParticipant(participant_)); }

  // COM_RESET_CONNECTION: ends what the session holds (an open transaction,
  // user variables, temporary tables, locks), as DISCARD ALL does.
  void AsyncReset(Deadline deadline, DoneCallback done);

  bool broken() const { return mysql_ == nullptr; }
  // The server's id of this session (CONNECTION_ID()); kept after the
  // connection broke, so that the session can be ended and waited out.
  uint64_t connection_id() const { return connection_id_; }
  const std::string& participant() const { return participant_; }
  size_t failed_query() const { return failed_query_; }
  std::vector<QueryResult> TakePartialResults() { return std::move(partial_results_); }

 private:
  struct Request;

  MariaDbConnection(boost::asio::io_context& io, std::string participant, std::string tag);

  // Calls `cont(ready)` each time what Connector/C waits for (`status`:
  // MYSQL_WAIT_READ/WRITE/TIMEOUT) happens, until it returns 0; then `then`.
  void Drive(int status, std::function<int(int)> cont, std::function<void()> then);
  void StartConnect(const MariaDbConnInfo& info);
  void OnConnected(MYSQL* ret);
  void StartQuery();
  void StoreResult();
  void NextResult();
  void Finish(Status failure);
  void Break(Status reason);
  Status ErrorStatus(const char* what) const;

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::posix::stream_descriptor socket_;
  boost::asio::steady_timer deadline_timer_;
  boost::asio::steady_timer wait_timer_;  // Connector/C's own timeouts
  uint64_t step_ = 0;                     // stale wake-ups carry an older step
  uint64_t requests_ = 0;                 // requests made, numbering each
  std::string participant_;
  std::string tag_;
  MYSQL* mysql_ = nullptr;
  std::unique_ptr<MariaDbConnInfo> info_;  // while connecting
  uint64_t connection_id_ = 0;
  std::unique_ptr<Request> request_;
  size_t failed_query_ = 0;
  std::vector<QueryResult> partial_results_;
};

}  // namespace twopc::internal
