#include "controller/environment/observer.h"

namespace envop::environment {
namespace {

using kube::Json;

// An empty object in a spec says "this, empty" (a NetworkPolicy's `podSelector: {}` selects
// every pod); under metadata it is a map others add their keys to.
bool assertsEmptiness(const std::string& path) { return !path.starts_with(".metadata"); }

bool emptyLike(const Json& v) { return v.is_null() || (v.is_object() && v.empty()); }

std::optional<std::string> uncovered(const Json& desired, const Json& live,
                                     const std::string& path) {
  if (desired.is_null()) return std::nullopt;  // nothing asked for
  if (desired.is_object()) {
    if (desired.empty()) {
      if (!assertsEmptiness(path) || emptyLike(live)) return std::nullopt;
      return path;
    }
    for (const auto& [key, value] : desired.items()) {
      const Json sub = live.is_object() && live.contains(key) ? live[key] : Json();
      if (auto at = uncovered(value, sub, path + "." + key)) return at;
    }
    return std::nullopt;
  }
  if (desired.is_array()) {
    if (!live.is_array() || live.size() != desired.size()) return path;
    for (std::size_t i = 0; i < desired.size(); ++i) {
      if (auto at = uncovered(desired[i], live[i], path + "[" + std::to_string(i) + "]")) {
        return at;
      }
    }
    return std::nullopt;
  }
  return desired == live ? std::nullopt : std::optional<std::string>(path);
}

std::optional<std::string> difference(const Json& desired, const Json& a, const Json& b,
                                      const std::string& path) {
  if (desired.is_null()) return std::nullopt;
  if (desired.is_object() && !(desired.empty() && assertsEmptiness(path))) {
    for (const auto& [key, value] : desired.items()) {
      const Json subA = a.is_object() && a.contains(key) ? a[key] : Json();
      const Json subB = b.is_object() && b.contains(key) ? b[key] : Json();
      if (auto at = difference(value, subA, subB, path + "." + key)) return at;
    }
    return std::nullopt;
  }
  if (desired.is_object() && emptyLike(a) && emptyLike(b)) return std::nullopt;
  return a == b ? std::nullopt : std::optional<std::string>(path);
}

}  // namespace

std::optional<std::string> firstUncovered(const Json& desired, const Json& live) {
  return uncovered(desired, live, "");
}

std::optional<std::string> firstDifference(const Json& desired, const Json& a, const Json& b) {
  return difference(desired, a, b, "");
}

Observation observe(Applier& applier, const kube::Resource& r, const Json& desired) {
  Observation out;
  const std::string ns = kube::namespaceOf(desired);
  const std::string name = kube::nameOf(desired);
  Json live;
  if (const runtime::ObjectPtr cached = applier.live(r, ns, name)) {
    live = *cached;
  } else {
    // Not cached: not (yet) labelled as envop's, or a kind without an informer.
    auto got = applier.client().get(r, ns, name);
    if (!got) {
      if (got.error().isNotFound()) {
        out.missing = true;
      } else {
        out.error = got.error();
      }
      return out;
    }
    live = got.value();
  }
  const std::optional<std::string> uncoveredAt = firstUncovered(desired, live);
  if (!uncoveredAt) return out;
  // Maybe only spelt differently: let the API server normalise what applying would store.
  Json merged = live;
  merged.merge_patch(desired);
  merged["metadata"].erase("resourceVersion");  // a simulation; no need to guard it
  merged["metadata"].erase("managedFields");
  auto normalised = applier.client().dryRunUpdate(r, merged);
  if (!normalised) {
    out.difference = *uncoveredAt;  // the server would not say; the plain comparison stands
    return out;
  }
  out.difference = firstDifference(desired, normalised.value(), live).value_or("");
  return out;
}

}  // namespace envop::environment
