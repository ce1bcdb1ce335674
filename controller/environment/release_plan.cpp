#include "controller/environment/release_plan.h"

#include <algorithm>
#include <functional>

namespace envop::environment {

namespace {

enum class Mark { kNew, kOnPath, kDone };

// Depth-first search that returns the first cycle found as a closed path ("a", "b", "a").
// Releases are visited in spec order, so the same spec always reports the same cycle.
std::vector<std::string> findCycle(const std::vector<std::string>& names,
                                   const std::map<std::string, std::vector<std::string>>& deps) {
  std::map<std::string, Mark> marks;
  std::vector<std::string> path;
  std::vector<std::string> cycle;
  std::function<bool(const std::string&)> visit = [&](const std::string& name) {
    marks[name] = Mark::kOnPath;
    path.push_back(name);
    for (const std::string& dep : deps.at(name)) {
      const Mark mark = marks[dep];
      if (mark == Mark::kOnPath) {
        cycle.assign(std::find(path.begin(), path.end(), dep), path.end());
        return true;
      }
      if (mark == Mark::kNew && visit(dep)) return true;
    }
    path.pop_back();
    marks[name] = Mark::kDone;
    return false;
  };
  for (const std::string& name : names) {
    if (marks[name] == Mark::kNew && visit(name)) break;
  }
  if (cycle.empty()) return cycle;
  // Start the cycle at the release that comes first in the spec, so that the message does not
  // depend on where the search happened to enter it.
  auto first = std::min_element(cycle.begin(), cycle.end(), [&names](const auto& a, const auto& b) {
    return std::find(names.begin(), names.end(), a) < std::find(names.begin(), names.end(), b);
  });
  std::rotate(cycle.begin(), first, cycle.end());
  cycle.push_back(cycle.front());
  return cycle;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

}  // namespace

std::variant<ReleasePlan, std::string> planReleases(const std::vector<ReleaseSpec>& releases) {
  ReleasePlan plan;
  std::vector<std::string> names;
  for (const ReleaseSpec& release : releases) {
    if (plan.dependencies_.count(release.name) != 0) {
      return "duplicate release name \"" + release.name + "\"";
    }
    names.push_back(release.name);
    std::vector<std::string>& deps = plan.dependencies_[release.name];
    for (const std::string& dep : release.dependsOn) {
      if (std::find(deps.begin(), deps.end(), dep) == deps.end()) deps.push_back(dep);
    }
  }
  std::vector<std::string> unknown;
  for (const ReleaseSpec& release : releases) {
    for (const std::string& dep : release.dependsOn) {
      if (plan.dependencies_.count(dep) == 0) unknown.push_back(release.name + " -> " + dep);
    }
  }
  if (!unknown.empty()) return "dependsOn names unknown releases: " + join(unknown, ", ");
  if (const auto cycle = findCycle(names, plan.dependencies_); !cycle.empty()) {
    return "dependsOn cycle: " + join(cycle, " -> ");
  }

  // Acyclic now, so a memoised depth-first level computation terminates.
  std::map<std::string, std::size_t> level;
  std::function<std::size_t(const std::string&)> levelOf = [&](const std::string& name) {
    if (auto it = level.find(name); it != level.end()) return it->second;
    std::size_t mine = 0;
    for (const std::string& dep : plan.dependencies_.at(name)) {
      mine = std::max(mine, levelOf(dep) + 1);
    }
    level[name] = mine;
    return mine;
  };
  for (const std::string& name : names) {
    const std::size_t l = levelOf(name);
    if (plan.waves_.size() <= l) plan.waves_.resize(l + 1);
    plan.waves_[l].push_back(name);
  }
  for (const auto& wave : plan.waves_) {
    plan.order_.insert(plan.order_.end(), wave.begin(), wave.end());
  }
  return plan;
}

const std::vector<std::string>& ReleasePlan::dependenciesOf(const std::string& name) const {
  static const std::vector<std::string> kNone;
  auto it = dependencies_.find(name);
  return it == dependencies_.end() ? kNone : it->second;
}

std::vector<std::string> ReleasePlan::ready(const std::set<std::string>& deployedAndReady,
                                            const std::set<std::string>& inFlight,
                                            const std::set<std::string>& failed) const {
  std::vector<std::string> out;
  for (const std::string& name : order_) {
    if (deployedAndReady.count(name) || inFlight.count(name) || failed.count(name)) continue;
    const auto& deps = dependencies_.at(name);
    if (std::all_of(deps.begin(), deps.end(),
                    [&](const std::string& d) { return deployedAndReady.count(d) != 0; })) {
      out.push_back(name);
    }
  }
  return out;
}

std::string ReleasePlan::failedBehind(const std::string& name,
                                      const std::set<std::string>& deployedAndReady,
                                      const std::set<std::string>& failed,
                                      std::set<std::string>& seen) const {
  if (!seen.insert(name).second) return "";
  if (failed.count(name) != 0) return name;
  for (const std::string& dep : dependenciesOf(name)) {
    if (deployedAndReady.count(dep) != 0) continue;
    if (std::string culprit = failedBehind(dep, deployedAndReady, failed, seen); !culprit.empty()) {
      return culprit;
    }
  }
  return "";
}

std::vector<Blocker> ReleasePlan::blockedBy(const std::string& name,
                                            const std::set<std::string>& deployedAndReady,
                                            const std::set<std::string>& failed) const {
  std::vector<Blocker> out;
  for (const std::string& dep : dependenciesOf(name)) {
    if (deployedAndReady.count(dep) != 0) continue;
    std::set<std::string> seen;
    out.push_back({.dependency = dep, .failed = failedBehind(dep, deployedAndReady, failed, seen)});
  }
  return out;
}

std::string ReleasePlan::blockedMessage(const std::string& name,
                                        const std::set<std::string>& deployedAndReady,
                                        const std::set<std::string>& failed) const {
  const std::vector<Blocker> blockers = blockedBy(name, deployedAndReady, failed);
  if (blockers.empty()) return "";
  std::vector<std::string> broken;
  std::vector<std::string> waiting;
  for (const Blocker& b : blockers) {
    if (b.failed.empty()) {
      waiting.push_back(b.dependency);
    } else if (b.failed == b.dependency) {
      broken.push_back(b.dependency + " failed");
    } else {
      broken.push_back(b.dependency + " waits on failed " + b.failed);
    }
  }
  // A failure needs a human sooner than a wait does, so it leads the message.
  if (!broken.empty()) return "blocked: " + join(broken, "; ");
  return "waiting for " + join(waiting, ", ");
}

}  // namespace envop::environment
