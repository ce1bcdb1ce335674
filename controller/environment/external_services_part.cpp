#include "controller/environment/external_services_part.h"

#include <cctype>
#include <set>

namespace envop::environment {
namespace {

namespace res = kube::resources;
using kube::Json;
using State = PartOutcome::State;

// The declared ports and, with a metricsPort, one named `metrics` that the monitoring part
// scrapes (its ServiceMonitor selects the port by that name). A Service with two ports must
// name both, so a declared port without a name is then named after its protocol and number.
std::vector<ServicePort> portsOf(const ExternalService& svc) {
  std::vector<ServicePort> ports = svc.ports;
  if (!svc.metricsPort) return ports;
  bool declared = false;
  for (ServicePort& p : ports) {
    if (p.name.empty()) {
      p.name = p.protocol + "-" + std::to_string(p.port);
      for (char& c : p.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    declared = declared || p.name == "metrics" || p.port == *svc.metricsPort;
  }
  if (!declared) ports.push_back({.name = "metrics", .port = *svc.metricsPort});
  return ports;
}

Json metadataFor(const EnvironmentSpec& env, const std::string& ns, const std::string& name,
                 bool withOwnership) {
  Json labels = Json::object();
  if (withOwnership) labels.update(ownershipLabels(env.name));
  return {{"name", name}, {"namespace", ns}, {"labels", labels}};
}

}  // namespace

Json desiredExternalNamespace(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", {{"name", name}, {"labels", {{kManagedByLabel, kManagedByValue}}}}}};
}

Json desiredExternalService(const EnvironmentSpec& env, const ExternalService& svc,
                            bool withOwnership) {
  Json ports = Json::array();
  for (const ServicePort& p : portsOf(svc)) {
    Json port = {{"port", p.port}, {"protocol", p.protocol}};
    if (!p.name.empty()) port["name"] = p.name;
    if (svc.hostname.empty()) port["targetPort"] = p.port;
    ports.push_back(port);
  }
  Json spec = Json::object();
  if (!svc.hostname.empty()) {
    spec = {{"type", "ExternalName"}, {"externalName", svc.hostname}};
  } else {
    spec = {{"type", "ClusterIP"}};  // no selector: the EndpointSlices below say where to go
  }
  if (!ports.empty()) spec["ports"] = ports;
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", metadataFor(env, env.externalServices->namespace_, svc.name, withOwnership)},
          {"spec", spec}};
}

std::vector<Json> desiredEndpointSlices(const EnvironmentSpec& env, const ExternalService& svc) {
  std::vector<Json> slices;
  if (svc.addresses.empty()) return slices;
  for (const char* family : {"IPv4", "IPv6"}) {
    Json endpoints = Json::array();
    for (const std::string& address : svc.addresses) {
      const bool v6 = address.find(':') != std::string::npos;
      if (v6 == (std::string(family) == "IPv6")) {
        endpoints.push_back({{"addresses", {address}}, {"conditions", {{"ready", true}}}});
      }
    }
    if (endpoints.empty()) continue;
    Json ports = Json::array();
    for (const ServicePort& p : portsOf(svc)) {
      Json port = {{"port", p.port}, {"protocol", p.protocol}};
      if (!p.name.empty()) port["name"] = p.name;
      ports.push_back(port);
    }
    Json metadata =
        metadataFor(env, env.externalServices->namespace_,
                    svc.name + "-" + (std::string(family) == "IPv4" ? "ipv4" : "ipv6"), true);
    metadata["labels"]["kubernetes.io/service-name"] = svc.name;
    // Not the endpointslice controller's value, so kube-controller-manager leaves it alone.
    metadata["labels"]["endpointslice.kubernetes.io/managed-by"] = "envop.io";
    slices.push_back({{"apiVersion", "discovery.k8s.io/v1"},
                      {"kind", "EndpointSlice"},
                      {"metadata", metadata},
                      {"addressType", family},
                      {"endpoints", endpoints},
                      {"ports", ports}});
  }
  return slices;
}

std::optional<Json> ExternalServicesPart::currentService(const std::string& ns,
                                                         const std::string& name) {
  if (const runtime::ObjectPtr live = applier_.live(res::services(), ns, name)) return *live;
  auto got = applier_.client().get(res::services(), ns, name);
  if (got) return got.value();
  return std::nullopt;
}

PartReport ExternalServicesPart::pass(const EnvironmentSpec& env, bool observeOnly) {
  PartReport report(kPartExternalServices);
  const bool declared = env.externalServices && !env.externalServices->services.empty();
  auto put = [&](const kube::Resource& r, const Json& desired) {
    if (observeOnly) {
      observeTracked(applier_, r, desired, report);
    } else {
      applyTracked(applier_, r, desired, report);
    }
  };
  std::set<std::string> wanted;  // "namespace/name" of every Service and slice we want
  if (declared) {
    const std::string& extNs = env.externalServices->namespace_;
    // The shared namespace is created if missing, labelled as envop's (but no one
    // Environment's), and never deleted: other Environments and people keep their own
    // things there, so envop takes none of its fields from another manager.
    if (observeOnly) {
      observeTracked(applier_, res::namespaces(), desiredExternalNamespace(extNs), report);
    } else {
      applyTracked(applier_, res::namespaces(), desiredExternalNamespace(extNs), report,
                   {.envopCreated = false});
    }
    if (report.state == State::kStalled || report.state == State::kFailed) return report;
    // Shared like the namespace: labelled as envop's, no one Environment's, never removed.
    if (rights_.enabled()) {
      const bool fresh = applier_.live(roleBindings(), extNs, kReleaseRightsBinding) == nullptr;
      put(roleBindings(), desiredReleaseRightsBinding(rights_, extNs, ""));
      if (report.state == State::kStalled || report.state == State::kFailed) return report;
      if (fresh && !observeOnly) awaitReleaseRights(applier_.client(), extNs);
    }
    for (const ExternalService& svc : env.externalServices->services) {
      const std::optional<Json> existing = currentService(extNs, svc.name);
      if (existing && ownerOf(*existing) != env.name) {
        const std::string owner = ownerOf(*existing);
        mark(report, State::kStalled, "ExternalServiceConflict",
             "Service " + extNs + "/" + svc.name + " already exists and belongs to " +
                 (owner.empty() ? std::string("someone else") : "Environment " + owner));
        continue;
      }
      put(res::services(), desiredExternalService(env, svc));
      wanted.insert(extNs + "/" + svc.name);
      for (const Json& slice : desiredEndpointSlices(env, svc)) {
        put(res::endpointSlices(), slice);
        wanted.insert(extNs + "/" + kube::nameOf(slice));
      }
    }
  }
  // Services and slices this Environment made and no longer declares.
  for (const kube::Resource* r : {&res::endpointSlices(), &res::services()}) {
    for (const runtime::ObjectPtr& object : applier_.ownedBy(*r, env.name)) {
      const std::string key = kube::namespaceOf(*object) + "/" + kube::nameOf(*object);
      if (wanted.count(key)) continue;
      if (observeOnly) {
        report.drift.push_back(describe(*r, *object) + " is no longer in the spec");
        continue;
      }
      const ApplyOutcome removed =
          applier_.remove(*r, kube::namespaceOf(*object), kube::nameOf(*object));
      if (removed.error) {
        mark(report, State::kFailed, "DeleteFailed",
             "removing " + describe(*r, *object) + ": " + removed.error->describe());
      }
    }
  }
  if (observeOnly) concludeObservation(report);
  // Nothing declared and, after a clean-up that went well, nothing left: no condition.
  if (!declared && report.state == State::kReady) {
    report.state = State::kNotConfigured;
  }
  return report;
}

PartReport ExternalServicesPart::finalize(const EnvironmentSpec& env, bool retain) {
  PartReport report(kPartExternalServices);
  for (const kube::Resource* r : {&res::endpointSlices(), &res::services()}) {
    for (const runtime::ObjectPtr& object : applier_.ownedBy(*r, env.name)) {
      // Retained ones stay for the workloads that remain, without envop's claim on them.
      const ApplyOutcome outcome =
          retain && env.externalServices
              ? applier_.disown(*r, kube::namespaceOf(*object), kube::nameOf(*object))
              : applier_.remove(*r, kube::namespaceOf(*object), kube::nameOf(*object));
      if (outcome.error) {
        mark(report, State::kFailed, "FinalizeFailed",
             describe(*r, *object) + ": " + outcome.error->describe());
      }
    }
  }
  if (!env.externalServices && report.state == State::kReady) {
    report.state = State::kNotConfigured;
  }
  return report;
}

}  // namespace envop::environment
