#include "controller/environment/label_selector.h"

#include <algorithm>
#include <string>

namespace envop::environment {

bool selectorMatches(const nlohmann::json& selector, const nlohmann::json& labels) {
  if (!selector.is_object()) return false;
  const nlohmann::json none = nlohmann::json::object();
  const nlohmann::json& have = labels.is_object() ? labels : none;
  auto value = [&have](const std::string& key) -> const nlohmann::json* {
    auto it = have.find(key);
    return it == have.end() || !it->is_string() ? nullptr : &*it;
  };
  // Named, not temporaries: items() refers to the object it iterates.
  const nlohmann::json matchLabels = selector.value("matchLabels", nlohmann::json::object());
  const nlohmann::json matchExpressions =
      selector.value("matchExpressions", nlohmann::json::array());
  for (const auto& [key, want] : matchLabels.items()) {
    const nlohmann::json* v = value(key);
    if (v == nullptr || *v != want) return false;
  }
  for (const nlohmann::json& req : matchExpressions) {
    if (!req.is_object()) return false;
    const std::string key = req.value("key", "");
    const std::string op = req.value("operator", "");
    const nlohmann::json values = req.value("values", nlohmann::json::array());
    const nlohmann::json* v = value(key);
    const bool listed = v != nullptr && std::find(values.begin(), values.end(), *v) != values.end();
    if (op == "In") {
      if (!listed) return false;
    } else if (op == "NotIn") {
      if (listed) return false;  // an absent label is not in any set
    } else if (op == "Exists") {
      if (v == nullptr) return false;
    } else if (op == "DoesNotExist") {
      if (v != nullptr) return false;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace envop::environment
