#include "controller/environment/monitoring_metrics.h"

#include <prometheus/gauge.h>

#include <chrono>
#include <map>
#include <mutex>

#include "controller/environment/helm_storage.h"
#include "controller/util/metrics.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;

struct Families {
  prometheus::Family<prometheus::Gauge>& releaseFailed =
      prometheus::BuildGauge()
          .Name("envop_release_failed")
          .Help("1 while the Helm release of an Environment is in state failed, else 0")
          .Register(util::metricsRegistry());
  prometheus::Family<prometheus::Gauge>& pullSecretExpiry =
      prometheus::BuildGauge()
          .Name("envop_pull_secret_expiry_timestamp_seconds")
          .Help("When the registry pull secret of an Environment expires (Unix seconds)")
          .Register(util::metricsRegistry());
  std::mutex mu;
  // What each Environment has exported, so that what it no longer has can be removed.
  std::map<std::string, std::map<std::string, prometheus::Gauge*>> releases;
  std::map<std::string, prometheus::Gauge*> expiry;
};

Families& families() {
  static Families* f = new Families();  // never destroyed: gauges outlive every caller
  return *f;
}

}  // namespace

EnvironmentSignals signalsFrom(const Json& status) {
  EnvironmentSignals out;
  if (!status.is_object()) return out;
  const Json releases = status.value("releases", Json::array());
  if (releases.is_array()) {
    for (const Json& r : releases) {
      if (!r.is_object() || !r.contains("name")) continue;
      out.releaseFailed.emplace_back(r.value("name", ""), r.value("status", "") == "failed");
    }
  }
  const Json registry = status.value("registry", Json::object());
  if (registry.is_object() && registry.contains("secretExpiresAt") &&
      registry["secretExpiresAt"].is_string()) {
    if (auto at = parseRfc3339(registry["secretExpiresAt"].get<std::string>())) {
      out.pullSecretExpiresAt = std::chrono::duration<double>(at->time_since_epoch()).count();
    }
  }
  return out;
}

void recordEnvironmentSignals(const std::string& environment, const EnvironmentSignals& signals) {
  Families& f = families();
  std::lock_guard lock(f.mu);
  std::map<std::string, prometheus::Gauge*>& exported = f.releases[environment];
  std::map<std::string, prometheus::Gauge*> now;
  for (const auto& [release, failed] : signals.releaseFailed) {
    prometheus::Gauge& g =
        f.releaseFailed.Add({{"environment", environment}, {"release", release}});
    g.Set(failed ? 1 : 0);
    now[release] = &g;
  }
  for (const auto& [release, gauge] : exported) {
    if (!now.count(release)) f.releaseFailed.Remove(gauge);
  }
  exported = std::move(now);
  auto it = f.expiry.find(environment);
  if (signals.pullSecretExpiresAt) {
    prometheus::Gauge& g = f.pullSecretExpiry.Add({{"environment", environment}});
    g.Set(*signals.pullSecretExpiresAt);
    f.expiry[environment] = &g;
  } else if (it != f.expiry.end()) {
    f.pullSecretExpiry.Remove(it->second);
    f.expiry.erase(it);
  }
}

void forgetEnvironmentSignals(const std::string& environment) {
  recordEnvironmentSignals(environment, {});
  Families& f = families();
  std::lock_guard lock(f.mu);
  f.releases.erase(environment);
}

}  // namespace envop::environment
