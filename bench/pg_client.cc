#include "bench/pg_client.h"

#include <libpq-fe.h>

#include <cstdlib>

namespace twopc::bench {
namespace {

// Frees a PGresult on every path.
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

}  // namespace

Result<std::unique_ptr<PgClient>> PgClient::Connect(const std::string& name,
                                                    const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
    PQfinish(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Status::Unavailable("cannot connect to " + name + ": " + msg).WithParticipant(name);
  }
  // Server notices ("table ... does not exist, skipping" from the resets)
  // are not the bench's output.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<PgClient>(new PgClient(name, conn));
}

PgClient::~PgClient() { PQfinish(conn_); }

Status PgClient::Error(const char* what, const void* result) const {
  const auto* r = static_cast<const PGresult*>(result);
  std::string msg = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  Status s = PQstatus(conn_) == CONNECTION_OK
                 ? Status::SqlError(name_ + ": " + what + ": " + msg)
                 : Status::Unavailable(name_ + ": connection lost: " + msg);
  s.WithParticipant(name_);
  if (state != nullptr) s.WithSqlState(state);
  return s;
}

Status PgClient::Exec(const std::string& sql) {
  ResultPtr r(PQexec(conn_, sql.c_str()));
  ExecStatusType st = r != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Status::OK();
  return Error("statement failed", r.get());
}

Result<std::vector<TextRow>> PgClient::Query(const std::string& sql,
                                             const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  ResultPtr r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0));
  ExecStatusType st = r != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return Error("query failed", r.get());
  std::vector<TextRow> rows(PQntuples(r.get()));
  int cols = PQnfields(r.get());
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].resize(cols);
    for (int c = 0; c < cols; ++c) {
      if (!PQgetisnull(r.get(), static_cast<int>(i), c)) {
        rows[i][c] = std::string(PQgetvalue(r.get(), static_cast<int>(i), c));
      }
    }
  }
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
  if (PQsendQuery(conn_, sql.c_str()) == 1) return Status::OK();
  return Error("cannot send", nullptr);
}

Result<std::vector<int64_t>> PgClient::ReceiveInts() {
  std::vector<TextRow> rows;
  Status failure;
  // Every result up to the terminating nullptr must be read, also after an
  // error, or the connection is not ready for the next query.
  while (PGresult* raw = PQgetResult(conn_)) {
    ResultPtr r(raw);
    ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      if (failure.ok()) failure = Error("query failed", r.get());
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
  if (!failure.ok()) return failure;
  return FirstRowInts(name_, rows);
}

}  // namespace twopc::bench
