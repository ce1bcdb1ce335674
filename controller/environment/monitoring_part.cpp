#include "controller/environment/monitoring_part.h"

#include <set>

#include "controller/environment/alert_rules.h"

namespace envop::environment {
namespace {

namespace res = kube::resources;
using kube::Json;
using State = PartOutcome::State;

Json labelsFor(const EnvironmentSpec& env) {
  Json labels = env.monitoring ? env.monitoring->labels : Json::object();
  labels.update(ownershipLabels(env.name));  // ours win over a user's label of the same key
  labels[kComponentLabel] = kComponentMonitoring;
  return labels;
}

Json metadataFor(const EnvironmentSpec& env, const std::string& ns, const std::string& name) {
  return {{"name", name}, {"namespace", ns}, {"labels", labelsFor(env)}};
}

// The operator labels targets with namespace, service and pod itself; environment and stage
// are envop's, the same labels HTTP SD gives.
Json relabelings(const EnvironmentSpec& env) {
  return Json::array(
      {{{"action", "replace"}, {"targetLabel", "environment"}, {"replacement", env.name}},
       {{"action", "replace"}, {"targetLabel", "stage"}, {"replacement", env.stage}}});
}

Json endpoint(const EnvironmentSpec& env, const MonitoringTarget& t) {
  Json e = {{"port", t.port}, {"path", t.path}, {"relabelings", relabelings(env)}};
  if (!t.interval.empty()) e["interval"] = t.interval;
  return e;
}

std::string key(const kube::Resource& r, const std::string& ns, const std::string& name) {
  return r.plural + "/" + ns + "/" + name;
}

}  // namespace

std::string alertsObjectName(const EnvironmentSpec& env) { return env.name + "-alerts"; }

Json desiredServiceMonitor(const EnvironmentSpec& env, const MonitoringTarget& target) {
  return {{"apiVersion", serviceMonitors().apiVersion()},
          {"kind", serviceMonitors().kind},
          {"metadata", metadataFor(env, env.namespace_.name, target.name)},
          {"spec", {{"selector", target.selector}, {"endpoints", {endpoint(env, target)}}}}};
}

Json desiredPodMonitor(const EnvironmentSpec& env, const MonitoringTarget& target) {
  return {
      {"apiVersion", podMonitors().apiVersion()},
      {"kind", podMonitors().kind},
      {"metadata", metadataFor(env, env.namespace_.name, target.name)},
      {"spec", {{"selector", target.selector}, {"podMetricsEndpoints", {endpoint(env, target)}}}}};
}

std::optional<Json> desiredExternalServiceMonitor(const EnvironmentSpec& env) {
  if (!env.externalServices) return std::nullopt;
  bool any = false;
  for (const ExternalService& s : env.externalServices->services) any = any || s.metricsPort;
  if (!any) return std::nullopt;
  // The Environment's Services in `ext` carry its label; only those with a metricsPort have the
  // port named metrics that this scrapes.
  Json selector = {{"matchLabels", ownershipLabels(env.name)}};
  Json rel = relabelings(env);
  rel.push_back({{"action", "replace"},
                 {"sourceLabels", {"__meta_kubernetes_service_name"}},
                 {"targetLabel", "service"}});
  return Json{
      {"apiVersion", serviceMonitors().apiVersion()},
      {"kind", serviceMonitors().kind},
      {"metadata",
       metadataFor(env, env.externalServices->namespace_, "envop-" + env.name + "-external")},
      // The ext Services have no selector and no Endpoints, only the EndpointSlices envop writes
      // (nothing mirrors slices back into Endpoints), so the operator's default role would find
      // no target.
      {"spec",
       {{"selector", selector},
        {"serviceDiscoveryRole", "EndpointSlice"},
        {"endpoints", {{{"port", "metrics"}, {"path", "/metrics"}, {"relabelings", rel}}}}}}};
}

Json desiredPrometheusRule(const EnvironmentSpec& env, const Json& groups) {
  return {{"apiVersion", prometheusRules().apiVersion()},
          {"kind", prometheusRules().kind},
          {"metadata", metadataFor(env, env.namespace_.name, alertsObjectName(env))},
          {"spec", {{"groups", groups.value("groups", Json::array())}}}};
}

Json desiredAlertsConfigMap(const EnvironmentSpec& env, const Json& groups) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", metadataFor(env, env.namespace_.name, alertsObjectName(env))},
          {"data", {{kRuleFileKey, ruleFileYaml(groups)}}}};
}

std::vector<MonitoringPart::Owned> MonitoringPart::owned(const EnvironmentSpec& env,
                                                         const OperatorApis& apis,
                                                         PartReport& report) const {
  std::vector<Owned> out;
  std::vector<const kube::Resource*> kinds = {&res::configMaps()};
  if (apis.serviceMonitors) kinds.push_back(&serviceMonitors());
  if (apis.podMonitors) kinds.push_back(&podMonitors());
  if (apis.prometheusRules) kinds.push_back(&prometheusRules());
  const std::string selector = std::string(kEnvironmentLabel) + "=" + env.name + "," +
                               kComponentLabel + "=" + kComponentMonitoring;
  for (const kube::Resource* r : kinds) {
    // From the cache of what envop owns when there is one (the monitoring kinds' informers run
    // while their CRDs are served, and none of their objects can exist otherwise): no list per
    // reconcile. Without one, one list per kind and reconcile, never a read per object.
    if (applier_.caches(*r)) {
      for (const runtime::ObjectPtr& item : applier_.ownedBy(*r, env.name)) {
        if (runtime::labelOf(*item, kComponentLabel) != kComponentMonitoring) continue;
        out.push_back({r, kube::namespaceOf(*item), kube::nameOf(*item)});
      }
      continue;
    }
    auto listed = applier_.client().list(*r, "", {.labelSelector = selector});
    if (!listed) {
      if (listed.error().isNotFound()) continue;  // the CRD went away since the cache saw it
      mark(report, State::kFailed, "ListFailed",
           "listing " + r->plural + ": " + listed.error().describe());
      continue;
    }
    for (const Json& item : listed.value().items) {
      if (!ownedBy(item, env.name)) continue;
      out.push_back({r, kube::namespaceOf(item), kube::nameOf(item)});
    }
  }
  return out;
}

