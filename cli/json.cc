#include "cli/json.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "cli/cli_context.h"
#include "cli/text.h"

namespace twopc::cli {
namespace {

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

nlohmann::json OptionalDecision(const std::optional<Decision>& d) {
  return d ? nlohmann::json(DecisionName(*d)) : nlohmann::json(nullptr);
}

nlohmann::json PartsJson(const std::optional<GidParts>& parts) {
  if (!parts) return nullptr;
  return {{"node_id", parts->node_id},
          {"incarnation", parts->incarnation},
          {"txn", parts->txn},
          {"branch", parts->branch},
          // tpc2 gids name the participant whose twopc.decisions table holds
          // the decision (store = "postgres"); tpc1 gids name none.
          {"decider",
           parts->decider.empty() ? nlohmann::json(nullptr) : nlohmann::json(parts->decider)}};
}

// The decision record the branch's lookup found: with store = "postgres"
// the decider's row (an ABORT row there is always a recovery fence:
// presumed abort writes nothing for a normal abort).
nlohmann::json DecisionRecordJson(const PreparedBranch& b) {
  if (!b.decision) return nullptr;
  const DecisionRecord& r = *b.decision;
  return {{"decision", DecisionName(r.decision)},
          {"fence", !r.decider.empty() && r.decision == Decision::kAbort},
          {"decider", r.decider.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.decider)},
          {"incarnation", r.incarnation},
          {"decided_at", IsoUtc(r.decided_at_ms)},
          {"decided_at_ms", r.decided_at_ms},
          {"ended", r.ended_at_ms.has_value()}};
}

nlohmann::json DecisionColumn(const PreparedBranch& b) {
  if (b.decision) return DecisionName(b.decision->decision);
  if (b.classified.kind == GidKind::kThisNode) return "none";
  return nullptr;
}

}  // namespace

nlohmann::json XidJson(const Xid& xid) {
  return {{"format_id", xid.format_id},
          {"gtrid", Printable(xid.gtrid)},
          {"bqual", Printable(xid.bqual)},
          {"gtrid_hex", Hex(xid.gtrid)},
          {"bqual_hex", Hex(xid.bqual)}};
}

nlohmann::json BranchJson(const PreparedBranch& b, bool heuristic, int64_t now_ms) {
  return {{"participant", b.participant},
          {"database", b.database},
          {"gid", b.gid},
          {"kind", GidKindName(b.classified.kind)},
          {"manager", b.classified.manager.empty() ? nlohmann::json(nullptr)
                                                   : nlohmann::json(b.classified.manager)},
          {"xid", b.classified.xid ? XidJson(*b.classified.xid) : nlohmann::json(nullptr)},
          {"twopc", PartsJson(b.classified.parts)},
          // null: the server does not keep it (MariaDB)
          {"prepared_at", b.prepared_at_ms == 0 ? nlohmann::json(nullptr)
                                                : nlohmann::json(IsoUtc(b.prepared_at_ms))},
          {"prepared_at_ms",
           b.prepared_at_ms == 0 ? nlohmann::json(nullptr) : nlohmann::json(b.prepared_at_ms)},
          {"age_seconds", b.prepared_at_ms == 0
                              ? nlohmann::json(nullptr)
                              : nlohmann::json(std::max<int64_t>(0, (now_ms - b.prepared_at_ms) / 1000))},
          {"owner", b.owner_role},
          {"decision", DecisionColumn(b)},
          {"decision_record", DecisionRecordJson(b)},
          {"decision_error",
           b.decision_error.ok() ? nlohmann::json(nullptr) : StatusJson(b.decision_error)},
          {"heuristic", heuristic},
          {"locked_relations", b.locked_relations},
          {"waiting_sessions", b.waiting_sessions},
          {"xmin_age", b.xmin_age}};
}

nlohmann::json RecordJson(const DecisionRecord& r, bool heuristic, int64_t now_ms) {
  nlohmann::json branches = nlohmann::json::array();
  for (const BranchRef& b : r.branches) {
    branches.push_back({{"participant", b.participant}, {"gid", b.gid}});
  }
  nlohmann::json doc = {
      {"gtrid", r.gtrid},
      {"decision", DecisionName(r.decision)},
      {"branches", branches},
      {"heuristic", r.heuristic || heuristic},
      {"incarnation", r.incarnation},
      {"decider", r.decider.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.decider)},
      {"decided_at", IsoUtc(r.decided_at_ms)},
      {"decided_at_ms", r.decided_at_ms},
      {"age_seconds", std::max<int64_t>(0, (now_ms - r.decided_at_ms) / 1000)},
      {"ended_at", nullptr},
      {"ended_at_ms", nullptr}};
  if (r.ended_at_ms) {
    doc["ended_at"] = IsoUtc(*r.ended_at_ms);
    doc["ended_at_ms"] = *r.ended_at_ms;
  }
  return doc;
}

nlohmann::json HeuristicJson(const HeuristicRecord& h) {
  return {{"at", IsoUtc(h.at_ms)},
          {"at_ms", h.at_ms},
          {"gtrid", h.gtrid},
          {"gid", h.gid},
          {"participant", h.participant},
          {"action", DecisionName(h.action)},
          {"logged", OptionalDecision(h.logged)},
          {"note", h.note},
          {"forgotten_at", h.forgotten_at_ms ? nlohmann::json(IsoUtc(*h.forgotten_at_ms))
                                             : nlohmann::json(nullptr)}};
}

nlohmann::json ActionJson(const RecoveryAction& a) {
  return {{"action", RecoveryActionName(a.kind)},
          {"participant", a.participant},
          {"gid", a.gid},
          {"gtrid", a.gtrid},
          {"detail", a.detail},
          {"error", a.status.ok() ? nlohmann::json(nullptr) : StatusJson(a.status)}};
}

nlohmann::json StatusJson(const Status& s) {
  return {{"code", Status::CodeName(s.code())},
          {"participant", s.participant()},
          {"sqlstate", s.sqlstate()},
          {"message", s.message()}};
}

nlohmann::json LogJson(RecoveryManager& manager) {
  if (PostgresStore(manager)) {
    nlohmann::json names = nlohmann::json::array();
    for (const ParticipantOptions& p : manager.options().participants) names.push_back(p.name);
    return {{"store", "postgres"},
            {"path", nullptr},
            {"incarnation", nullptr},
            {"participants", names},
            {"held_by_coordinator", false}};
  }
  return {{"store", "sqlite"},
          {"path", manager.options().log.path},
          {"incarnation", manager.log().incarnation()},
          {"held_by_coordinator", manager.coordinator_running()}};
}

void PrintJson(const nlohmann::json& doc) {
  std::string text = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
}

}  // namespace twopc::cli
