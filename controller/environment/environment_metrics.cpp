#include "controller/environment/environment_metrics.h"

#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "controller/util/metrics.h"

namespace envop::environment {
namespace {

constexpr const char* kPhases[] = {"Pending",  "Progressing", "Ready",
                                   "Degraded", "Suspended",   "Terminating"};

struct Families {
  prometheus::Family<prometheus::Gauge>& phase =
      prometheus::BuildGauge()
          .Name("envop_environment_phase")
          .Help("1 for the phase an Environment is in (status.phase), 0 for the others")
          .Register(util::metricsRegistry());
  prometheus::Family<prometheus::Gauge>& condition =
      prometheus::BuildGauge()
          .Name("envop_environment_condition")
          .Help("An Environment's status conditions: 1 True, 0 False, -1 Unknown")
          .Register(util::metricsRegistry());
};

Families& families() {
  static Families f;
  return f;
}

// The series each Environment has, so that a stage renamed or a condition gone is removed and
// not left reporting its last value.
struct Series {
  std::vector<prometheus::Gauge*> phases;
  std::vector<prometheus::Gauge*> conditions;
};
std::mutex mu;
std::map<std::string, Series>& series() {
  static std::map<std::string, Series> s;
  return s;
}

// Removes from `family` the gauges of `before` that are not in `after`. Add() hands back the
// gauge a label set already has, so a series that stays keeps its identity between scrapes.
void removeStale(prometheus::Family<prometheus::Gauge>& family,
                 const std::vector<prometheus::Gauge*>& before,
                 const std::vector<prometheus::Gauge*>& after) {
  for (prometheus::Gauge* g : before) {
    if (std::find(after.begin(), after.end(), g) == after.end()) family.Remove(g);
  }
}

}  // namespace

void recordEnvironmentStatus(const std::string& environment, const std::string& stage,
                             const nlohmann::json& status) {
  if (!status.is_object()) return;
  const std::string phase = status.value("phase", "");
  Series now;
  const std::lock_guard lock(mu);
  for (const char* p : kPhases) {
    prometheus::Gauge& g =
        families().phase.Add({{"environment", environment}, {"stage", stage}, {"phase", p}});
    g.Set(phase == p ? 1 : 0);
    now.phases.push_back(&g);
  }
  for (const nlohmann::json& c : status.value("conditions", nlohmann::json::array())) {
    if (!c.is_object() || !c.contains("type") || !c["type"].is_string()) continue;
    const std::string value = c.value("status", "Unknown");
    prometheus::Gauge& g = families().condition.Add(
        {{"environment", environment}, {"stage", stage}, {"type", c["type"].get<std::string>()}});
    g.Set(value == "True" ? 1 : value == "False" ? 0 : -1);
    now.conditions.push_back(&g);
  }
  Series& before = series()[environment];
  removeStale(families().phase, before.phases, now.phases);
  removeStale(families().condition, before.conditions, now.conditions);
  before.phases = std::move(now.phases);
  before.conditions = std::move(now.conditions);
}

void forgetEnvironmentStatus(const std::string& environment) {
  const std::lock_guard lock(mu);
  const auto it = series().find(environment);
  if (it == series().end()) return;
  removeStale(families().phase, it->second.phases, {});
  removeStale(families().condition, it->second.conditions, {});
  series().erase(it);
}

}  // namespace envop::environment
