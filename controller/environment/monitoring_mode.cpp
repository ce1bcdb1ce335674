#include "controller/environment/monitoring_mode.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;

bool establishedServingV1(const Json& crd) {
  bool established = false;
  for (const Json& c : crd.value("status", Json::object()).value("conditions", Json::array())) {
    if (c.value("type", "") == "Established" && c.value("status", "") == "True") established = true;
  }
  bool v1 = false;
  for (const Json& v : crd.value("spec", Json::object()).value("versions", Json::array())) {
    if (v.value("name", "") == "v1" && v.value("served", false)) v1 = true;
  }
  return established && v1 && !crd.value("metadata", Json::object()).contains("deletionTimestamp");
}

}  // namespace

const kube::Resource& serviceMonitors() {
  static const kube::Resource r{"monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor",
                                true};
  return r;
}
const kube::Resource& podMonitors() {
  static const kube::Resource r{"monitoring.coreos.com", "v1", "podmonitors", "PodMonitor", true};
  return r;
}
const kube::Resource& prometheusRules() {
  static const kube::Resource r{"monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule",
                                true};
  return r;
}

bool isPrometheusOperatorCrd(const Json& crd) {
  const std::string name = crd.value("metadata", Json::object()).value("name", "");
  return name == "servicemonitors.monitoring.coreos.com" ||
         name == "podmonitors.monitoring.coreos.com" ||
         name == "prometheusrules.monitoring.coreos.com";
}

void slimCrd(Json& crd) {
  const Json metadata = crd.value("metadata", Json::object());
  Json versions = Json::array();
  for (const Json& v : crd.value("spec", Json::object()).value("versions", Json::array())) {
    versions.push_back({{"name", v.value("name", "")}, {"served", v.value("served", false)}});
  }
  Json slim = {
      {"metadata",
       {{"name", metadata.value("name", "")},
        {"resourceVersion", metadata.value("resourceVersion", "")}}},
      {"spec", {{"versions", versions}}},
      {"status",
       {{"conditions", crd.value("status", Json::object()).value("conditions", Json::array())}}}};
  if (metadata.contains("deletionTimestamp")) {
    slim["metadata"]["deletionTimestamp"] = metadata["deletionTimestamp"];
  }
  crd = std::move(slim);
}

OperatorApis operatorApisFrom(const std::vector<runtime::ObjectPtr>& crds) {
  OperatorApis apis;
  for (const runtime::ObjectPtr& crd : crds) {
    if (!crd || !establishedServingV1(*crd)) continue;
    const std::string name = crd->value("metadata", Json::object()).value("name", "");
    if (name == "servicemonitors.monitoring.coreos.com") apis.serviceMonitors = true;
    if (name == "podmonitors.monitoring.coreos.com") apis.podMonitors = true;
    if (name == "prometheusrules.monitoring.coreos.com") apis.prometheusRules = true;
  }
  return apis;
}

ModeDecision decideMode(MonitoringMode mode, const OperatorApis& apis) {
  const bool served = apis.serviceMonitors && apis.podMonitors;
  switch (mode) {
    case MonitoringMode::kNone:
      return {Publish::kNone, false, "None"};
    case MonitoringMode::kHttpSd:
      return {Publish::kHttpSd, false, "HTTPSD"};
    case MonitoringMode::kServiceMonitor:
      if (served) return {Publish::kOperator, false, "ServiceMonitor"};
      return {Publish::kNone, true, "ServiceMonitor"};
    case MonitoringMode::kAuto:
      break;
  }
  if (served) {
    return {Publish::kOperator, false,
            "ServiceMonitor (Auto: the Prometheus Operator's CRDs are served)"};
  }
  return {Publish::kHttpSd, false,
          "HTTPSD (Auto: the Prometheus Operator's ServiceMonitor and PodMonitor CRDs are not "
          "served)"};
}

}  // namespace envop::environment