MonitoringReport MonitoringPart::reconcile(const EnvironmentSpec& env) {
  MonitoringReport report;
  const OperatorApis apis = apis_();
  std::set<std::string> wanted;
  auto put = [&](const kube::Resource& r, const Json& desired) {
    applyTracked(applier_, r, desired, report);
    wanted.insert(key(r, kube::namespaceOf(desired), kube::nameOf(desired)));
  };

  int serviceMonitorCount = 0;
  int podMonitorCount = 0;
  std::size_t sdTargetCount = 0;
  std::string alertsWhere;
  std::optional<ModeDecision> decision;
  if (env.monitoring) {
    decision = decideMode(env.monitoring->mode, apis);
    if (decision->crdMissing) {
      // Nothing is published or removed: the CRD watch wakes us when the CRDs are installed.
      mark(report, State::kStalled, "CRDNotInstalled",
           "mode ServiceMonitor, but the API server does not serve monitoring.coreos.com/v1 "
           "servicemonitors and podmonitors: install the Prometheus Operator's CRDs, or use mode "
           "Auto or HTTPSD");
      report.status = {{"serviceMonitors", 0}, {"podMonitors", 0}, {"httpSDTargets", 0}};
      return report;
    }
    if (decision->publish == Publish::kOperator) {
      for (const MonitoringTarget& t : env.monitoring->targets) {
        if (t.kind == TargetKind::kService) {
          put(serviceMonitors(), desiredServiceMonitor(env, t));
          ++serviceMonitorCount;
        } else {
          put(podMonitors(), desiredPodMonitor(env, t));
          ++podMonitorCount;
        }
      }
      if (std::optional<Json> ext = desiredExternalServiceMonitor(env)) {
        put(serviceMonitors(), *ext);
        ++serviceMonitorCount;
      }
    } else if (decision->publish == Publish::kHttpSd) {
      sdTargetCount = sdTargets_(env);
    }
    const Json groups = alertRuleGroups(env);
    if (!groups["groups"].empty()) {
      const std::string where = env.namespace_.name + "/" + alertsObjectName(env);
      if (decision->publish == Publish::kOperator && apis.prometheusRules) {
        put(prometheusRules(), desiredPrometheusRule(env, groups));
        alertsWhere = "alerts in PrometheusRule " + where;
      } else {
        put(res::configMaps(), desiredAlertsConfigMap(env, groups));
        alertsWhere = "alerts in ConfigMap " + where + " (key " + kRuleFileKey + ")";
      }
    }
  }
  // What this Environment made and no longer wants: a target removed, a mode switched.
  for (const Owned& o : owned(env, apis, report)) {
    if (wanted.count(key(*o.resource, o.ns, o.name))) continue;
    const ApplyOutcome removed = applier_.remove(*o.resource, o.ns, o.name);
    if (removed.error) {
      mark(report, State::kFailed, "DeleteFailed",
           "removing " + o.resource->kind + " " + o.ns + "/" + o.name + ": " +
               removed.error->describe());
    }
  }
  if (!env.monitoring) {
    if (report.state == State::kReady) report.state = State::kNotConfigured;
    return report;
  }
  report.status = {{"serviceMonitors", serviceMonitorCount},
                   {"podMonitors", podMonitorCount},
                   {"httpSDTargets", sdTargetCount}};
  if (report.state == State::kReady) {
    std::string published;
    switch (decision->publish) {
      case Publish::kOperator:
        report.reason = "ServiceMonitors";
        published = std::to_string(serviceMonitorCount) + " ServiceMonitor(s) and " +
                    std::to_string(podMonitorCount) + " PodMonitor(s)";
        break;
      case Publish::kHttpSd:
        report.reason = "HTTPSD";
        published = "targets served at /sd/prometheus?environment=" + env.name;
        break;
      case Publish::kNone:
        report.reason = "NotPublished";
        published = "no scrape targets published";
        break;
    }
    report.message = "mode " + decision->description + ": " + published + "; " +
                     (alertsWhere.empty() ? std::string("no alerts") : alertsWhere);
  }
  return report;
}

PartReport MonitoringPart::finalize(const EnvironmentSpec& env, bool retain) {
  PartReport report(kPartMonitoring);
  for (const Owned& o : owned(env, apis_(), report)) {
    const ApplyOutcome outcome = retain ? applier_.disown(*o.resource, o.ns, o.name)
                                        : applier_.remove(*o.resource, o.ns, o.name);
    if (outcome.error) {
      mark(report, State::kFailed, "FinalizeFailed",
           o.resource->kind + " " + o.ns + "/" + o.name + ": " + outcome.error->describe());
    }
  }
  if (!env.monitoring && report.state == State::kReady) report.state = State::kNotConfigured;
  return report;
}

}  // namespace envop::environment
