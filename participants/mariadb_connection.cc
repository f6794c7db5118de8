#include "participants/mariadb_connection.h"

#include <errmsg.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

#include <boost/asio/post.hpp>

#include "participants/mariadb_sql.h"

namespace twopc::internal {

namespace asio = boost::asio;

struct MariaDbConnection::Request {
  uint64_t seq = 0;  // tells a request from the next one (the deadline timer)
  std::vector<QueryResult> results;
  size_t index = 0;  // the statement whose answer is read next
  std::string sql;
  ExecCallback exec_done;
  ConnectCallback connect_done;
  DoneCallback reset_done;
};

namespace {

// Connection loss, server shutdown, a killed session: what was sent may or
// may not have run ("outcome unknown"), never "it failed".
bool IsConnectionLoss(unsigned err) {
  return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST || err == CR_CONNECTION_ERROR ||
         err == CR_CONN_HOST_ERROR || err == CR_SERVER_LOST_EXTENDED || err == ER_SERVER_SHUTDOWN ||
         err == ER_CONNECTION_KILLED || err == ER_NET_READ_ERROR || err == ER_NET_ERROR_ON_WRITE ||
         err == ER_NET_READ_INTERRUPTED || err == CR_UNKNOWN_ERROR;
}

// The first word of a statement, upper-cased: the closest MariaDB has to a
// command tag.
std::string CommandOf(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i])) != 0) ++i;
  std::string out;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i])) != 0) {
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i++])));
  }
  return out;
}

}  // namespace

Result<MariaDbConnInfo> ParseMariaDbConnInfo(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    // libpq's message may quote a word of the text, and a malformed
    // password ("password=a b") makes that word part of the password: say
    // only what kind of mistake it is.
    std::string why = error != nullptr ? error : "";
    if (error != nullptr) PQfreemem(error);
    std::string kind = why.find("invalid connection option") != std::string::npos
                           ? "an unknown keyword"
                       : why.find("missing \"=\"") != std::string::npos ? "a word without \"=\""
                       : why.find("unterminated") != std::string::npos   ? "an unterminated quote"
                                                                          : "a syntax error";
    return Status::InvalidArgument(
        "MariaDB conninfo has " + kind +
        " (key=value pairs: host, port, user, password, dbname, connect_timeout; quote a value "
        "with spaces as 'a b')");
  }
  MariaDbConnInfo info;
  Status status;
  for (PQconninfoOption* o = options; o->keyword != nullptr && status.ok(); ++o) {
    if (o->val == nullptr) continue;
    std::string_view key = o->keyword;
    std::string val = o->val;
    if (key == "host") {
      if (!val.empty() && val[0] == '/') {
        info.socket = val;
        info.host = "localhost";  // Connector/C uses the socket only for "localhost"
      } else {
        info.host = val;
      }
    } else if (key == "port" || key == "connect_timeout") {
      unsigned n = 0;
      auto [ptr, ec] = std::from_chars(val.data(), val.data() + val.size(), n);
      if (ec != std::errc() || ptr != val.data() + val.size()) {
        status = Status::InvalidArgument("MariaDB conninfo: " + std::string(key) + " is not a number");
      } else if (key == "port") {
        info.port = n;
      } else {
        info.connect_timeout_s = n;
      }
    } else if (key == "user") {
      info.user = val;
    } else if (key == "password") {
      info.password = val;
    } else if (key == "dbname") {
      info.dbname = val;
    } else {
      status = Status::InvalidArgument(
          "MariaDB conninfo: keyword \"" + std::string(key) +
          "\" is not supported (host, port, user, password, dbname, connect_timeout are)");
    }
  }
  PQconninfoFree(options);
  if (!status.ok()) return status;
  return info;
}

MariaDbConnection::MariaDbConnection(asio::io_context& io, std::string participant, std::string tag)
    : strand_(asio::make_strand(io)),
      socket_(strand_),
      deadline_timer_(strand_),
      wait_timer_(strand_),
      participant_(std::move(participant)),
      tag_(std::move(tag)) {}

