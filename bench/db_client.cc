#include "bench/db_client.h"

#include <fmt/format.h>
#include <mysql.h>

#include <mutex>

#include "participants/mariadb_connection.h"

namespace twopc::bench {
namespace {

class PgDbClient : public DbClient {
 public:
  explicit PgDbClient(std::unique_ptr<PgClient> c) : c_(std::move(c)) {}
  ParticipantKind kind() const override { return ParticipantKind::kPostgres; }
  Status Exec(const std::string& sql) override { return c_->Exec(sql); }
  Result<std::vector<TextRow>> Query(const std::string& sql) override { return c_->Query(sql); }
  Status SendQuery(const std::string& sql) override { return c_->SendQuery(sql); }
  Result<std::vector<int64_t>> ReceiveInts() override { return c_->ReceiveInts(); }
  void set_statement_timeout(std::chrono::milliseconds t) override {
    c_->set_statement_timeout(t);
  }
  std::chrono::milliseconds statement_timeout() const override { return c_->statement_timeout(); }
  Result<int64_t> CountPrepared(const std::string& node_id) override {
    auto rows = c_->Query(
        "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
        " AND gid LIKE $1",
        {"tpc1." + node_id + ".%"});
    if (!rows.ok()) return rows.TakeStatus();
    if (rows->empty() || !rows->front()[0]) return int64_t{0};
    return static_cast<int64_t>(std::stoll(*rows->front()[0]));
  }

 private:
  std::unique_ptr<PgClient> c_;
};

// Connector/C's blocking API. Each statement is bounded by the socket's read
// and write timeouts (whole seconds, set at connect from the statement
// timeout): a server that stops answering fails the call. Connector/C takes
// those timeouts at connect, so set_statement_timeout later (the longer
// setup deadline) may not reach the open socket: a MariaDB setup statement
// stays bounded by the config's default_deadline_ms.
class MariaDbClient : public DbClient {
 public:
  MariaDbClient(std::string name, MYSQL* mysql, std::chrono::milliseconds timeout)
      : name_(std::move(name)), mysql_(mysql), timeout_(timeout) {}
  ~MariaDbClient() override { mysql_close(mysql_); }

  ParticipantKind kind() const override { return ParticipantKind::kMariaDb; }

  Status Exec(const std::string& sql) override {
    if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return Error("exec");
    // Every result of a multi-statement query; the server stops at the
    // first failing statement, which mysql_next_result then reports.
    while (true) {
      if (MYSQL_RES* res = mysql_store_result(mysql_)) mysql_free_result(res);
      int next = mysql_next_result(mysql_);
      if (next == -1) return Status::OK();
      if (next > 0) return Error("exec");
    }
  }

  Result<std::vector<TextRow>> Query(const std::string& sql) override {
    if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return Error("query");
    return Rows();
  }

  Status SendQuery(const std::string& sql) override {
    if (mysql_send_query(mysql_, sql.data(), sql.size()) != 0) return Error("send");
    return Status::OK();
  }

  Result<std::vector<int64_t>> ReceiveInts() override {
    if (mysql_read_query_result(mysql_) != 0) return Error("receive");
    auto rows = Rows();
    if (!rows.ok()) return rows.TakeStatus();
    std::vector<int64_t> out;
    if (rows->empty()) return Status::Internal(name_ + ": no row");
    for (const auto& v : rows->front()) out.push_back(v ? std::stoll(*v) : 0);
    return out;
  }

  void set_statement_timeout(std::chrono::milliseconds t) override {
    timeout_ = t;
    unsigned s = static_cast<unsigned>((t.count() + 999) / 1000);
    mysql_optionsv(mysql_, MYSQL_OPT_READ_TIMEOUT, &s);
    mysql_optionsv(mysql_, MYSQL_OPT_WRITE_TIMEOUT, &s);
  }
  std::chrono::milliseconds statement_timeout() const override { return timeout_; }

