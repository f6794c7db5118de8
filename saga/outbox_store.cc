#include "saga/outbox_store.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

namespace twopc::internal {
namespace {

// PostgreSQL's text form of a bigint[]: {1,2,3}.
std::string BigintArray(const std::vector<int64_t>& ids) {
  return fmt::format("{{{}}}", fmt::join(ids, ","));
}

// The columns read here are all NOT NULL; value_or only keeps a bad row from
// crashing the relay.
std::string Text(const Rows::Row& row, size_t col) { return row[col].value_or(""); }

OutboxRow ToOutboxRow(const Rows::Row& row) {
  OutboxRow r;
  r.id = std::stoll(Text(row, 0));
  r.saga_id = Text(row, 1);
  r.event = Text(row, 2);
  r.target = Text(row, 3);
  r.payload = Text(row, 4);
  return r;
}

}  // namespace

std::string EventKey(const std::string& source, int64_t id) {
  return fmt::format("{}:{}", source, id);
}

Status ValidateEmit(const EmitEvent& e, const std::set<std::string>& participants) {
  if (e.event.empty()) return Status::InvalidArgument("outbox event without a name");
  if (participants.count(e.target) == 0) {
    return Status::InvalidArgument(
        fmt::format("event {} targets unknown participant '{}'", e.event, e.target));
  }
  if (!e.payload.empty() && !nlohmann::json::accept(e.payload)) {
    return Status::InvalidArgument(fmt::format("payload of event {} is not JSON", e.event));
  }
  return Status::OK();
}

Status QueueEmit(Transaction& tx, const std::string& participant, const std::string& saga_id,
                 const EmitEvent& e) {
  return tx.Queue(participant,
                  "INSERT INTO twopc_outbox(saga_id, event, target, payload)"
                  " VALUES ($1, $2, $3, $4::jsonb)",
                  {saga_id, e.event, e.target, e.payload.empty() ? "{}" : e.payload});
}

Result<std::vector<OutboxRow>> LockOutboxBatch(Transaction& tx, const std::string& participant,
                                               int batch, const std::vector<int64_t>& skip) {
  auto rows = tx.Execute(participant,
                         "SELECT id, saga_id, event, target, payload FROM twopc_outbox"
                         " WHERE NOT (id = ANY($2::bigint[]))"
                         " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                         {batch, BigintArray(skip)});
  if (!rows.ok()) return rows.TakeStatus();
  std::vector<OutboxRow> out;
  out.reserve(rows->size());
  for (const Rows::Row& row : *rows) out.push_back(ToOutboxRow(row));
  return out;
}

Status QueueDeleteDelivered(Transaction& tx, const std::string& participant,
                            const std::vector<int64_t>& ids) {
  return tx.Queue(participant, "DELETE FROM twopc_outbox WHERE id = ANY($1::bigint[])",
                  {BigintArray(ids)});
}

Result<bool> ClaimInboxKey(Transaction& tx, const std::string& target,
                           const std::string& event_key) {
  auto r = tx.Execute(
      target, "INSERT INTO twopc_inbox(event_key) VALUES ($1) ON CONFLICT DO NOTHING", {event_key});
  if (!r.ok()) return r.TakeStatus();
  return r->affected() == 1;
}

Result<int64_t> CountOutbox(Coordinator& coordinator, const std::string& participant) {
  Transaction tx = coordinator.Begin();
  auto rows = tx.Execute(participant, "SELECT count(*) FROM twopc_outbox");
  if (!rows.ok()) return rows.TakeStatus();
  if (Status s = tx.Commit(); !s.ok()) return s;
  return rows->Int(0, 0);
}

}  // namespace twopc::internal
