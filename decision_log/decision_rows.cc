#include "decision_log/decision_rows.h"

#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace twopc::internal {







std::string CoordinatorLabel(std::string_view node_id, uint64_t incarnation) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return fmt::format("{}.{}@{}:{}", node_id, incarnation, host[0] != '\0' ? host : "unknown",
                     ::getpid());
}

Query CommitRowQuery(const DecisionRecord& record, std::string_view coordinator) {
  return {"INSERT INTO twopc.decisions (gtrid, decision, incarnation, coordinator, branches)"
          " VALUES ($1, 'commit', $2::bigint, $3, $4)",
          {record.gtrid, std::to_string(record.incarnation), std::string(coordinator),
           EncodeBranches(record.branches)}};
}

std::string EncodeBranches(const std::vector<BranchRef>& branches) {
  nlohmann::json out = nlohmann::json::array();
  for (const BranchRef& b : branches) {
    out.push_back({{"participant", b.participant}, {"gid", b.gid}, {"txid", b.txid}});
  }
  return out.dump();
}

Result<std::vector<BranchRef>> DecodeBranches(std::string_view text) {
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return Status::Corruption("the branches of a decision row are not a JSON array");
  std::vector<BranchRef> out;
  for (const auto& b : json) {
    if (!b.is_object() || !b.contains("participant") || !b["participant"].is_string() ||
        !b.contains("gid") || !b["gid"].is_string() || !b.contains("txid") ||
        !b["txid"].is_number_unsigned()) {
      return Status::Corruption("a branch of a decision row lacks participant, gid or txid");
    }
    out.push_back({b["participant"].get<std::string>(), b["gid"].get<std::string>(),
                   b["txid"].get<uint64_t>()});
  }
  return out;
}

std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

Result<DecisionRecord> RecordOfRow(const std::vector<std::optional<std::string>>& row,
                                   const std::string& decider) {
  if (row.size() != 7 || !row[0] || !row[1] || !row[2] || !row[4] || !row[5]) {
    return Status::Corruption("a row of twopc.decisions at " + decider + " lacks a column");
  }
  DecisionRecord r;
  r.gtrid = *row[0];
  if (*row[1] == "commit") {
    r.decision = Decision::kCommit;
  } else if (*row[1] == "abort") {
    r.decision = Decision::kAbort;
  } else {
    return Status::Corruption("decision '" + *row[1] + "' of " + r.gtrid + " at " + decider);
  }
  r.incarnation = std::strtoull(row[2]->c_str(), nullptr, 10);
  auto branches = DecodeBranches(*row[4]);
  if (!branches.ok()) {
    return Status::Corruption(r.gtrid + " at " + decider + ": " + branches.status().message());
  }
  r.branches = std::move(*branches);
  r.decided_at_ms = std::strtoll(row[5]->c_str(), nullptr, 10);
  r.decider = decider;
  return r;
}

}  // namespace twopc::internal
