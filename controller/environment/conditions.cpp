#include "controller/environment/conditions.h"

#include <algorithm>
#include <ctime>

namespace envop::environment {
namespace {

std::string stringField(const nlohmann::json& json, const char* key) {
  const auto it = json.find(key);
  return it != json.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t integerField(const nlohmann::json& json, const char* key) {
  const auto it = json.find(key);
  return it != json.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

}  // namespace

std::string formatTime(util::WallTime t) {
  const std::time_t secs =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

bool setCondition(std::vector<Condition>& conditions, Condition condition, util::WallTime now) {
  auto it = std::find_if(conditions.begin(), conditions.end(),
                         [&](const Condition& c) { return c.type == condition.type; });
  if (it == conditions.end()) {
    if (condition.lastTransitionTime.empty()) condition.lastTransitionTime = formatTime(now);
    conditions.push_back(std::move(condition));
    return true;
  }
  if (it->status != condition.status) {
    if (condition.lastTransitionTime.empty()) condition.lastTransitionTime = formatTime(now);
  } else {
    // Same status: the state has held since the existing time, whatever the caller passed.
    condition.lastTransitionTime = it->lastTransitionTime;
  }
  if (*it == condition) return false;
  *it = std::move(condition);
  return true;
}

bool removeCondition(std::vector<Condition>& conditions, std::string_view type) {
  return std::erase_if(conditions, [&](const Condition& c) { return c.type == type; }) > 0;
}

const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type) {
  const auto it = std::find_if(conditions.begin(), conditions.end(),
                               [&](const Condition& c) { return c.type == type; });
  return it == conditions.end() ? nullptr : &*it;
}

bool isConditionTrue(const std::vector<Condition>& conditions, std::string_view type) {
  const Condition* c = findCondition(conditions, type);
  return c != nullptr && c->status == kConditionTrue;
}

nlohmann::json conditionToJson(const Condition& condition) {
  nlohmann::json json = {
      {"type", condition.type},
      {"status", condition.status},
      {"reason", condition.reason},
      {"message", condition.message},
      {"lastTransitionTime", condition.lastTransitionTime},
  };
  // Go's `omitempty` on observedGeneration: zero is absent, so a round trip is exact.
  if (condition.observedGeneration != 0) json["observedGeneration"] = condition.observedGeneration;
  return json;
}

Condition conditionFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return {};
  return Condition{
      .type = stringField(json, "type"),
      .status = stringField(json, "status"),
      .reason = stringField(json, "reason"),
      .message = stringField(json, "message"),
      .observedGeneration = integerField(json, "observedGeneration"),
      .lastTransitionTime = stringField(json, "lastTransitionTime"),
  };
}

nlohmann::json conditionsToJson(const std::vector<Condition>& conditions) {
  nlohmann::json json = nlohmann::json::array();
  for (const Condition& c : conditions) json.push_back(conditionToJson(c));
  return json;
}

std::vector<Condition> conditionsFromJson(const nlohmann::json& json) {
  std::vector<Condition> conditions;
  if (!json.is_array()) return conditions;
  for (const nlohmann::json& entry : json) {
    Condition c = conditionFromJson(entry);
    if (!c.type.empty()) conditions.push_back(std::move(c));
  }
  return conditions;
}

}  // namespace envop::environment
