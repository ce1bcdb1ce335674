#include "controller/environment/http_sd.h"

#include <map>
#include <set>

#include "controller/environment/label_selector.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;

const Json& metadataOf(const Json& object) {
  static const Json kNone = Json::object();
  auto it = object.find("metadata");
  return it != object.end() && it->is_object() ? *it : kNone;
}

std::string namespaceOf(const Json& object) { return metadataOf(object).value("namespace", ""); }
std::string nameOf(const Json& object) { return metadataOf(object).value("name", ""); }
Json labelsOf(const Json& object) { return metadataOf(object).value("labels", Json::object()); }

std::string hostPort(const std::string& address, int port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

// Collects targets under their label sets.
class Groups {
 public:
  void add(const Json& labels, std::string target) { byLabels_[labels.dump()].insert(target); }
  Json json() const {
    Json out = Json::array();
    for (const auto& [labels, targets] : byLabels_) {
      out.push_back({{"targets", Json(targets)}, {"labels", Json::parse(labels)}});
    }
    return out;
  }

 private:
  std::map<std::string, std::set<std::string>> byLabels_;
};

Json baseLabels(const EnvironmentSpec& env, const std::string& ns) {
  return {{"environment", env.name}, {"stage", env.stage}, {"namespace", ns}};
}

Json targetLabels(const EnvironmentSpec& env, const MonitoringTarget& t) {
  Json labels = baseLabels(env, env.namespace_.name);
  labels["__metrics_path__"] = t.path;
  if (!t.interval.empty()) labels["__scrape_interval__"] = t.interval;
  return labels;
}

void serviceTargets(const EnvironmentSpec& env, const MonitoringTarget& t, const SdObjects& objects,
                    Groups& groups) {
  const std::string& ns = env.namespace_.name;
  std::set<std::string> selected;
  for (const runtime::ObjectPtr& svc : objects.services) {
    if (namespaceOf(*svc) == ns && selectorMatches(t.selector, labelsOf(*svc))) {
      selected.insert(nameOf(*svc));
    }
  }
  for (const runtime::ObjectPtr& slice : objects.endpointSlices) {
    if (namespaceOf(*slice) != ns) continue;
    const std::string service = labelsOf(*slice).value("kubernetes.io/service-name", "");
    if (!selected.count(service)) continue;
    int port = 0;
    for (const Json& p : slice->value("ports", Json::array())) {
      if (p.is_object() && p.value("name", "") == t.port) port = p.value("port", 0);
    }
    if (port == 0) continue;
    for (const Json& e : slice->value("endpoints", Json::array())) {
      // As kube-proxy reads it: an endpoint whose readiness is unknown counts as ready.
      if (!e.value("conditions", Json::object()).value("ready", true)) continue;
      Json labels = targetLabels(env, t);
      labels["service"] = service;
      const Json ref = e.value("targetRef", Json::object());
      if (ref.value("kind", "") == "Pod") labels["pod"] = ref.value("name", "");
      for (const Json& address : e.value("addresses", Json::array())) {
        if (address.is_string()) groups.add(labels, hostPort(address.get<std::string>(), port));
      }
    }
  }
}

void podTargets(const EnvironmentSpec& env, const MonitoringTarget& t, const SdObjects& objects,
                Groups& groups) {
  for (const runtime::ObjectPtr& pod : objects.pods) {
    if (namespaceOf(*pod) != env.namespace_.name) continue;
    if (!selectorMatches(t.selector, labelsOf(*pod))) continue;
    if (metadataOf(*pod).contains("deletionTimestamp")) continue;
    const Json status = pod->value("status", Json::object());
    const std::string ip = status.value("podIP", "");
    if (ip.empty() || status.value("phase", "") != "Running") continue;
    int port = 0;
    for (const Json& c : pod->value("spec", Json::object()).value("containers", Json::array())) {
      for (const Json& p : c.value("ports", Json::array())) {
        if (p.is_object() && p.value("name", "") == t.port) port = p.value("containerPort", 0);
      }
    }
    if (port == 0) continue;
    Json labels = targetLabels(env, t);
    labels["pod"] = nameOf(*pod);
    groups.add(labels, hostPort(ip, port));
  }
}

void externalTargets(const EnvironmentSpec& env, Groups& groups) {
  if (!env.externalServices) return;
  for (const ExternalService& svc : env.externalServices->services) {
    if (!svc.metricsPort) continue;
    Json labels = baseLabels(env, env.externalServices->namespace_);
    labels["service"] = svc.name;
    labels["__metrics_path__"] = "/metrics";
    for (const std::string& address : svc.addresses) {
      groups.add(labels, hostPort(address, *svc.metricsPort));
    }
    if (!svc.hostname.empty()) groups.add(labels, hostPort(svc.hostname, *svc.metricsPort));
  }
}

}  // namespace

