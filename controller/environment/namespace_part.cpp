#include "controller/environment/namespace_part.h"

#include <set>

namespace envop::environment {
namespace {

namespace res = kube::resources;
using kube::Json;
using State = PartOutcome::State;

Json labelsFor(const EnvironmentSpec& env, Json base, bool withOwnership) {
  if (!base.is_object()) base = Json::object();
  if (withOwnership) base.update(ownershipLabels(env.name));
  return base;
}

Json metadataFor(const EnvironmentSpec& env, const std::string& ns, const std::string& name,
                 bool withOwnership) {
  return {{"name", name}, {"namespace", ns}, {"labels", labelsFor(env, {}, withOwnership)}};
}

void mark(PartReport& report, State state, std::string reason, std::string message) {
  // The worst finding wins: Stalled > Failed > Progressing > Ready (the enum's order).
  if (static_cast<int>(state) <= static_cast<int>(report.state)) return;
  report.state = state;
  report.reason = std::move(reason);
  report.message = std::move(message);
}

std::string describe(const kube::Resource& r, const Json& object) {
  const std::string ns = kube::namespaceOf(object);
  return r.kind + " " + (ns.empty() ? "" : ns + "/") + kube::nameOf(object);
}

}  // namespace

Json desiredNamespace(const EnvironmentSpec& env, bool adopted, bool withOwnership) {
  Json annotations = env.namespace_.annotations;
  if (adopted) annotations[kAdoptedAnnotation] = "true";
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata",
           {{"name", env.namespace_.name},
            {"labels", labelsFor(env, env.namespace_.labels, withOwnership)},
            {"annotations", annotations}}}};
}

Json desiredExternalNamespace(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", {{"name", name}, {"labels", {{kManagedByLabel, kManagedByValue}}}}}};
}

Json desiredQuota(const EnvironmentSpec& env, bool withOwnership) {
  return {{"apiVersion", "v1"},
          {"kind", "ResourceQuota"},
          {"metadata", metadataFor(env, env.namespace_.name, kQuotaName, withOwnership)},
          {"spec", {{"hard", env.namespace_.resourceQuotaHard.value_or(Json::object())}}}};
}

Json desiredLimitRange(const EnvironmentSpec& env, bool withOwnership) {
  Json item = env.namespace_.limitRange.value_or(Json::object());
  item["type"] = "Container";
  return {{"apiVersion", "v1"},
          {"kind", "LimitRange"},
          {"metadata", metadataFor(env, env.namespace_.name, kLimitRangeName, withOwnership)},
          {"spec", {{"limits", Json::array({item})}}}};
}

Json desiredNetworkPolicy(const EnvironmentSpec& env, bool withOwnership) {
  // Default-deny ingress, except from pods of the same namespace and from namespaces
  // that run monitoring (labelled envop.io/monitoring=true), so Prometheus still scrapes.
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", metadataFor(env, env.namespace_.name, kNetworkPolicyName, withOwnership)},
          {"spec",
           {{"podSelector", Json::object()},
            {"policyTypes", {"Ingress"}},
            {"ingress",
             {{{"from",
                {{{"podSelector", Json::object()}},
                 {{"namespaceSelector", {{"matchLabels", {{kMonitoringLabel, "true"}}}}}}}}}}}}}};
}

