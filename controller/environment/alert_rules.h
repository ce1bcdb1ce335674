// AlertRules is the Prometheus rule file envop writes for one Environment: one group holding
// the stage's system alerts (a workload with unavailable replicas, a pod restarting, a quota
// nearly full, a release failed, the pull secret near expiry, an external service down), each
// with a threshold, a `for` and a severity by stage that alerts.overrides can change, and the
// stage's own rules (alerts.rules). Every alert carries environment, stage, namespace and
// severity. The same group goes into a PrometheusRule (operator mode) or a ConfigMap's rule
// file (plain Prometheus). Pure: no I/O, so promtool and the tests can check what it writes.
//
// Metrics the expressions read:
//   kube-state-metrics: kube_deployment_status_replicas_unavailable,
//     kube_statefulset_status_replicas(_ready), kube_pod_container_status_restarts_total,
//     kube_resourcequota{type=used|hard};
//   envop's own (monitoring_metrics.h): envop_release_failed{environment,release},
//     envop_pull_secret_expiry_timestamp_seconds{environment};
//   the scrape of the external services' metrics ports: up{environment,namespace=<ext>}.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "controller/environment/spec.h"

namespace envop::environment {

inline constexpr std::array<std::string_view, 6> kSystemAlerts = {
    "WorkloadReplicasUnavailable", "PodRestarting",      "QuotaNearlyFull", "ReleaseFailed",
    "PullSecretExpiringSoon",      "ExternalServiceDown"};

struct AlertSettings {
  std::string threshold;  // a decimal number, put into the expression as it is
  std::string for_;       // a Prometheus duration
  std::string severity;   // critical | warning | info
  bool operator==(const AlertSettings&) const = default;
};

// The stage's default for a system alert: production and gray page (critical) soon, test
// warns, development only informs and waits longest.
AlertSettings systemAlertDefaults(std::string_view alert, std::string_view stage);

// {"groups": [{"name": "envop-<env>", "rules": [...]}]}; no groups when the Environment has no
// alerts (no spec.monitoring.alerts, or system alerts off and no rules).
nlohmann::json alertRuleGroups(const EnvironmentSpec& env);

// The groups as a Prometheus rule file (YAML), for a ConfigMap a plain Prometheus mounts.
std::string ruleFileYaml(const nlohmann::json& groups);

// The key of that file in the ConfigMap <environment>-alerts.
inline constexpr const char* kRuleFileKey = "rules.yaml";

}  // namespace envop::environment
