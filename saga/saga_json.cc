#include "saga/saga_json.h"

#include <nlohmann/json.hpp>

namespace twopc::internal {
namespace {

using nlohmann::json;

constexpr int kFormat = 1;

json StatementsToJson(const std::vector<SagaStatement>& statements) {
  json out = json::array();
  for (const SagaStatement& st : statements) {
    json params = json::array();
    for (const Param& p : st.params) {
      if (p.is_null()) {
        params.push_back(nullptr);
      } else {
        params.push_back(*p.text());
      }
    }
    out.push_back({{"sql", st.sql}, {"params", std::move(params)}});
  }
  return out;
}

bool IsStringField(const json& j, const char* key) { return j.contains(key) && j[key].is_string(); }

Result<std::vector<SagaStatement>> StatementsFromJson(const json& j) {
  if (!j.is_array()) return Status::Corruption("saga definition: statements are not a list");
  std::vector<SagaStatement> out;
  for (const json& st : j) {
    if (!st.is_object() || !IsStringField(st, "sql") || !st.contains("params") ||
        !st["params"].is_array()) {
      return Status::Corruption("saga definition: a statement lacks sql or params");
    }
    SagaStatement statement{st["sql"].get<std::string>(), {}};
    for (const json& p : st["params"]) {
      if (p.is_null()) {
        statement.params.emplace_back(nullptr);
      } else if (p.is_string()) {
        statement.params.emplace_back(p.get<std::string>());
      } else {
        return Status::Corruption("saga definition: a parameter is neither text nor null");
      }
    }
    out.push_back(std::move(statement));
  }
  return out;
}

Result<SagaStep> StepFromJson(const json& j) {
  if (!j.is_object() || !IsStringField(j, "name") || !IsStringField(j, "participant") ||
      !j.contains("require_rows") || !j["require_rows"].is_boolean() || !j.contains("action") ||
      !j.contains("compensation")) {
    return Status::Corruption("saga definition: a step lacks a field");
  }
  SagaStep step;
  step.name = j["name"].get<std::string>();
  step.participant = j["participant"].get<std::string>();
  step.require_rows = j["require_rows"].get<bool>();
  auto action = StatementsFromJson(j["action"]);
  if (!action.ok()) return action.TakeStatus();
  auto compensation = StatementsFromJson(j["compensation"]);
  if (!compensation.ok()) return compensation.TakeStatus();
  step.action = std::move(action).value();
  step.compensation = std::move(compensation).value();
  return step;
}

}  // namespace

Result<std::string> SagaToJson(const Saga& saga) {
  json steps = json::array();
  for (const SagaStep& step : saga.steps) {
    steps.push_back({{"name", step.name},
                     {"participant", step.participant},
                     {"require_rows", step.require_rows},
                     {"action", StatementsToJson(step.action)},
                     {"compensation", StatementsToJson(step.compensation)}});
  }
  json doc = {{"format", kFormat}, {"name", saga.name}, {"steps", std::move(steps)}};
  // dump() throws on invalid UTF-8; this is the one place that can happen,
  // so the exception is turned into a Status here.
  try {
    return doc.dump();
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("saga '") + saga.name +
                                   "' cannot be stored: a text is not valid UTF-8 (" + e.what() +
                                   ")");
  }
}

Result<Saga> SagaFromJson(const std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::Corruption("saga definition is not a JSON object");
  }
  if (!doc.contains("format") || !doc["format"].is_number_integer() ||
      doc["format"].get<int>() != kFormat) {
    return Status::Corruption("saga definition has an unknown format");
  }
  if (!IsStringField(doc, "name") || !doc.contains("steps") || !doc["steps"].is_array()) {
    return Status::Corruption("saga definition lacks name or steps");
  }
  Saga saga;
  saga.name = doc["name"].get<std::string>();
  for (const json& j : doc["steps"]) {
    auto step = StepFromJson(j);
    if (!step.ok()) return step.TakeStatus();
    saga.steps.push_back(std::move(step).value());
  }
  return saga;
}

}  // namespace twopc::internal
