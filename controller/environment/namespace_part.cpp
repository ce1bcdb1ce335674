#include "controller/environment/namespace_part.h"

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

}  // namespace

Json desiredNamespace(const EnvironmentSpec& env, bool adopted, bool withOwnership) {
  Json annotations = env.namespace_.annotations;
  if (adopted) annotations[kAdoptedAnnotation] = "true";
  Json metadata = {{"name", env.namespace_.name},
                   {"labels", labelsFor(env, env.namespace_.labels, withOwnership)}};
  // Only when there are some: applying an empty map makes envop own `annotations` as a whole,
  // so that anyone's annotation (kubectl annotate) changed envop's fields and was "repaired"
  // with an apply and a DriftRepaired event. Leaving it out still removes annotations envop
  // applied before (server-side apply drops what its manager no longer sends).
  if (annotations.is_object() && !annotations.empty()) metadata["annotations"] = annotations;
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", metadata}};
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

std::optional<Json> NamespacePart::appliedNamespace(const EnvironmentSpec& env) const {
  for (const bool adopted : {false, true}) {
    Json desired = desiredNamespace(env, adopted);
    if (applier_.awaitingCache(res::namespaces(), desired)) return desired;
  }
  return std::nullopt;
}

NamespaceReport NamespacePart::pass(const EnvironmentSpec& env, bool observeOnly) {
  NamespaceReport report;
  const NamespaceSpec& ns = env.namespace_;
  // Right after envop applied the namespace, the cache is often behind (a new Environment is
  // reconciled again for its own finalizer and status writes before the namespace's event
  // arrives): what envop applied is what the namespace is, and asking the API server again,
  // once per such reconcile, would only say so.
  std::optional<Json> existing = appliedNamespace(env);
  if (!existing) existing = currentNamespace(ns.name, report);
  if (report.state != State::kReady) return report;
  auto put = [&](const kube::Resource& r, const Json& desired, ApplyOptions options = {}) {
    if (observeOnly) {
      observeTracked(applier_, r, desired, report);
    } else {
      applyTracked(applier_, r, desired, report, options);
    }
  };

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
           "namespace " + ns.name + " is being deleted" +
               (observeOnly ? "" : "; waiting to create it again"));
      return report;
    }
  } else if (ns.creationPolicy == CreationPolicy::kAdopt) {
    mark(report, State::kStalled, "NamespaceNotFound",
         "namespace " + ns.name +
             " does not exist and spec.namespace.creationPolicy is Adopt; create it or set "
             "the policy to Create or CreateOrAdopt");
    return report;
  } else if (observeOnly) {
    // Nothing in it to look at either.
    report.drift.push_back("Namespace " + ns.name + " is missing");
    concludeObservation(report);
    return report;
  }

  // A namespace envop adopted keeps the fields its earlier owners set.
  put(res::namespaces(), desiredNamespace(env, adopted), {.envopCreated = !adopted});
  // Releases need only the namespace itself: a label envop could not set on it, or a
  // guardrail that fails below, degrades the stage without stopping its workloads.
  report.usable = existing.has_value() || report.state == State::kReady;
  if (report.state == State::kStalled || report.state == State::kFailed) return report;
  // envop's rights in the namespace, before it (or helm) writes anything there: without the
  // binding every write below and every helm run would be refused.
  if (rights_.enabled()) {
    const bool fresh = applier_.live(roleBindings(), ns.name, kReleaseRightsBinding) == nullptr;
    put(roleBindings(), desiredReleaseRightsBinding(rights_, ns.name, env.name));
    if (report.state == State::kStalled || report.state == State::kFailed) {
      report.usable = false;
      return report;
    }
    // A binding just made is not yet known to the authorizer: the writes below would be refused.
    if (fresh && !observeOnly) awaitReleaseRights(applier_.client(), ns.name);
  }

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
      put(g.resource, g.desired);
      continue;
    }
    // No longer asked for: remove the one envop made, and only that.
    for (const runtime::ObjectPtr& stale : applier_.ownedBy(g.resource, env.name)) {
      if (observeOnly) {
        report.drift.push_back(describe(g.resource, *stale) + " is no longer in the spec");
        continue;
      }
      const ApplyOutcome removed =
          applier_.remove(g.resource, kube::namespaceOf(*stale), kube::nameOf(*stale));
      if (removed.error) {
        mark(report, State::kFailed, "DeleteFailed",
             "removing " + describe(g.resource, *stale) + ": " + removed.error->describe());
      }
    }
  }
  if (observeOnly) concludeObservation(report);
  return report;
}

std::string NamespacePart::dropReleaseRights(const EnvironmentSpec& env) {
  if (!rights_.enabled()) return "";
  // Only this Environment's: a namespace of another Environment keeps the binding it needs.
  // Read from the cache of envop's RoleBindings (every one envop made is in it), so that envop
  // needs no right to read RoleBindings one by one.
  const runtime::ObjectPtr cached =
      applier_.live(roleBindings(), env.namespace_.name, kReleaseRightsBinding);
  if (cached == nullptr) return "";
  const kube::Json& binding = *cached;
  if (ownerOf(binding) != env.name) return "";
  const ApplyOutcome removed =
      applier_.remove(roleBindings(), env.namespace_.name, kReleaseRightsBinding);
  if (!removed.error) return "";
  return "removing RoleBinding " + env.namespace_.name + "/" + kReleaseRightsBinding + ": " +
         removed.error->describe();
}

NamespaceReport NamespacePart::finalize(const EnvironmentSpec& env) {
  NamespaceReport report;
  const NamespaceSpec& ns = env.namespace_;
  const std::optional<Json> existing = currentNamespace(ns.name, report);
  if (report.state != State::kReady) return report;
  const bool ours = existing && ownedBy(*existing, env.name);
  const bool adopted = existing && existing->value("metadata", Json::object())
                                           .value("annotations", Json::object())
                                           .value(kAdoptedAnnotation, "") == "true";
  const bool remove =
      ns.deletionPolicy == DeletionPolicy::kDelete && (!adopted || ns.deletionPolicyExplicit);

  report.retain = !remove;

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
