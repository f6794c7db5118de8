// ListPrepared: what `twopc status` shows -- every prepared transaction, whose
// it is, what the log decided, and what it costs the database while it
// waits (locks held, sessions blocked, VACUUM held back).
#include "common/wait.h"
#include "recovery/recovery_scanner.h"

namespace twopc::internal {
namespace {

// A prepared transaction's locks stay in pg_locks under its original
// virtualtransaction with pid NULL; its transactionid lock tells which vxid
// that is. Sessions blocked on its row locks wait on its transactionid; those
// blocked on its relation locks wait on the relation.
constexpr char kImpactSql[] = R"sql(
WITH held AS (
  SELECT p.gid, p.transaction, l.locktype, l.relation, l.database
    FROM pg_prepared_xacts p
    JOIN pg_locks l ON l.pid IS NULL AND l.virtualtransaction IN
         (SELECT x.virtualtransaction FROM pg_locks x
           WHERE x.locktype = 'transactionid' AND x.transactionid = p.transaction
             AND x.pid IS NULL)
   WHERE p.database = current_database())
SELECT p.gid,
       age(p.transaction)::bigint,
       COALESCE((SELECT string_agg(DISTINCT h.relation::regclass::text, ',')
                   FROM held h
                  WHERE h.gid = p.gid AND h.locktype = 'relation' AND h.database = d.oid
                    -- tables only: the indexes locked with them add noise
                    AND (SELECT c.relkind FROM pg_class c WHERE c.oid = h.relation)
                        IN ('r', 'p', 'm', 'f')), ''),
       (SELECT count(DISTINCT w.pid)
          FROM pg_locks w
         WHERE NOT w.granted
           AND ((w.locktype = 'transactionid' AND w.transactionid = p.transaction)
             OR (w.locktype = 'relation' AND w.database = d.oid AND w.relation IN
                   (SELECT h.relation FROM held h
                     WHERE h.gid = p.gid AND h.locktype = 'relation'))))::bigint
  FROM pg_prepared_xacts p JOIN pg_database d ON d.datname = p.database
 WHERE p.database = current_database()
)sql";

struct Impact {
  int64_t xmin_age = 0;
  std::vector<std::string> relations;
  int waiting = 0;
};

std::map<std::string, Impact> ReadImpact(Participant& p, std::chrono::milliseconds timeout) {
  auto r = AwaitCallback<Result<std::vector<QueryResult>>>(
      [&](auto done) { p.Inspect({kImpactSql, {}}, Clock::now() + timeout, std::move(done)); });
  std::map<std::string, Impact> out;
  if (!r.ok()) return out;
  for (const auto& row : r.value()[0].rows) {
    Impact i;
    i.xmin_age = std::stoll(row[1].value_or("0"));
    std::string rels = row[2].value_or("");
    for (size_t start = 0; start < rels.size();) {
      size_t comma = rels.find(',', start);
      if (comma == std::string::npos) comma = rels.size();
      i.relations.push_back(rels.substr(start, comma - start));
      start = comma + 1;
    }
    i.waiting = static_cast<int>(std::stoll(row[3].value_or("0")));
    out[row[0].value_or("")] = std::move(i);
  }
  return out;
}

}  // namespace

RecoveryManager::Listing ListPrepared(const ScanContext& ctx, bool with_impact) {
  RecoveryManager::Listing listing;
  for (const auto& [name, p] : ctx.participants) {
    auto rows = RecoverSync(*p, ctx.timeout);
    if (!rows.ok()) {
      listing.unreachable.push_back(rows.TakeStatus());
      continue;
    }
    std::map<std::string, Impact> impact;
    if (with_impact && !rows.value().empty()) impact = ReadImpact(*p, ctx.timeout);
    for (const auto& x : rows.value()) {
      PreparedBranch b;
      b.participant = name;
      b.database = x.database;
      b.gid = x.gid;
      b.owner_role = x.owner;
      b.prepared_at_ms = x.prepared_at_ms;
      b.classified = ClassifyGid(x.gid, ctx.node_id);
      if (b.classified.kind == GidKind::kThisNode) {
        const GidParts& g = *b.classified.parts;
        // A shared store (store = "postgres") reads the decision where the
        // gid says it is: the decider's table only.
        auto rec = ctx.log->shared() ? ctx.log->LookupForGid(x.gid) : ctx.log->Lookup(GtridOf(g));
        if (rec.ok()) {
          b.decision = rec.value();
        } else {
          b.decision_error = rec.TakeStatus();
        }
      }
      if (auto it = impact.find(x.gid); it != impact.end()) {
        b.locked_relations = it->second.relations;
        b.waiting_sessions = it->second.waiting;
        b.xmin_age = it->second.xmin_age;
      }
      listing.branches.push_back(std::move(b));
    }
  }
  return listing;
}

}  // namespace twopc::internal
