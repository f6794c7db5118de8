// An application of an installed twopc (find_package(twopc) + twopc::twopc):
// uses only the public headers and proves that the static library links with
// everything it needs -- TOML config, gid codec, SQLite decision log, libpq
// participants -- without a PostgreSQL server. The one participant points at
// a closed port, so its statements must fail cleanly as Unavailable.
//
//   app WORK_DIR    (the decision log is created in WORK_DIR)
#include <cstdio>
#include <string>
#include <utility>

#include "twopc/config.h"
#include "twopc/coordinator.h"
#include "twopc/gid.h"
#include "twopc/retry.h"

namespace {

int failures = 0;

void Expect(bool ok, const char* what, const std::string& detail = {}) {
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, detail.empty() ? "" : ": ",
              detail.c_str());
  if (!ok) ++failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s WORK_DIR\n", argv[0]);
    return 2;
  }
  const std::string work_dir = argv[1];

  // Port 1 on loopback: nothing listens there, so connecting fails at once.
  auto parsed = twopc::ParseConfig(R"(
node_id = "consumer"
connect_timeout_ms = 2000
[recovery]
interval_ms = 0
[[participants]]
name = "closed"
conninfo = "host=127.0.0.1 port=1 dbname=nowhere user=app password=secret"
)",
                                   "consumer.toml");
  Expect(parsed.ok(), "ParseConfig", parsed.ok() ? "" : parsed.status().ToString());
  if (!parsed.ok()) return 1;
  Expect(parsed->node_id == "consumer" && parsed->participants.size() == 1,
         "config has node id and participant");
  const std::string redacted = twopc::RedactConninfo(parsed->participants[0].conninfo);
  Expect(redacted.find("secret") == std::string::npos, "RedactConninfo hides the password",
         redacted);

  const twopc::GidParts parts{"consumer", 3, 17, 2};
  const std::string gid = twopc::EncodeGid(parts);
  auto decoded = twopc::DecodeGid(gid);
  Expect(decoded.ok() && *decoded == parts, "gid round trip", gid);
  const twopc::Xid xid = twopc::ToXid(parts);
  Expect(xid.format_id == twopc::kTwopcFormatId && xid.gtrid == "tpc1.consumer.3.17" &&
             xid.bqual == "2",
         "gid decodes to an Xid", xid.gtrid + " / " + xid.bqual);
  Expect(!twopc::DecodeGid("citus_1_2_3_4").ok(), "foreign gid refused");

  twopc::CoordinatorOptions options = std::move(parsed).value();
  options.log.path = work_dir + "/decisions.db";
  options.check_max_prepared_transactions = false;
  auto opened = twopc::Coordinator::Open(std::move(options));
  Expect(opened.ok(), "Coordinator::Open", opened.ok() ? "" : opened.status().ToString());
  if (!opened.ok()) return 1;
  twopc::Coordinator& coordinator = **opened;
  Expect(coordinator.incarnation() >= 1, "decision log opened, incarnation assigned",
         std::to_string(coordinator.incarnation()));

  {
    twopc::Transaction tx = coordinator.Begin();
    auto rows = tx.Execute("closed", "SELECT $1::int", {1});
    Expect(!rows.ok() && rows.status().participant() == "closed",
           "statement on an unreachable participant fails", rows.status().ToString());
    (void)tx.Rollback();
  }
  twopc::Status s = twopc::RunTransaction(coordinator, [](twopc::Transaction& tx) {
    return tx.Queue("closed", "UPDATE t SET v = v + 1");
  });
  Expect(!s.ok() && !s.IsInDoubt(), "RunTransaction reports the failure", s.ToString());
  Expect(coordinator.stats().committed == 0, "nothing committed");

  std::printf("%s\n", failures == 0 ? "OK" : "FAILED");
  return failures == 0 ? 0 : 1;
}
