// Conditions are the Environment's metav1.Condition list, handled the way apimachinery's
// meta.SetStatusCondition handles it: a condition is addressed by its type, and its
// lastTransitionTime moves only when its status flips, so `kubectl describe` shows how long a
// state has held rather than when the controller last looked. Pure code over a vector; the
// JSON helpers are tolerant on the way in because the previous status was written by some
// earlier version of the controller (or by a human with `kubectl edit --subresource=status`).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "controller/util/wall_time.h"

namespace envop::environment {

inline constexpr std::string_view kConditionTrue = "True";
inline constexpr std::string_view kConditionFalse = "False";
inline constexpr std::string_view kConditionUnknown = "Unknown";

struct Condition {
  std::string type;     // UpperCamelCase, e.g. "Ready", "NamespaceReady"
  std::string status;   // "True" | "False" | "Unknown"
  std::string reason;   // UpperCamelCase, one word
  std::string message;  // for humans; may be empty
  std::int64_t observedGeneration = 0;
  std::string lastTransitionTime;  // metav1.Time wire form, see formatTime

  bool operator==(const Condition&) const = default;
};

// metav1.Time's wire form: RFC 3339 in UTC with whole seconds, "2006-01-02T15:04:05Z".
std::string formatTime(util::WallTime t);

// Adds or updates the condition of `condition.type`. lastTransitionTime is taken from the
// existing condition unless the status flips; on a flip (or a new condition) it is
// `condition.lastTransitionTime` if set, else `now`. Returns whether anything changed.
bool setCondition(std::vector<Condition>& conditions, Condition condition, util::WallTime now);

// Removes the condition of `type`; returns whether there was one.
bool removeCondition(std::vector<Condition>& conditions, std::string_view type);

// The condition of `type`, or nullptr; valid until `conditions` is next modified.
const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type);

bool isConditionTrue(const std::vector<Condition>& conditions, std::string_view type);

nlohmann::json conditionToJson(const Condition& condition);
// Missing or mistyped fields become empty / zero; never throws.
Condition conditionFromJson(const nlohmann::json& json);

nlohmann::json conditionsToJson(const std::vector<Condition>& conditions);
// Anything but an array yields no conditions; entries that are not objects or have no type are
// dropped (nothing could address them). Never throws.
std::vector<Condition> conditionsFromJson(const nlohmann::json& json);

}  // namespace envop::environment