Json desiredExternalService(const EnvironmentSpec& env, const ExternalService& svc,
                            bool withOwnership) {
  Json ports = Json::array();
  for (const ServicePort& p : svc.ports) {
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
    for (const ServicePort& p : svc.ports) {
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

void NamespacePart::applyTracked(const kube::Resource& r, const Json& desired, PartReport& report,
                                 ApplyOptions options) {
  const ApplyOutcome outcome = applier_.apply(r, desired, options);
  if (!outcome.conflicts.empty()) {
    // Not envop's to take: the owner (a human, another tool) has to give the field up.
    mark(report, State::kStalled, "FieldConflict",
         describe(r, desired) + ": " + describeConflicts(outcome.conflicts) +
             "; envop does not take fields another manager owns");
    return;
  }
  if (outcome.error) {
    const kube::ApiError& e = *outcome.error;
    mark(report, e.isInvalid() || e.isForbidden() ? State::kStalled : State::kFailed, "ApplyFailed",
         "applying " + describe(r, desired) + ": " + e.describe());
    return;
  }
  if (outcome.repairedDrift) report.repaired.push_back(describe(r, desired));
}

std::optional<Json> NamespacePart::currentNamespace(const std::string& name, PartReport& report) {
  if (auto cached = applier_.live(res::namespaces(), "", name)) return *cached;
  auto got = applier_.client().get(res::namespaces(), "", name);
  if (got) return got.value();
  if (!got.error().isNotFound()) {
    mark(report, State::kFailed, "NamespaceUnreadable",
         "reading namespace " + name + ": " + got.error().describe());
  }
  return std::nullopt;
}

PartReport NamespacePart::reconcile(const EnvironmentSpec& env) {
  PartReport report;
  const NamespaceSpec& ns = env.namespace_;
  const std::optional<Json> existing = currentNamespace(ns.name, report);
  if (report.state != State::kReady) return report;

  bool adopted = false;
  if (existing) {
    const std::string owner = ownerOf(*existing);
    const Json annotations =
        existing->value("metadata", Json::object()).value("annotations", Json::object());
    adopted = annotations.value(kAdoptedAnnotation, "") == "true";
    if (!owner.empty() && owner != env.name) {
      mark(report, State::kStalled, "NamespaceOwnedByAnother",
           "namespace " + ns.name + " belongs to Environment " + owner);
      return report;
    }
    if (owner.empty()) {
      if (ns.creationPolicy == CreationPolicy::kCreate) {
        mark(report, State::kStalled, "NamespaceExists",
             "namespace " + ns.name +
                 " already exists and spec.namespace.creationPolicy is Create; set it to Adopt "
                 "or CreateOrAdopt to take it over");
        return report;
      }
      adopted = true;
    }
    if (existing->value("status", Json::object()).value("phase", "") == "Terminating") {
      mark(report, State::kProgressing, "NamespaceTerminating",
           "namespace " + ns.name + " is being deleted; waiting to create it again");
      return report;
    }
  } else if (ns.creationPolicy == CreationPolicy::kAdopt) {
    mark(report, State::kStalled, "NamespaceNotFound",
         "namespace " + ns.name +
             " does not exist and spec.namespace.creationPolicy is Adopt; create it or set "
             "the policy to Create or CreateOrAdopt");
    return report;
  }

  // A namespace envop adopted keeps the fields its earlier owners set.
  applyTracked(res::namespaces(), desiredNamespace(env, adopted), report,
               {.envopCreated = !adopted});
  if (report.state == State::kStalled || report.state == State::kFailed) return report;

  struct Guardrail {
    const kube::Resource& resource;
    const char* name;
    bool wanted;
    Json desired;
  };
  const Guardrail guardrails[] = {
      {res::resourceQuotas(), kQuotaName, ns.resourceQuotaHard.has_value(),
       ns.resourceQuotaHard ? desiredQuota(env) : Json()},
      {res::limitRanges(), kLimitRangeName, ns.limitRange.has_value(),
       ns.limitRange ? desiredLimitRange(env) : Json()},
      {res::networkPolicies(), kNetworkPolicyName, ns.isolated,
       ns.isolated ? desiredNetworkPolicy(env) : Json()},
  };
  for (const Guardrail& g : guardrails) {
    if (g.wanted) {
      applyTracked(g.resource, g.desired, report);
      continue;
    }
    // No longer asked for: remove the one envop made, and only that.
    for (const runtime::ObjectPtr& stale : applier_.ownedBy(g.resource, env.name)) {
      const ApplyOutcome removed =
          applier_.remove(g.resource, kube::namespaceOf(*stale), kube::nameOf(*stale));
      if (removed.error) {
        mark(report, State::kFailed, "DeleteFailed",
             "removing " + describe(g.resource, *stale) + ": " + removed.error->describe());
      }
    }
  }

  const PartReport ext = reconcileExternalServices(env);
  mark(report, ext.state, ext.reason, ext.message);
  report.repaired.insert(report.repaired.end(), ext.repaired.begin(), ext.repaired.end());
  return report;
}

PartReport NamespacePart::reconcileExternalServices(const EnvironmentSpec& env) {
  PartReport report;
  std::set<std::string> wanted;  // "namespace/name" of every Service and slice we want
  if (env.externalServices && !env.externalServices->services.empty()) {
    const std::string& extNs = env.externalServices->namespace_;
    // The shared namespace is created if missing, labelled as envop's (but no one
    // Environment's), and never deleted: other Environments and people keep their own
    // things there, so envop takes none of its fields from another manager.
    applyTracked(res::namespaces(), desiredExternalNamespace(extNs), report,
                 {.envopCreated = false});
    if (report.state == State::kStalled || report.state == State::kFailed) return report;
    for (const ExternalService& svc : env.externalServices->services) {
      const runtime::ObjectPtr live = applier_.live(res::services(), extNs, svc.name);
      std::optional<Json> existing = live ? std::optional<Json>(*live) : std::nullopt;
      if (!existing) {
        auto got = applier_.client().get(res::services(), extNs, svc.name);
        if (got) existing = got.value();
      }
      if (existing && ownerOf(*existing) != env.name) {
        const std::string owner = ownerOf(*existing);
        mark(report, State::kStalled, "ExternalServiceConflict",
             "Service " + extNs + "/" + svc.name + " already exists and belongs to " +
                 (owner.empty() ? std::string("someone else") : "Environment " + owner));
        continue;
      }
      const Json service = desiredExternalService(env, svc);
      applyTracked(res::services(), service, report);
      wanted.insert(extNs + "/" + svc.name);
      for (const Json& slice : desiredEndpointSlices(env, svc)) {
        applyTracked(res::endpointSlices(), slice, report);
        wanted.insert(extNs + "/" + kube::nameOf(slice));
      }
    }
  }
  // Services and slices this Environment made and no longer declares.
  for (const kube::Resource* r : {&res::endpointSlices(), &res::services()}) {
    for (const runtime::ObjectPtr& object : applier_.ownedBy(*r, env.name)) {
      const std::string key = kube::namespaceOf(*object) + "/" + kube::nameOf(*object);
      if (wanted.count(key)) continue;
      const ApplyOutcome removed =
          applier_.remove(*r, kube::namespaceOf(*object), kube::nameOf(*object));
      if (removed.error) {
        mark(report, State::kFailed, "DeleteFailed",
             "removing " + describe(*r, *object) + ": " + removed.error->describe());
      }
    }
  }
  return report;
}

PartReport NamespacePart::finalizeExternalServices(const EnvironmentSpec& env, bool retain) {
  PartReport report;
  for (const kube::Resource* r : {&res::endpointSlices(), &res::services()}) {
    for (const runtime::ObjectPtr& object : applier_.ownedBy(*r, env.name)) {
      ApplyOutcome outcome;
      // Retained ones stay for the workloads that remain, without envop's claim on them.
      outcome = retain && env.externalServices
                    ? applier_.disown(*r, kube::namespaceOf(*object), kube::nameOf(*object))
                    : applier_.remove(*r, kube::namespaceOf(*object), kube::nameOf(*object));
      if (outcome.error) {
        mark(report, State::kFailed, "FinalizeFailed",
             describe(*r, *object) + ": " + outcome.error->describe());
      }
    }
  }
  return report;
}

PartReport NamespacePart::finalize(const EnvironmentSpec& env) {
  PartReport report;
  const NamespaceSpec& ns = env.namespace_;
  const std::optional<Json> existing = currentNamespace(ns.name, report);
  if (report.state != State::kReady) return report;
  const bool ours = existing && ownedBy(*existing, env.name);
  const bool adopted = existing && existing->value("metadata", Json::object())
                                           .value("annotations", Json::object())
                                           .value(kAdoptedAnnotation, "") == "true";
  const bool remove =
      ns.deletionPolicy == DeletionPolicy::kDelete && (!adopted || ns.deletionPolicyExplicit);

  const PartReport ext = finalizeExternalServices(env, !remove);
  mark(report, ext.state, ext.reason, ext.message);

  if (!existing || !ours) return report;  // gone already, or never ours to touch
  if (remove) {
    if (existing->value("status", Json::object()).value("phase", "") != "Terminating") {
      const ApplyOutcome removed = applier_.remove(res::namespaces(), "", ns.name);
      if (removed.error) {
        mark(report, State::kFailed, "FinalizeFailed",
             "deleting namespace " + ns.name + ": " + removed.error->describe());
        return report;
      }
    }
    // The namespace controller is emptying it; the Environment goes when it has.
    mark(report, State::kProgressing, "NamespaceTerminating",
         "waiting for namespace " + ns.name + " to be deleted");
    return report;
  }
  // Retain: everything stays, without envop's ownership labels.
  for (const kube::Resource* r :
       {&res::resourceQuotas(), &res::limitRanges(), &res::networkPolicies()}) {
    for (const runtime::ObjectPtr& object : applier_.ownedBy(*r, env.name)) {
      const ApplyOutcome disowned =
          applier_.disown(*r, kube::namespaceOf(*object), kube::nameOf(*object));
      if (disowned.error) {
        mark(report, State::kFailed, "FinalizeFailed",
             describe(*r, *object) + ": " + disowned.error->describe());
      }
    }
  }
  const ApplyOutcome disowned = applier_.disown(res::namespaces(), "", ns.name);
  if (disowned.error) {
    mark(report, State::kFailed, "FinalizeFailed",
         "namespace " + ns.name + ": " + disowned.error->describe());
  }
  return report;
}

}  // namespace envop::environment
