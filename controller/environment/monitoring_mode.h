// How an Environment's monitoring is published, decided from what the cluster serves: the
// Prometheus Operator's ServiceMonitor/PodMonitor/PrometheusRule (monitoring.coreos.com/v1)
// when their CRDs are installed, else envop's own HTTP service discovery. What is installed is
// read from a watch of CustomResourceDefinitions (only those three are cached), not from
// discovery calls: a CRD installed or removed while envop runs wakes every Environment with
// monitoring at once, so mode Auto switches within seconds and needs no restart, and
// /sd/prometheus can decide per request without asking the API server.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/environment/monitoring_spec.h"
#include "controller/kube/resource.h"
#include "controller/runtime/store.h"

namespace envop::environment {

const kube::Resource& serviceMonitors();
const kube::Resource& podMonitors();
const kube::Resource& prometheusRules();

// Which of the Prometheus Operator's kinds the API server serves.
struct OperatorApis {
  bool serviceMonitors = false;
  bool podMonitors = false;
  bool prometheusRules = false;
  bool operator==(const OperatorApis&) const = default;
};

// From cached CRDs: a kind counts once its CRD is Established and serves v1.
OperatorApis operatorApisFrom(const std::vector<runtime::ObjectPtr>& crds);

// The CRD informer's `keep`: one of the three CRDs above.
bool isPrometheusOperatorCrd(const nlohmann::json& crd);
// Its transform: name, resourceVersion, the versions served and the conditions; the schemas
// (most of a CRD's bytes) are dropped.
void slimCrd(nlohmann::json& crd);

enum class Publish { kOperator, kHttpSd, kNone };

struct ModeDecision {
  Publish publish = Publish::kNone;
  // mode ServiceMonitor without the CRDs: nothing can be published until they are installed.
  bool crdMissing = false;
  std::string description;  // "ServiceMonitor (Auto: the Prometheus Operator's CRDs are served)"
};

ModeDecision decideMode(MonitoringMode mode, const OperatorApis& apis);

}  // namespace envop::environment