  Result<int64_t> CountPrepared(const std::string& node_id) override {
    auto rows = Query("XA RECOVER");
    if (!rows.ok()) return rows.TakeStatus();
    // formatID, gtrid_length, bqual_length, data: the gtrid leads `data`.
    std::string prefix = "tpc1." + node_id + ".";
    int64_t n = 0;
    for (const auto& row : *rows) {
      if (row.size() >= 4 && row[3] && row[3]->rfind(prefix, 0) == 0) ++n;
    }
    return n;
  }

 private:
  Result<std::vector<TextRow>> Rows() {
    MYSQL_RES* res = mysql_store_result(mysql_);
    if (res == nullptr) {
      if (mysql_errno(mysql_) != 0) return Error("result");
      return std::vector<TextRow>{};
    }
    std::vector<TextRow> out;
    unsigned n = mysql_num_fields(res);
    while (MYSQL_ROW row = mysql_fetch_row(res)) {
      unsigned long* len = mysql_fetch_lengths(res);
      TextRow r;
      for (unsigned i = 0; i < n; ++i) {
        if (row[i] == nullptr) {
          r.emplace_back(std::nullopt);
        } else {
          r.emplace_back(std::string(row[i], len[i]));
        }
      }
      out.push_back(std::move(r));
    }
    mysql_free_result(res);
    // Drain further results (none expected of a single statement).
    while (mysql_next_result(mysql_) == 0) {
      if (MYSQL_RES* more = mysql_store_result(mysql_)) mysql_free_result(more);
    }
    return out;
  }

  Status Error(const char* what) const {
    std::string msg = fmt::format("{}: MariaDB {} failed: {} ({})", name_, what,
                                  mysql_error(mysql_), mysql_errno(mysql_));
    return Status::SqlError(msg).WithParticipant(name_).WithSqlState(mysql_sqlstate(mysql_));
  }

  std::string name_;
  MYSQL* mysql_;
  std::chrono::milliseconds timeout_;
};

Result<std::unique_ptr<DbClient>> ConnectMariaDb(const ParticipantOptions& p,
                                                 PgClientTimeouts timeouts) {
  auto info = internal::ParseMariaDbConnInfo(p.conninfo);
  if (!info.ok()) return info.TakeStatus();
  static std::once_flag init;
  std::call_once(init, [] { mysql_library_init(0, nullptr, nullptr); });
  MYSQL* mysql = mysql_init(nullptr);
  if (mysql == nullptr) return Status::Internal("mysql_init failed");
  unsigned connect_s = static_cast<unsigned>((timeouts.connect.count() + 999) / 1000);
  if (info->connect_timeout_s > 0) connect_s = info->connect_timeout_s;
  unsigned rw_s = static_cast<unsigned>((timeouts.statement.count() + 999) / 1000);
  mysql_optionsv(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
  mysql_optionsv(mysql, MYSQL_OPT_READ_TIMEOUT, &rw_s);
  mysql_optionsv(mysql, MYSQL_OPT_WRITE_TIMEOUT, &rw_s);
  bool is_socket = !info->socket.empty();
  if (mysql_real_connect(mysql, is_socket ? nullptr : info->host.c_str(), info->user.c_str(),
                         info->password.c_str(), info->dbname.c_str(), info->port,
                         is_socket ? info->socket.c_str() : nullptr,
                         CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS) == nullptr) {
    Status s = Status::Unavailable(fmt::format("{}: cannot connect to MariaDB: {} ({})", p.name,
                                               mysql_error(mysql), mysql_errno(mysql)))
                   .WithParticipant(p.name);
    mysql_close(mysql);
    return s;
  }
  return std::unique_ptr<DbClient>(new MariaDbClient(p.name, mysql, timeouts.statement));
}

}  // namespace

Result<std::unique_ptr<DbClient>> DbClient::Connect(const ParticipantOptions& p,
                                                    PgClientTimeouts timeouts) {
  if (p.kind == ParticipantKind::kMariaDb) return ConnectMariaDb(p, timeouts);
  auto c = PgClient::Connect(p.name, p.conninfo, timeouts);
  if (!c.ok()) return c.TakeStatus();
  return std::unique_ptr<DbClient>(new PgDbClient(std::move(c.value())));
}

}  // namespace twopc::bench
