#include "cli/status_prometheus.h"

#include <fcntl.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

namespace twopc::cli {
namespace {

using prometheus::BuildGauge;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Registry;

Family<Gauge>& AddFamily(Registry& registry, const std::string& name, const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(registry);
}

// What the listing says about one reachable participant.
struct ParticipantBranches {
  int prepared = 0;
  int in_doubt = 0;
  int64_t oldest_prepared_at_ms = 0;  // 0: no branch with a known prepare time
};

std::map<std::string, ParticipantBranches> BranchesByParticipant(const StatusReport& report) {
  std::map<std::string, ParticipantBranches> by;
  for (const PreparedBranch& b : report.listing.branches) {
    ParticipantBranches& p = by[b.participant];
    ++p.prepared;
    // This node's branch without a decision record is undecided: recovery
    // fences it (presumed abort) once no coordinator may still decide it. One
    // with a record is only waiting for completion, which
    // twopc_decisions_pending counts.
    // A branch whose decision could not be read is not known to be in doubt
    // (AddLogGauges reports the unreadable log instead).
    if (b.classified.kind == GidKind::kThisNode && !b.decision && b.decision_error.ok()) ++p.in_doubt;
    // MariaDB keeps no prepare time (prepared_at_ms == 0): such a branch
    // cannot age, so it is left out rather than reported 55 years old.
    if (b.prepared_at_ms > 0 &&
        (p.oldest_prepared_at_ms == 0 || b.prepared_at_ms < p.oldest_prepared_at_ms)) {
      p.oldest_prepared_at_ms = b.prepared_at_ms;
    }
  }
  return by;
}

void AddParticipantGauges(Registry& registry, const StatusReport& report,
                          const CoordinatorOptions& options) {
  auto& up = AddFamily(registry, "twopc_participant_up",
                       "1 if twopc status could list the participant's prepared transactions, "
                       "0 if it could not reach it");
  auto& prepared = AddFamily(registry, "twopc_prepared_branches",
                             "Prepared transactions in the participant's database, twopc's and "
                             "foreign");
  auto& oldest = AddFamily(registry, "twopc_oldest_prepared_age_seconds",
                           "Age of the oldest prepared transaction with a known prepare time "
                           "(0 when none; MariaDB branches have none)");
  auto& in_doubt = AddFamily(registry, "twopc_in_doubt_branches",
                             "This node's prepared branches with no decision in the log");
  std::set<std::string> unreachable;
  for (const Status& s : report.listing.unreachable) unreachable.insert(s.participant());
  std::map<std::string, ParticipantBranches> by = BranchesByParticipant(report);
  for (const ParticipantOptions& p : options.participants) {
    // Only the config's name: the conninfo may hold a password.
    const prometheus::Labels labels = {{"participant", p.name}};
    bool reachable = unreachable.count(p.name) == 0;
    up.Add(labels).Set(reachable ? 1 : 0);
    // An unreachable participant's branches are unknown, not zero: leaving
    // the series out keeps an alert on them from resolving falsely.
    if (!reachable) continue;
    const ParticipantBranches& b = by[p.name];
    prepared.Add(labels).Set(b.prepared);
    in_doubt.Add(labels).Set(b.in_doubt);
    double age_ms =
        b.oldest_prepared_at_ms == 0
            ? 0.0
            : static_cast<double>(std::max<int64_t>(0, report.now_ms - b.oldest_prepared_at_ms));
    oldest.Add(labels).Set(age_ms / 1000.0);
  }
}

// With store = "postgres" each branch's decision is read where its gid says
// (its decider): one that could not be read is an unreadable log too.
bool AnyDecisionUnread(const StatusReport& report) {
  return std::any_of(report.listing.branches.begin(), report.listing.branches.end(),
                     [](const PreparedBranch& b) { return !b.decision_error.ok(); });
}

void AddLogGauges(Registry& registry, const StatusReport& report) {
  AddFamily(registry, "twopc_decision_log_readable",
            "1 if the decision log (or store) could be read, 0 if not")
      .Add({})
      .Set(report.log_errors.empty() && !AnyDecisionUnread(report) ? 1 : 0);
  // A failed read would make the counts below look like "nothing to do".
  if (!report.log_errors.empty()) return;
  auto commits =
      std::count_if(report.pending.begin(), report.pending.end(),
                    [](const DecisionRecord& r) { return r.decision == Decision::kCommit; });
  AddFamily(registry, "twopc_decisions_pending",
            "COMMIT decisions whose branches are not all completed (no END record yet)")
      .Add({})
      .Set(static_cast<double>(commits));
  AddFamily(registry, "twopc_heuristics_unresolved",
            "Heuristic (mixed) outcomes of this node not yet acknowledged with twopc forget")
      .Add({})
      .Set(static_cast<double>(UnresolvedHeuristics(report.heuristics, report.node_id).size()));
}

}  // namespace

std::string StatusPrometheusText(const StatusReport& report, const CoordinatorOptions& options) {
  Registry registry;
  AddParticipantGauges(registry, report, options);
  AddLogGauges(registry, report);
  AddFamily(registry, "twopc_status_timestamp_seconds",
            "When twopc status gathered these values (unix time): a stale textfile shows here")
      .Add({})
      .Set(static_cast<double>(report.now_ms) / 1000.0);
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  // The textfile collector reads only *.prom files: a ".tmp" name it ignores.
  std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX.tmp")).string();
  int fd = mkstemps(tmp.data(), 4);
  if (fd < 0) {
    return Status::IOError("cannot create a temporary file in " + dir.string() + ": " +
                           std::strerror(errno));
  }
  auto fail = [&](const char* what) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    return Status::IOError(std::string(what) + " " + tmp + ": " + std::strerror(err));
  };
  // mkstemp makes 0600 files; the collector may run as another user.
  if (fchmod(fd, 0644) != 0) return fail("cannot chmod");
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write");
    written += static_cast<size_t>(n);
  }
  // Without it a crash after the rename could leave an empty file in place.
  if (fsync(fd) != 0) return fail("cannot fsync");
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return Status::IOError("cannot close " + tmp + ": " + std::strerror(err));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return Status::IOError("cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
  }
  return Status::OK();
}

}  // namespace twopc::cli
