// A metav1.LabelSelector evaluated against an object's labels, as the API server evaluates it:
// every matchLabels pair and every matchExpressions requirement (In, NotIn, Exists,
// DoesNotExist) must hold; an empty selector selects everything. Used to resolve HTTP service
// discovery targets from cached Services and Pods without asking the API server.
#pragma once

#include <nlohmann/json.hpp>

namespace envop::environment {

// A selector that is not an object, or an unknown operator, selects nothing.
bool selectorMatches(const nlohmann::json& selector, const nlohmann::json& labels);

}  // namespace envop::environment
