#include "storage/pg_client.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cstdlib>

namespace twopc::internal {
namespace {

// Frees a PGresult on every path.
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

std::string Chomp(std::string msg) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

// Waits for the socket until `deadline`; false when it passed.
bool WaitSocket(PGconn* conn, bool for_write, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{PQsocket(conn), static_cast<int16_t>(for_write ? POLLOUT : POLLIN), 0};
    int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n != 0) return true;  // ready, or an error libpq will report
  }
}

}  // namespace

PgClientTimeouts TimeoutsOf(const CoordinatorOptions& options) {
  return {options.connect_timeout, options.default_deadline};
}

Result<std::unique_ptr<PgClient>> PgClient::Connect(const std::string& name,
                                                    const std::string& conninfo,
                                                    PgClientTimeouts timeouts,
                                                    const std::string& application_name) {
  // PQconnectdb would wait as long as the server takes to answer (forever,
  // for one that accepts the TCP connection and stays silent): poll the
  // non-blocking connect instead, up to connect_timeout_ms.
  auto deadline = Clock::now() + timeouts.connect;
  // Keywords apply in order: the application_name after the expanded
  // conninfo ("dbname" with expand_dbname) wins over one inside it.
  const char* keywords[] = {"dbname", application_name.empty() ? nullptr : "application_name",
                            nullptr};
  const char* values[] = {conninfo.c_str(), application_name.c_str(), nullptr};
  PGconn* conn = PQconnectStartParams(keywords, values, /*expand_dbname=*/1);
  PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
  bool timed_out = false;
  while (conn != nullptr && PQstatus(conn) != CONNECTION_BAD && poll_status != PGRES_POLLING_OK &&
         poll_status != PGRES_POLLING_FAILED) {
    if (!WaitSocket(conn, poll_status == PGRES_POLLING_WRITING, deadline)) {
      timed_out = true;
      break;
    }
    poll_status = PQconnectPoll(conn);
  }
  if (timed_out) {
    PQfinish(conn);
    return Status::TimedOut("cannot connect: no answer within " +
                            std::to_string(timeouts.connect.count()) + " ms (connect_timeout_ms)")
        .WithParticipant(name);
  }
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string msg = conn != nullptr ? Chomp(PQerrorMessage(conn)) : "out of memory";
    PQfinish(conn);
    return Status::Unavailable("cannot connect: " + msg).WithParticipant(name);
  }
  // Server notices ("table ... does not exist, skipping" from the resets)
  // are not the bench's output.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<PgClient>(new PgClient(name, conn, timeouts.statement));
}

bool PgClient::usable() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

PgClient::~PgClient() {
  if (conn_ != nullptr) PQfinish(conn_);
}

// The participant's name travels in the Status (WithParticipant), which
// prints it; the messages do not repeat it.
Status PgClient::Error(const char* what, const void* result) const {
  const auto* r = static_cast<const PGresult*>(result);
  std::string msg = Chomp(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  Status s = PQstatus(conn_) == CONNECTION_OK
                 ? Status::SqlError(std::string(what) + ": " + msg)
                 : Status::Unavailable("connection lost: " + msg);
  s.WithParticipant(name_);
  if (state != nullptr) s.WithSqlState(state);
  return s;
}

Status PgClient::Await(Clock::time_point deadline) {
  while (PQisBusy(conn_)) {
    if (!WaitSocket(conn_, false, deadline)) {
      // The server may be gone silent: no cancel request (it would wait on
      // that server too), just close; the server aborts the statement's
      // transaction when it notices.
      PQfinish(conn_);
      conn_ = nullptr;
      return Status::TimedOut("no answer within " +
                              std::to_string(statement_timeout_.count()) +
                              " ms (its deadline); connection closed")
          .WithParticipant(name_);
    }
    if (PQconsumeInput(conn_) != 1) return Error("connection lost", nullptr);
  }
  return Status::OK();
}

std::vector<TextRow> PgClient::Collect(const char* what, Status* failure) {
  std::vector<TextRow> rows;
  // Every result up to the terminating nullptr must be read, also after an
  // error, or the connection is not ready for the next query.
  while (PGresult* raw = PQgetResult(conn_)) {
    ResultPtr r(raw);
    ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      if (failure->ok()) *failure = Error(what, r.get());
      continue;
    }
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      TextRow row(PQnfields(r.get()));
      for (int c = 0; c < PQnfields(r.get()); ++c) {
        if (!PQgetisnull(r.get(), i, c)) row[c] = std::string(PQgetvalue(r.get(), i, c));
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

namespace {

Status Closed(const std::string& name) {
  return Status::Unavailable("connection closed after an earlier timeout")
      .WithParticipant(name);
}

}  // namespace

Status PgClient::Exec(const std::string& sql) {
  if (conn_ == nullptr) return Closed(name_);
  if (PQsendQuery(conn_, sql.c_str()) != 1) return Error("cannot send", nullptr);
  if (Status s = Await(Clock::now() + statement_timeout_); !s.ok()) return s;
  Status failure;
  Collect("statement failed", &failure);
  return failure;
}

Result<std::vector<TextRow>> PgClient::Query(const std::string& sql,
                                             const std::vector<std::string>& params) {
  if (conn_ == nullptr) return Closed(name_);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                        values.data(), nullptr, nullptr, 0) != 1) {
    return Error("cannot send", nullptr);
  }
  if (Status s = Await(Clock::now() + statement_timeout_); !s.ok()) return s;
  Status failure;
  std::vector<TextRow> rows = Collect("query failed", &failure);
  if (!failure.ok()) return failure;
  return rows;
}

namespace {

Result<std::vector<int64_t>> FirstRowInts(const std::string& name,
                                          const std::vector<TextRow>& rows) {
  if (rows.empty()) return Status::NotFound(name + ": the query returned no row");
  std::vector<int64_t> out;
  for (const auto& v : rows.front()) {
    // numeric sums come back as text such as "12345" (no fraction here).
    out.push_back(v.has_value() ? std::strtoll(v->c_str(), nullptr, 10) : 0);
  }
  return out;
}

}  // namespace

Result<std::vector<int64_t>> PgClient::QueryInts(const std::string& sql) {
  auto rows = Query(sql);
  if (!rows.ok()) return rows.TakeStatus();
  return FirstRowInts(name_, *rows);
}

Status PgClient::SendQuery(const std::string& sql) {
  if (conn_ == nullptr) return Closed(name_);
  pending_deadline_ = Clock::now() + statement_timeout_;
  if (PQsendQuery(conn_, sql.c_str()) == 1) return Status::OK();
  return Error("cannot send", nullptr);
}

Result<std::vector<int64_t>> PgClient::ReceiveInts() {
  if (conn_ == nullptr) return Closed(name_);
  if (Status s = Await(pending_deadline_); !s.ok()) return s;
  Status failure;
  std::vector<TextRow> rows = Collect("query failed", &failure);
  if (!failure.ok()) return failure;
  return FirstRowInts(name_, rows);
}

}  // namespace twopc::internal