MariaDbConnection::~MariaDbConnection() {
  if (socket_.is_open()) socket_.release();  // the descriptor is Connector/C's
  if (mysql_ == nullptr) return;
  // COM_QUIT is a few bytes on an idle socket: mysql_close_start finishes
  // at once. Should it ever have to wait, the socket is shut down first, so
  // that every further step fails at once instead of blocking this thread.
  int status = mysql_close_start(mysql_);
  while (status != 0) {
    ::shutdown(mysql_get_socket(mysql_), SHUT_RDWR);
    status = mysql_close_cont(mysql_, MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
  }
}

Status MariaDbConnection::ErrorStatus(const char* what) const {
  if (mysql_ == nullptr) return Status::Unavailable(what).WithParticipant(participant_);
  unsigned err = mysql_errno(mysql_);
  std::string message = fmt::format("{} ({})", mysql_error(mysql_), err);
  std::string sqlstate = mysql_sqlstate(mysql_);
  // Lock wait timeout: MariaDB's SQLSTATE is the generic HY000; PostgreSQL's
  // lock_not_available says what happened, and retry.h reruns on it (a
  // deadlock across two databases ends this way). The message keeps 1205.
  if (err == ER_LOCK_WAIT_TIMEOUT) sqlstate = "55P03";
  if (err == 0 || IsConnectionLoss(err)) {
    return Status::Unavailable(std::string(what) + ": " + message).WithParticipant(participant_);
  }
  return Status::SqlError(message).WithParticipant(participant_).WithSqlState(sqlstate);
}

void MariaDbConnection::AsyncConnect(asio::io_context& io, std::string participant,
                                     const MariaDbConnInfo& info, Deadline deadline,
                                     ConnectCallback done, std::string tag) {
  std::shared_ptr<MariaDbConnection> self(
      new MariaDbConnection(io, std::move(participant), std::move(tag)));
  asio::post(self->strand_, [self, info, deadline, done = std::move(done)]() mutable {
    self->mysql_ = mysql_init(nullptr);
    if (self->mysql_ == nullptr) {
      done(Status::Internal("mysql_init failed").WithParticipant(self->participant_));
      return;
    }
    mysql_options(self->mysql_, MYSQL_OPT_NONBLOCK, nullptr);
    mysql_options(self->mysql_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (info.connect_timeout_s > 0) {
      mysql_options(self->mysql_, MYSQL_OPT_CONNECT_TIMEOUT, &info.connect_timeout_s);
    }
    self->request_ = std::make_unique<Request>();
    self->request_->seq = ++self->requests_;
    self->request_->connect_done = std::move(done);
    self->deadline_timer_.expires_at(deadline);
    self->deadline_timer_.async_wait([self, seq = self->request_->seq](const boost::system::error_code& ec) {
      // A timer that fired as its request finished may run behind the next
      // request: only its own request is broken.
      if (ec || self->request_ == nullptr || self->request_->seq != seq) return;
      self->Break(Status::TimedOut("connect timed out").WithParticipant(self->participant_));
    });
    self->StartConnect(info);
  });
}

void MariaDbConnection::StartConnect(const MariaDbConnInfo& info) {
  // Connector/C keeps the pointers until the connect completes.
  info_ = std::make_unique<MariaDbConnInfo>(info);
  const MariaDbConnInfo& i = *info_;
  auto self = shared_from_this();
  auto ret = std::make_shared<MYSQL*>(nullptr);
  const auto flags = CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS;
  int status = mysql_real_connect_start(
      ret.get(), mysql_, i.host.c_str(), i.user.c_str(), i.password.c_str(),
      i.dbname.empty() ? nullptr : i.dbname.c_str(), i.port,
      i.socket.empty() ? nullptr : i.socket.c_str(), flags);
  Drive(status, [self, ret](int ready) { return mysql_real_connect_cont(ret.get(), self->mysql_, ready); },
        [self, ret] { self->OnConnected(*ret); });
}

void MariaDbConnection::OnConnected(MYSQL* ret) {
  if (request_ == nullptr) return;
  info_.reset();  // the password is not kept beyond the connect
  if (ret == nullptr) {
    // Refused logins too: a connection that cannot be made is Unavailable,
    // as with PostgreSQL.
    Status s = ErrorStatus("cannot connect");
    if (!s.IsUnavailable()) s = Status::Unavailable("cannot connect: " + s.message()).WithParticipant(participant_);
    Break(std::move(s));
    return;
  }
  connection_id_ = mysql_thread_id(mysql_);
  deadline_timer_.cancel();
  auto done = std::move(request_->connect_done);
  request_.reset();
  done(shared_from_this());
}

void MariaDbConnection::Drive(int status, std::function<int(int)> cont, std::function<void()> then) {
  if (mysql_ == nullptr || request_ == nullptr) return;
  if (status == 0) {
    then();
    return;
  }
  const uint64_t step = ++step_;
  auto self = shared_from_this();
  auto wake = [self, step, cont = std::move(cont), then = std::move(then)](int ready) mutable {
    if (self->step_ != step || self->mysql_ == nullptr || self->request_ == nullptr) return;
    ++self->step_;  // the other waiter of this step is stale now
    boost::system::error_code ignored;
    self->wait_timer_.cancel();
    self->socket_.cancel(ignored);
    const int next = cont(ready);  // before `cont` is moved on
    self->Drive(next, std::move(cont), std::move(then));
  };
  auto shared_wake = std::make_shared<decltype(wake)>(std::move(wake));
  if ((status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE)) != 0) {
    int fd = mysql_get_socket(mysql_);
    if (socket_.is_open() && socket_.native_handle() != fd) socket_.release();
    if (!socket_.is_open()) {
      boost::system::error_code ec;
      socket_.assign(fd, ec);
      if (ec) {
        Break(Status::Internal("cannot watch socket: " + ec.message()).WithParticipant(participant_));
        return;
      }
    }
    const bool write = (status & MYSQL_WAIT_WRITE) != 0;
    socket_.async_wait(write ? asio::posix::descriptor_base::wait_write
                             : asio::posix::descriptor_base::wait_read,
                       [shared_wake, write](const boost::system::error_code& ec) {
                         if (!ec) (*shared_wake)(write ? MYSQL_WAIT_WRITE : MYSQL_WAIT_READ);
                       });
  }
  if ((status & MYSQL_WAIT_TIMEOUT) != 0) {
    wait_timer_.expires_after(std::chrono::milliseconds(mysql_get_timeout_value_ms(mysql_)));
    wait_timer_.async_wait([shared_wake](const boost::system::error_code& ec) {
      if (!ec) (*shared_wake)(MYSQL_WAIT_TIMEOUT);
    });
  }
}

void MariaDbConnection::AsyncExec(std::vector<Query> queries, Deadline deadline, ExecCallback done) {
  auto self = shared_from_this();
  asio::post(strand_, [self, queries = std::move(queries), deadline, done = std::move(done)]() mutable {
    if (self->mysql_ == nullptr) {
      done(Status::Unavailable("connection is closed").WithParticipant(self->participant_));
      return;
    }
    if (queries.empty()) {
      done(std::vector<QueryResult>{});
      return;
    }
    auto req = std::make_unique<Request>();
    req->results.resize(queries.size());
    // The tag comment names this process in the processlist for as long as
    // the request runs. It opens every statement, not only the first: the
    // server shows a multi-statement query's later statements from their own
    // start (INFO of a waiting "UPDATE ..." without the tag otherwise), and
    // EndSessions finds a dead coordinator's sessions by the tag.
    const std::string tag = self->tag_.empty() ? "" : "/* " + self->tag_ + " */ ";
    for (size_t i = 0; i < queries.size(); ++i) {
      Result<std::string> bound = BindMariaDbParams(queries[i].sql, queries[i].params);
      if (!bound.ok()) {
        done(bound.TakeStatus().WithParticipant(self->participant_));
        return;
      }
      req->results[i].command = CommandOf(*bound);
      if (i > 0) req->sql += ";\n";
      req->sql += tag + *bound;
    }
    req->exec_done = std::move(done);
    req->seq = ++self->requests_;
    self->request_ = std::move(req);
    self->deadline_timer_.expires_at(deadline);
    self->deadline_timer_.async_wait([self, seq = self->request_->seq](const boost::system::error_code& ec) {
      // A timer that fired as its request finished may run behind the next
      // request: only its own request is broken.
      if (ec || self->request_ == nullptr || self->request_->seq != seq) return;
      self->Break(Status::TimedOut("deadline passed").WithParticipant(self->participant_));
    });
    self->StartQuery();
  });
}

void MariaDbConnection::StartQuery() {
  auto self = shared_from_this();
  auto err = std::make_shared<int>(0);
  int status = mysql_real_query_start(err.get(), mysql_, request_->sql.data(), request_->sql.size());
  Drive(status, [self, err](int ready) { return mysql_real_query_cont(err.get(), self->mysql_, ready); },
        [self, err] {
          if (*err != 0) {
            self->Finish(self->ErrorStatus("query failed"));
            return;
          }
          self->StoreResult();
        });
}

void MariaDbConnection::StoreResult() {
  auto self = shared_from_this();
  auto res = std::make_shared<MYSQL_RES*>(nullptr);
  int status = mysql_store_result_start(res.get(), mysql_);
  Drive(status, [self, res](int ready) { return mysql_store_result_cont(res.get(), self->mysql_, ready); },
        [self, res] {
          Request& req = *self->request_;
          if (*res == nullptr && mysql_field_count(self->mysql_) != 0) {
            self->Finish(self->ErrorStatus("reading a result failed"));
            return;
          }
          if (req.index >= req.results.size()) {
            if (*res != nullptr) mysql_free_result(*res);
            self->Break(Status::Internal("more results than statements").WithParticipant(self->participant_));
            return;
          }
          QueryResult& out = req.results[req.index];
          if (*res != nullptr) {
            unsigned ncols = mysql_num_fields(*res);
            MYSQL_FIELD* fields = mysql_fetch_fields(*res);
            for (unsigned c = 0; c < ncols; ++c) out.columns.emplace_back(fields[c].name);
            while (MYSQL_ROW row = mysql_fetch_row(*res)) {
              auto* lengths = mysql_fetch_lengths(*res);
              Rows::Row r;
              r.reserve(ncols);
              for (unsigned c = 0; c < ncols; ++c) {
                if (row[c] == nullptr) {
                  r.emplace_back(std::nullopt);
                } else {
                  r.emplace_back(std::string(row[c], lengths[c]));
                }
              }
              out.rows.push_back(std::move(r));
            }
            out.affected = out.rows.size();
            mysql_free_result(*res);  // stored: freeing reads nothing
          } else {
            my_ulonglong n = mysql_affected_rows(self->mysql_);
            out.affected = n == static_cast<my_ulonglong>(-1) ? 0 : n;
          }
          ++req.index;
          if (!mysql_more_results(self->mysql_)) {
            if (req.index != req.results.size()) {
              self->Break(Status::Internal("fewer results than statements").WithParticipant(self->participant_));
              return;
            }
            self->Finish(Status::OK());
            return;
          }
          self->NextResult();
        });
}

void MariaDbConnection::NextResult() {
  auto self = shared_from_this();
  auto err = std::make_shared<int>(0);
  int status = mysql_next_result_start(err.get(), mysql_);
  Drive(status, [self, err](int ready) { return mysql_next_result_cont(err.get(), self->mysql_, ready); },
        [self, err] {
          if (*err > 0) {
            self->Finish(self->ErrorStatus("statement failed"));
            return;
          }
          self->StoreResult();
        });
}

void MariaDbConnection::AsyncReset(Deadline deadline, DoneCallback done) {
  auto self = shared_from_this();
  asio::post(strand_, [self, deadline, done = std::move(done)]() mutable {
    if (self->mysql_ == nullptr) {
      done(Status::Unavailable("connection is closed").WithParticipant(self->participant_));
      return;
    }
    self->request_ = std::make_unique<Request>();
    self->request_->seq = ++self->requests_;
    self->request_->reset_done = std::move(done);
    self->deadline_timer_.expires_at(deadline);
    self->deadline_timer_.async_wait([self, seq = self->request_->seq](const boost::system::error_code& ec) {
      // A timer that fired as its request finished may run behind the next
      // request: only its own request is broken.
      if (ec || self->request_ == nullptr || self->request_->seq != seq) return;
      self->Break(Status::TimedOut("reset timed out").WithParticipant(self->participant_));
    });
    auto err = std::make_shared<int>(0);
    int status = mysql_reset_connection_start(err.get(), self->mysql_);
    self->Drive(status,
                [self, err](int ready) { return mysql_reset_connection_cont(err.get(), self->mysql_, ready); },
                [self, err] { self->Finish(*err != 0 ? self->ErrorStatus("reset failed") : Status::OK()); });
  });
}

void MariaDbConnection::Finish(Status failure) {
  deadline_timer_.cancel();
  // A lost connection is broken for good, whatever step noticed it.
  if (failure.IsUnavailable() && mysql_ != nullptr) {
    Break(std::move(failure));
    return;
  }
  std::unique_ptr<Request> req = std::move(request_);
  if (req == nullptr) return;
  if (req->connect_done) {
    req->connect_done(std::move(failure));
  } else if (req->reset_done) {
    req->reset_done(std::move(failure));
  } else if (failure.ok()) {
    req->exec_done(std::move(req->results));
  } else {
    failed_query_ = req->index;
    partial_results_ = std::move(req->results);
    req->exec_done(std::move(failure));
  }
}

void MariaDbConnection::Break(Status reason) {
  ++step_;
  boost::system::error_code ignored;
  wait_timer_.cancel();
  if (socket_.is_open()) {
    socket_.cancel(ignored);
    socket_.release();
  }
  if (mysql_ != nullptr) {
    // Shut the socket down first: closing then never waits on the server.
    ::shutdown(mysql_get_socket(mysql_), SHUT_RDWR);
    int status = mysql_close_start(mysql_);
    while (status != 0) status = mysql_close_cont(mysql_, MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
    mysql_ = nullptr;
  }
  if (request_ != nullptr) {
    if (reason.ok()) reason = Status::Unavailable("connection lost").WithParticipant(participant_);
    std::unique_ptr<Request> req = std::move(request_);
    deadline_timer_.cancel();
    if (req->connect_done) {
      req->connect_done(std::move(reason));
    } else if (req->reset_done) {
      req->reset_done(std::move(reason));
    } else {
      failed_query_ = req->index;
      partial_results_ = std::move(req->results);
        req->exec_done(std::move(reason));
    }
  }
}

}  // namespace twopc::internal
