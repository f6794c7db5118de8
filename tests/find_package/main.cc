// An application of an installed twopc (find_package(twopc) + twopc::twopc):
// uses only the public headers and proves that the static library links with
// everything it needs -- TOML config, gid codec, SQLite decision log, libpq
// participants -- without a PostgreSQL server. The one participant points at
// a closed port, so its statements must fail cleanly as Unavailable.
//
// The installed library is what applications ship: it has no crash points.
// TWOPC_SYNC_POINTS must not reach the application, and given a sandbox
// config the app commits a two-phase transaction while run.sh has set
// TWOPC_CRASH_AT=before_decision -- a test build would SIGKILL itself there.
//
//   app WORK_DIR [CONFIG]   (the decision logs are created in WORK_DIR;
//                            CONFIG names two reachable participants)
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

// A two-phase commit across the first two participants of `config`. In a
// process with sync points and TWOPC_CRASH_AT=before_decision it would never
// return.
void CommitTwoPhase(const std::string& config, const std::string& work_dir) {
  auto options = twopc::LoadConfigFile(config);
  Expect(options.ok(), "LoadConfigFile", options.ok() ? "" : options.status().ToString());
  if (!options.ok() || options->participants.size() < 2) return;
  options->log.path = work_dir + "/two-phase-decisions.db";
  auto opened = twopc::Coordinator::Open(std::move(options).value());
  Expect(opened.ok(), "Coordinator::Open on the sandbox",
         opened.ok() ? "" : opened.status().ToString());
  if (!opened.ok()) return;
  twopc::Coordinator& coordinator = **opened;
  twopc::Transaction tx = coordinator.Begin();
  twopc::Status s;
  for (int i = 0; i < 2 && s.ok(); ++i) {
    const std::string& p = coordinator.options().participants[i].name;
    s = tx.Queue(p, "CREATE TABLE IF NOT EXISTS consumer_rows(v int)");
    if (s.ok()) s = tx.Queue(p, "INSERT INTO consumer_rows VALUES ($1)", {i});
  }
  if (s.ok()) s = tx.Commit();
  Expect(s.ok(), "two-phase commit with TWOPC_CRASH_AT set survives", s.ToString());
  Expect(coordinator.stats().committed == 1 && coordinator.stats().log.records_forced == 1,
         "it was a two-phase commit (one forced COMMIT record)");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s WORK_DIR [CONFIG]\n", argv[0]);
    return 2;
  }
  const std::string work_dir = argv[1];
#ifdef TWOPC_SYNC_POINTS
  Expect(false, "the package does not define TWOPC_SYNC_POINTS for applications");
#else
  Expect(true, "the package does not define TWOPC_SYNC_POINTS for applications");
#endif
  if (argc == 3) {
    CommitTwoPhase(argv[2], work_dir);
    std::printf("%s\n", failures == 0 ? "OK" : "FAILED");
    return failures == 0 ? 0 : 1;
  }

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