Json sdGroups(const EnvironmentSpec& env, const SdObjects& objects) {
  Groups groups;
  if (env.monitoring) {
    for (const MonitoringTarget& t : env.monitoring->targets) {
      if (t.kind == TargetKind::kService) {
        serviceTargets(env, t, objects, groups);
      } else {
        podTargets(env, t, objects, groups);
      }
    }
  }
  externalTargets(env, groups);
  return groups.json();
}

std::size_t sdTargetCount(const Json& groups) {
  std::size_t n = 0;
  for (const Json& g : groups) n += g.value("targets", Json::array()).size();
  return n;
}

void slimPodForServiceDiscovery(Json& pod) {
  const Json metadata = metadataOf(pod);
  Json slim = {{"metadata",
                {{"name", metadata.value("name", "")},
                 {"namespace", metadata.value("namespace", "")},
                 {"resourceVersion", metadata.value("resourceVersion", "")},
                 {"labels", metadata.value("labels", Json::object())}}}};
  if (metadata.contains("deletionTimestamp")) {
    slim["metadata"]["deletionTimestamp"] = metadata["deletionTimestamp"];
  }
  Json containers = Json::array();
  for (const Json& c : pod.value("spec", Json::object()).value("containers", Json::array())) {
    Json ports = Json::array();
    for (const Json& p : c.value("ports", Json::array())) {
      if (!p.is_object() || !p.contains("name")) continue;  // only named ports can be targets
      ports.push_back({{"name", p["name"]}, {"containerPort", p.value("containerPort", 0)}});
    }
    if (!ports.empty()) containers.push_back({{"ports", ports}});
  }
  slim["spec"] = {{"containers", containers}};
  const Json status = pod.value("status", Json::object());
  slim["status"] = {{"podIP", status.value("podIP", "")}, {"phase", status.value("phase", "")}};
  pod = std::move(slim);
}

void slimEndpointSliceForServiceDiscovery(Json& slice) {
  const Json metadata = metadataOf(slice);
  Json labels = Json::object();
  const Json all = metadata.value("labels", Json::object());
  if (all.contains("kubernetes.io/service-name")) {
    labels["kubernetes.io/service-name"] = all["kubernetes.io/service-name"];
  }
  Json endpoints = Json::array();
  for (const Json& e : slice.value("endpoints", Json::array())) {
    Json slim = {{"addresses", e.value("addresses", Json::array())}};
    if (e.contains("conditions")) slim["conditions"] = e["conditions"];
    if (e.contains("targetRef")) {
      slim["targetRef"] = {{"kind", e["targetRef"].value("kind", "")},
                           {"name", e["targetRef"].value("name", "")}};
    }
    endpoints.push_back(std::move(slim));
  }
  slice = {{"metadata",
            {{"name", metadata.value("name", "")},
             {"namespace", metadata.value("namespace", "")},
             {"resourceVersion", metadata.value("resourceVersion", "")},
             {"labels", labels}}},
           {"endpoints", endpoints},
           {"ports", slice.value("ports", Json::array())}};
}

}  // namespace envop::environment
