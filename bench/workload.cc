#include "bench/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace twopc::bench {

std::unique_ptr<Workload> MakeTransferWorkload(const WorkloadParams& params, Layout layout);
std::unique_ptr<Workload> MakeOrderWorkload(const WorkloadParams& params, Layout layout);

std::string Layout::Table(const std::string& base, int shard) const {
  return colocated ? fmt::format("{}_{}", base, shard) : base;
}

std::vector<std::string> Layout::Participants() const {
  std::vector<std::string> out;
  for (const auto& p : shard_participant) {
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

Layout MakeLayout(const std::vector<std::string>& participants, int shards, bool colocated,
                  const std::vector<ParticipantKind>& kinds) {
  Layout l;
  l.colocated = colocated;
  for (int i = 0; i < shards; ++i) {
    int p = colocated ? 0 : i;
    l.shard_participant.push_back(participants[p]);
    l.shard_kind.push_back(kinds.empty() ? ParticipantKind::kPostgres : kinds[p]);
  }
  return l;
}

int64_t Workload::PickId(std::mt19937_64& rng, int64_t n) const {
  int64_t hot = params_.hot_set;
  if (hot <= 0 || hot >= n) return std::uniform_int_distribution<int64_t>(1, n)(rng);
  // 90% to the hot ids 1..hot, 10% to the cold ones: the hot set receives
  // exactly the advertised share of the picks.
  if (std::uniform_int_distribution<int>(0, 9)(rng) < 9) {
    return std::uniform_int_distribution<int64_t>(1, hot)(rng);
  }
  return std::uniform_int_distribution<int64_t>(hot + 1, n)(rng);
}

void Workload::AddJournal(uint64_t op, int step_index, Step& step) const {
  if (!params_.journal) return;
  std::string table = layout_.Table(kJournalTable, step.shard);
  // MariaDB takes each parameter as a string literal (docs/protocol.md,
  // "MariaDB participants", rule 6): cast to integers there.
  const char* values = layout_.mariadb(step.shard) ? "CAST($1 AS SIGNED), CAST($2 AS SIGNED)"
                                                   : "$1, $2";
  Stmt insert{fmt::format("INSERT INTO {}(op, step) VALUES ({})", table, values),
              {static_cast<int64_t>(op), step_index}};
  step.action.push_back(insert);
  step.guarded.push_back(insert);
  step.compensation.push_back({fmt::format("DELETE FROM {} WHERE op = $1 AND step = $2", table),
                               {static_cast<int64_t>(op), step_index}});
}

std::string Workload::JournalDdl(int shard) const {
  std::string t = layout_.Table(kJournalTable, shard);
  return fmt::format(
      "DROP TABLE IF EXISTS {0}; CREATE TABLE {0}(op bigint NOT NULL, step int NOT NULL,"
      " PRIMARY KEY (op, step)){1};",
      t, layout_.mariadb(shard) ? " ENGINE=InnoDB" : "");
}

DbClient* Workload::ClientOf(const std::vector<DbClient*>& clients, int shard) const {
  auto participants = layout_.Participants();
  auto it = std::find(participants.begin(), participants.end(), layout_.participant(shard));
  return clients[it - participants.begin()];
}

std::unique_ptr<Workload> MakeWorkload(const WorkloadParams& params, Layout layout) {
  if (params.kind == WorkloadKind::kOrder) return MakeOrderWorkload(params, std::move(layout));
  return MakeTransferWorkload(params, std::move(layout));
}

Result<InvariantCheck> ReadInvariant(const Workload& w, const std::vector<DbClient*>& clients) {
  const Layout& layout = w.layout();
  auto participants = layout.Participants();
  int shards = static_cast<int>(layout.shard_participant.size());
  // One statement per database: all its shards' aggregates side by side,
  // so that a colocated (local) layout reads one consistent snapshot.
  std::vector<std::vector<std::pair<int, size_t>>> owners(participants.size());  // shard, count
  for (size_t p = 0; p < participants.size(); ++p) {
    std::vector<std::string> columns;
    for (int s = 0; s < shards; ++s) {
      if (layout.participant(s) != participants[p]) continue;
      auto exprs = w.AuditExpressions(s);
      owners[p].emplace_back(s, exprs.size());
      for (auto& e : exprs) columns.push_back("(" + e + ")");
    }
    // Sent to every database before any answer is read: the servers take
    // their snapshots within microseconds of each other. Read one after the
    // other, a database's snapshot would be a whole query older than the
    // next one's, and transfers committing in between would show up as
    // anomalies that no protocol could avoid.
    if (Status s = clients[p]->SendQuery("SELECT " + fmt::format("{}", fmt::join(columns, ", ")));
        !s.ok()) {
      for (size_t q = 0; q < p; ++q) (void)clients[q]->ReceiveInts();
      return s;
    }
  }
  std::vector<std::vector<int64_t>> by_shard(shards);
  Status failure;
  for (size_t p = 0; p < participants.size(); ++p) {
    auto values = clients[p]->ReceiveInts();
    if (!values.ok()) {
      if (failure.ok()) failure = values.status();
      continue;
    }
    size_t at = 0;
    for (auto [s, n] : owners[p]) {
      by_shard[s].assign(values->begin() + at, values->begin() + at + n);
      at += n;
    }
  }
  if (!failure.ok()) return failure;
  return w.Check(by_shard);
}

}  // namespace twopc::bench
