// The monitoring part of an Environment: how Prometheus finds the stage's workloads and
// middleware, and the stage's alerts. In operator mode (the Prometheus Operator's CRDs served,
// mode Auto or ServiceMonitor) it applies a ServiceMonitor (kind Service) or PodMonitor (kind
// Pod) per target in the stage namespace, a ServiceMonitor for the external services' metrics
// ports in the shared `ext` namespace, and a PrometheusRule with the alerts; in HTTPSD mode it
// applies no monitors (/sd/prometheus serves the targets from the caches) and writes the alerts
// as a rule file in the ConfigMap <environment>-alerts. Every object carries
// prometheus.labels, envop's ownership labels and envop.io/component=monitoring, by which the
// ones no longer wanted are found and removed. A failure here is MonitoringReady=False and
// never holds back another part.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>

#include "controller/environment/applier.h"
#include "controller/environment/monitoring_mode.h"
#include "controller/environment/part_report.h"
#include "controller/environment/spec.h"

namespace envop::environment {

inline constexpr const char* kComponentLabel = "envop.io/component";
inline constexpr const char* kComponentMonitoring = "monitoring";

struct MonitoringReport : PartReport {
  MonitoringReport() : PartReport(kPartMonitoring) {}
  nlohmann::json status;  // status.monitoring; null when the part is not configured
};

class MonitoringPart final {
 public:
  using ApisFn = std::function<OperatorApis()>;
  using TargetCountFn = std::function<std::size_t(const EnvironmentSpec&)>;

  // apis: what the API server serves now (the CRD cache); sdTargets: how many targets
  // /sd/prometheus serves for an Environment now.
  MonitoringPart(Applier& applier, ApisFn apis, TargetCountFn sdTargets)
      : applier_(applier), apis_(std::move(apis)), sdTargets_(std::move(sdTargets)) {}

  MonitoringReport reconcile(const EnvironmentSpec& env);
  // On deletion: retain leaves the objects without envop's labels; otherwise deleted.
  PartReport finalize(const EnvironmentSpec& env, bool retain);

 private:
  struct Owned {
    const kube::Resource* resource;
    std::string ns;
    std::string name;
  };
  // envop's monitoring objects of this Environment, of every kind the server serves now.
  std::vector<Owned> owned(const EnvironmentSpec& env, const OperatorApis& apis,
                           PartReport& report) const;

  Applier& applier_;
  ApisFn apis_;
  TargetCountFn sdTargets_;
};

// The desired objects, pure so that they can be checked without a cluster.
kube::Json desiredServiceMonitor(const EnvironmentSpec& env, const MonitoringTarget& target);
kube::Json desiredPodMonitor(const EnvironmentSpec& env, const MonitoringTarget& target);
// For the external services with a metricsPort, in their namespace; nullopt when none has one.
// Named envop-<environment>-external so that Environments sharing `ext` never collide.
std::optional<kube::Json> desiredExternalServiceMonitor(const EnvironmentSpec& env);
kube::Json desiredPrometheusRule(const EnvironmentSpec& env, const kube::Json& groups);
kube::Json desiredAlertsConfigMap(const EnvironmentSpec& env, const kube::Json& groups);
std::string alertsObjectName(const EnvironmentSpec& env);  // <environment>-alerts

}  // namespace envop::environment
