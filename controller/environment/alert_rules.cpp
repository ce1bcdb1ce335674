#include "controller/environment/alert_rules.h"

#include <yaml-cpp/yaml.h>

namespace envop::environment {
namespace {

using Json = nlohmann::json;

bool pages(std::string_view stage) { return stage == "production" || stage == "gray"; }

// A PromQL string literal: the values here are DNS labels, but quote them properly anyway.
std::string quoted(const std::string& value) {
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

struct SystemAlert {
  std::string expr;
  std::string summary;
  std::string description;
};

SystemAlert systemAlert(std::string_view name, const EnvironmentSpec& env,
                        const std::string& threshold) {
  const std::string ns = "namespace=" + quoted(env.namespace_.name);
  const std::string envSel = "environment=" + quoted(env.name);
  if (name == "WorkloadReplicasUnavailable") {
    return {"(sum by (namespace, deployment) (kube_deployment_status_replicas_unavailable{" + ns +
                "}) > " + threshold +
                ") or (sum by (namespace, statefulset) (kube_statefulset_status_replicas{" + ns +
                "} - kube_statefulset_status_replicas_ready{" + ns + "}) > " + threshold + ")",
            "A workload of {{ $labels.namespace }} has unavailable replicas",
            "{{ $labels.deployment }}{{ $labels.statefulset }} has {{ $value }} unavailable "
            "replicas."};
  }
  if (name == "PodRestarting") {
    return {"sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total{" + ns +
                "}[15m])) > " + threshold,
            "Pod {{ $labels.pod }} is restarting",
            "{{ $labels.pod }} restarted {{ $value }} times in 15 minutes."};
  }
  if (name == "QuotaNearlyFull") {
    return {"max by (namespace, resourcequota, resource) (kube_resourcequota{" + ns +
                ", type=\"used\"}) / max by (namespace, resourcequota, resource) "
                "(kube_resourcequota{" +
                ns + ", type=\"hard\"} > 0) > " + threshold,
            "Quota {{ $labels.resourcequota }} is nearly used up",
            "{{ $labels.resource }} is at {{ $value | humanizePercentage }} of its quota."};
  }
  if (name == "ReleaseFailed") {
    return {"max by (environment, release) (envop_release_failed{" + envSel + "}) > " + threshold,
            "Release {{ $labels.release }} failed",
            "The Helm release {{ $labels.release }} of Environment " + env.name +
                " is in state failed."};
  }
  if (name == "PullSecretExpiringSoon") {
    return {"min by (environment) (envop_pull_secret_expiry_timestamp_seconds{" + envSel +
                "}) - time() < " + threshold,
            "The pull secret of " + env.name + " expires soon",
            "The registry pull secret expires in {{ $value | humanizeDuration }} and has not "
            "been rotated."};
  }
  // ExternalServiceDown: the share of an external service's metrics addresses that are down.
  const std::string ext = env.externalServices ? env.externalServices->namespace_ : "ext";
  return {"1 - avg by (namespace, service) (up{" + envSel + ", namespace=" + quoted(ext) + "}) > " +
              threshold,
          "External service {{ $labels.service }} is down",
          "{{ $value | humanizePercentage }} of the scrapes of {{ $labels.service }} fail."};
}

bool hasExternalMetrics(const EnvironmentSpec& env) {
  if (!env.externalServices) return false;
  for (const ExternalService& s : env.externalServices->services) {
    if (s.metricsPort) return true;
  }
  return false;
}

Json labelsFor(const EnvironmentSpec& env, const std::string& severity) {
  return {{"severity", severity},
          {"environment", env.name},
          {"stage", env.stage},
          {"namespace", env.namespace_.name}};
}

void emit(YAML::Emitter& out, const Json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, child] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      emit(out, child);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const Json& child : value) emit(out, child);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    // Quoted always, so that "0" or "true" stay strings and PromQL braces stay text.
    out << YAML::DoubleQuoted << value.get<std::string>();
  } else {
    out << value.dump();
  }
}

}  // namespace

AlertSettings systemAlertDefaults(std::string_view alert, std::string_view stage) {
  const bool page = pages(stage);
  const bool test = stage == "test";
  const std::string severity = page ? "critical" : test ? "warning" : "info";
  auto pick = [&](const char* prod, const char* tst, const char* dev) {
    return std::string(page ? prod : test ? tst : dev);
  };
  if (alert == "WorkloadReplicasUnavailable") {
    return {"0", pick("5m", "15m", "30m"), severity};
  }
  if (alert == "PodRestarting") {
    return {pick("2", "5", "10"), pick("5m", "10m", "30m"), severity};
  }
  if (alert == "QuotaNearlyFull") {
    return {pick("0.9", "0.95", "0.98"), pick("15m", "30m", "1h"), severity};
  }
  if (alert == "ReleaseFailed") {
    return {"0", pick("5m", "15m", "30m"), severity};
  }
  if (alert == "PullSecretExpiringSoon") {
    // Seconds left: three days to rotate it in production, one elsewhere.
    return {pick("259200", "86400", "86400"), pick("1h", "1h", "1h"), severity};
  }
  if (alert == "ExternalServiceDown") {
    return {"0", pick("2m", "5m", "15m"), severity};
  }
  return {"0", "5m", severity};
}

Json alertRuleGroups(const EnvironmentSpec& env) {
  Json groups = Json::array();
  if (!env.monitoring || !env.monitoring->alerts) return {{"groups", groups}};
  const AlertsSpec& alerts = *env.monitoring->alerts;
  Json rules = Json::array();
  if (alerts.systemEnabled) {
    for (std::string_view name : kSystemAlerts) {
      // Without an external service that has a metrics port there is nothing to be down.
      if (name == "ExternalServiceDown" && !hasExternalMetrics(env)) continue;
      AlertSettings s = systemAlertDefaults(name, env.stage);
      for (const AlertOverride& o : alerts.overrides) {
        if (o.name != name) continue;
        if (o.threshold) s.threshold = *o.threshold;
        if (o.for_) s.for_ = *o.for_;
        if (o.severity) s.severity = *o.severity;
      }
      const SystemAlert a = systemAlert(name, env, s.threshold);
      rules.push_back({{"alert", std::string(name)},
                       {"expr", a.expr},
                       {"for", s.for_},
                       {"labels", labelsFor(env, s.severity)},
                       {"annotations", {{"summary", a.summary}, {"description", a.description}}}});
    }
  }
  for (const AlertRule& r : alerts.rules) {
    Json rule = {{"alert", r.name}, {"expr", r.expr}, {"labels", labelsFor(env, r.severity)}};
    if (!r.for_.empty()) rule["for"] = r.for_;
    if (!r.summary.empty()) rule["annotations"] = {{"summary", r.summary}};
    rules.push_back(std::move(rule));
  }
  if (!rules.empty()) groups.push_back({{"name", "envop-" + env.name}, {"rules", rules}});
  return {{"groups", groups}};
}

std::string ruleFileYaml(const Json& groups) {
  YAML::Emitter out;
  emit(out, groups);
  return std::string(out.c_str()) + "\n";
}

}  // namespace envop::environment
