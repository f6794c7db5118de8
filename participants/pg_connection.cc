#include "participants/pg_connection.h"

#include <libpq-fe.h>

#include "common/logging.h"

#include <charconv>
#include <cstring>
#include <thread>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

namespace twopc::internal {

namespace asio = boost::asio;

struct PgConnection::Request {
  size_t count = 0;   // queries sent
  size_t syncs = 1;   // Syncs sent: one per segment
  size_t syncs_seen = 0;
  size_t index = 0;   // query whose results are being read
  std::vector<QueryResult> results;
  std::vector<std::optional<Status>> statuses;  // per query, once answered
  std::optional<Status> error;
  ExecCallback exec_done;
  ConnectCallback connect_done;  // set while connecting instead of exec_done
};

namespace {

// libpq messages end with a newline; keep log lines and errors on one line.
std::string Chomp(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) if (c == '\n') c = ' ';
  return s;
}

// Connection failures and server shutdown (class 08, 57P01..57P03) mean "the
// outcome of what was in flight is unknown", never "it failed".
// Server NOTICEs ("table ... does not exist, skipping") go to the log at
// debug level instead of libpq's default, stderr.
void LogNotice(void* participant, const char* message) {
  const std::string& name = *static_cast<const std::string*>(participant);
  twopc::internal::LogWith(LogLevel::kDebug, {.event = "server_notice", .participant = name},
                           "twopc: {}: {}", name, Chomp(message));
}

bool IsConnectionLoss(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0;
}

QueryResult ToQueryResult(PGresult* res) {
  QueryResult out;
  int ncols = PQnfields(res);
  int nrows = PQntuples(res);
  out.columns.reserve(ncols);
  for (int c = 0; c < ncols; ++c) out.columns.emplace_back(PQfname(res, c));
  out.rows.reserve(nrows);
  for (int r = 0; r < nrows; ++r) {
    Rows::Row row;
    row.reserve(ncols);
    for (int c = 0; c < ncols; ++c) {
      if (PQgetisnull(res, r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
      }
    }
    out.rows.push_back(std::move(row));
  }
  out.command = PQcmdStatus(res);
  const char* tuples = PQcmdTuples(res);
  std::from_chars(tuples, tuples + std::strlen(tuples), out.affected);
  return out;
}

}  // namespace

PgConnection::PgConnection(asio::io_context& io, std::string participant)
    : strand_(asio::make_strand(io)),
      socket_(strand_),
      timer_(strand_),
      participant_(std::move(participant)) {}

PgConnection::~PgConnection() {
  // The descriptor belongs to libpq: release it so asio does not close it.
  if (socket_.is_open()) socket_.release();
  if (conn_ != nullptr) PQfinish(conn_);
}

bool PgConnection::InTransaction() const {
  if (conn_ == nullptr) return false;
  auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

bool PgConnection::InTransactionBlock() const {
  if (conn_ == nullptr) return false;
  auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

std::string PgConnection::QuoteLiteral(const std::string& text) const {
  char* quoted = PQescapeLiteral(conn_, text.data(), text.size());
  std::string out = quoted != nullptr ? quoted : "NULL";
  PQfreemem(quoted);
  return out;
}

Status PgConnection::ConnectionError(const char* what) const {
  std::string detail = conn_ != nullptr ? Chomp(PQerrorMessage(conn_)) : "";
  return Status::Unavailable(std::string(what) + (detail.empty() ? "" : ": " + detail))
      .WithParticipant(participant_);
}

void PgConnection::AsyncConnect(asio::io_context& io, std::string participant,
                                const std::string& conninfo, Deadline deadline,
                                ConnectCallback done, std::string application_name) {
  std::shared_ptr<PgConnection> self(new PgConnection(io, std::move(participant)));
  asio::post(self->strand_, [self, conninfo, deadline, done = std::move(done),
                             application_name = std::move(application_name)]() mutable {
    // Keywords are applied in order, so the application_name given after
    // the expanded conninfo ("dbname" with expand_dbname) wins over one in it.
    const char* keywords[] = {"dbname", application_name.empty() ? nullptr : "application_name",
                              nullptr};
    const char* values[] = {conninfo.c_str(), application_name.c_str(), nullptr};
    self->conn_ = PQconnectStartParams(keywords, values, /*expand_dbname=*/1);
    if (self->conn_ == nullptr || PQstatus(self->conn_) == CONNECTION_BAD) {
      Status s = self->ConnectionError("cannot connect");
      if (self->conn_ != nullptr) PQfinish(self->conn_);
      self->conn_ = nullptr;
      done(std::move(s));
      return;
    }
    self->request_ = std::make_unique<Request>();
    self->request_->connect_done = std::move(done);
    self->timer_.expires_at(deadline);
    self->timer_.async_wait([self](const boost::system::error_code& ec) {
      if (ec || self->request_ == nullptr) return;
      self->Break(Status::TimedOut("connect timed out").WithParticipant(self->participant_));
    });
    self->ContinueConnect(PGRES_POLLING_WRITING, deadline, nullptr);
  });
}

void PgConnection::ContinueConnect(int poll_status, Deadline deadline, ConnectCallback) {
  if (request_ == nullptr) return;  // timed out meanwhile
  auto self = shared_from_this();
  switch (poll_status) {
    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
      WatchSocket(poll_status == PGRES_POLLING_WRITING, [self, deadline] {
        self->ContinueConnect(PQconnectPoll(self->conn_), deadline, nullptr);
      });
      return;
    case PGRES_POLLING_OK: {
      backend_pid_ = PQbackendPID(conn_);
      PQsetNoticeProcessor(conn_, LogNotice, &participant_);
      if (PQsetnonblocking(conn_, 1) != 0 || PQenterPipelineMode(conn_) != 1) {
        Break(ConnectionError("cannot enter pipeline mode"));
        return;
      }
      timer_.cancel();
      auto done = std::move(request_->connect_done);
      request_.reset();
      done(self);
      return;
    }
    default:
      Break(ConnectionError("cannot connect"));
      return;
  }
}

void PgConnection::WatchSocket(bool for_write, std::function<void()> on_ready) {
  // libpq may replace its socket while connecting (e.g. trying another host).
  int fd = PQsocket(conn_);
  if (socket_.is_open() && socket_.native_handle() != fd) socket_.release();
  if (!socket_.is_open()) {
    boost::system::error_code ec;
    socket_.assign(fd, ec);
    if (ec) {
      Break(Status::Internal("cannot watch socket: " + ec.message()).WithParticipant(participant_));
      return;
    }
  }
  auto self = shared_from_this();
  socket_.async_wait(
      for_write ? asio::posix::descriptor_base::wait_write : asio::posix::descriptor_base::wait_read,
      [self, on_ready = std::move(on_ready)](const boost::system::error_code& ec) {
        if (ec || self->request_ == nullptr || self->conn_ == nullptr) return;
        on_ready();
      });
}

void PgConnection::AsyncExec(std::vector<Query> queries, Deadline deadline, ExecCallback done) {
  auto self = shared_from_this();
  asio::post(strand_, [self, queries = std::move(queries), deadline, done = std::move(done)]() mutable {
    self->query_statuses_.clear();  // an earlier failure's answers are not this request's
    if (self->conn_ == nullptr) {
      done(Status::Unavailable("connection is closed").WithParticipant(self->participant_));
      return;
    }
    self->request_ = std::make_unique<Request>();
    self->request_->exec_done = std::move(done);
    self->request_->count = queries.size();
    self->request_->results.resize(queries.size());
    self->request_->statuses.resize(queries.size());
    for (const Query& q : queries) {
      std::vector<const char*> values;
      values.reserve(q.params.size());
      for (const auto& p : q.params) values.push_back(p ? p->c_str() : nullptr);
      if (PQsendQueryParams(self->conn_, q.sql.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, 0) != 1) {
        self->Break(self->ConnectionError("cannot send query"));
        return;
      }
      if (q.sync_after && &q != &queries.back()) {
        if (PQpipelineSync(self->conn_) != 1) {
          self->Break(self->ConnectionError("cannot send sync"));
          return;
        }
        self->request_->syncs++;
      }
    }
    if (PQpipelineSync(self->conn_) != 1) {
      self->Break(self->ConnectionError("cannot send sync"));
      return;
    }
    self->timer_.expires_at(deadline);
    self->timer_.async_wait([self](const boost::system::error_code& ec) {
      if (ec || self->request_ == nullptr) return;
      // Closing the connection makes the server abort an unprepared
      // transaction, so a timed-out branch never lingers half-done.
      self->Break(Status::TimedOut("deadline passed").WithParticipant(self->participant_));
    });
    self->Flush();
  });
}

void PgConnection::Flush() {
  int r = PQflush(conn_);
  if (r < 0) {
    Break(ConnectionError("connection lost while sending"));
  } else if (r == 1) {
    auto self = shared_from_this();
    WatchSocket(true, [self] { self->Flush(); });
  } else {
    ReadResults();
  }
}

void PgConnection::ReadResults() {
  Request& req = *request_;
  for (;;) {
    if (PQisBusy(conn_)) {
      auto self = shared_from_this();
      WatchSocket(false, [self] {
        if (PQconsumeInput(self->conn_) != 1) {
          self->Break(self->ConnectionError("connection lost"));
          return;
        }
        self->ReadResults();
      });
      return;
    }
    PGresult* res = PQgetResult(conn_);
    if (res == nullptr) {
      // End of one query's results. More NULLs than queries would mean libpq
      // and we disagree about the pipeline: give up on the connection.
      if (++req.index > req.count + 1) {
        Break(Status::Internal("pipeline out of step").WithParticipant(participant_));
        return;
      }
      continue;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(res);
      if (++req.syncs_seen < req.syncs) continue;  // the next segment's results follow
      Finish(req.error.value_or(Status::OK()));
      return;
    }
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      if (req.index < req.count) {
        req.results[req.index] = ToQueryResult(res);
        req.statuses[req.index] = Status::OK();
      }
    } else if (st == PGRES_FATAL_ERROR) {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      std::string sqlstate = state != nullptr ? state : "";
      std::string msg = Chomp(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
      if (msg.empty()) msg = Chomp(PQresultErrorMessage(res));
      if (IsConnectionLoss(sqlstate) || PQstatus(conn_) == CONNECTION_BAD) {
        PQclear(res);
        Break(Status::Unavailable(msg).WithParticipant(participant_).WithSqlState(sqlstate));
        return;
      }
      Status error = Status::SqlError(msg).WithParticipant(participant_).WithSqlState(sqlstate);
      if (req.index < req.count) req.statuses[req.index] = error;
      if (!req.error) {  // the first failure is the request's
        req.error = std::move(error);
        failed_query_ = req.index;
      }
    } else if (st != PGRES_FATAL_ERROR && st != PGRES_PIPELINE_ABORTED) {
      if (!req.error) {
        req.error = Status::Internal(std::string("unexpected result ") + PQresStatus(st))
                        .WithParticipant(participant_);
      }
    }
    PQclear(res);
  }
}

void PgConnection::Finish(Status failure) {
  timer_.cancel();
  // Notifications of a channel an application LISTENed on pile up in libpq
  // until read; nobody reads them here.
  if (conn_ != nullptr) {
    while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);
  }
  std::unique_ptr<Request> req = std::move(request_);
  if (req->connect_done) {
    req->connect_done(std::move(failure));
  } else if (failure.ok()) {
    req->exec_done(std::move(req->results));
  } else {
    partial_results_ = std::move(req->results);
    query_statuses_ = std::move(req->statuses);
    req->exec_done(std::move(failure));
  }
}

void PgConnection::Break(Status reason) {
  // Closing alone does not stop the server: a backend waiting on a lock only
  // notices its client is gone when it next writes, and would then run the
  // PREPARE TRANSACTION already sent in the pipeline -- an orphan branch.
  // A cancel request stops the waiting statement, and with it the pipeline.
  // PQcancel opens its own connection (blocking), so it runs off the strand.
  if (reason.IsTimedOut() && conn_ != nullptr && request_ != nullptr &&
      !request_->connect_done) {
    if (PGcancel* cancel = PQgetCancel(conn_)) {
      std::thread([cancel] {
        char error[256];
        PQcancel(cancel, error, sizeof error);
        PQfreeCancel(cancel);
      }).detach();
    }
  }
  if (socket_.is_open()) {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
    socket_.release();
  }
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  if (request_ != nullptr) Finish(std::move(reason));
}

}  // namespace twopc::internal
