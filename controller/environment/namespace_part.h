// The namespace part of an Environment: the stage's namespace (created or adopted
// as creationPolicy allows, with its labels and annotations) and its guardrails —
// ResourceQuota, LimitRange, and a NetworkPolicy for networkIsolation: Isolated.
// Everything is applied with envop's ownership labels; guardrails the spec no longer
// asks for are removed. Suspended, the same objects are only compared with the spec.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/environment/applier.h"
#include "controller/environment/part_report.h"
#include "controller/environment/release_rights.h"
#include "controller/environment/spec.h"

namespace envop::environment {

struct NamespaceReport : PartReport {
  NamespaceReport() : PartReport(kPartNamespace) {}
  // The namespace is there and this Environment's to use (created, adopted, or only its
  // guardrails failing): the releases may go ahead whatever the state says.
  bool usable = false;
  // Set by finalize once the namespace could be read: whether what envop made for the
  // Environment stays (Retain, an adopted namespace) rather than going with it.
  std::optional<bool> retain;
};

// Names of the guardrail objects envop puts in a stage's namespace.
inline constexpr const char* kQuotaName = "envop-quota";
inline constexpr const char* kLimitRangeName = "envop-limits";
inline constexpr const char* kNetworkPolicyName = "envop-isolation";

class NamespacePart final {
 public:
  // rights: bound in the stage namespace before anything is written into it (release_rights.h).
  explicit NamespacePart(Applier& applier, ReleaseRights rights = {})
      : applier_(applier), rights_(std::move(rights)) {}

  NamespaceReport reconcile(const EnvironmentSpec& env) { return pass(env, false); }
  // spec.suspend: the same checks and comparisons, reported (what is missing or changed,
  // what would be removed) and nothing written.
  NamespaceReport observe(const EnvironmentSpec& env) { return pass(env, true); }

  // On deletion. Retain: leave every object in place with envop's labels removed;
  // Delete: delete the namespace. Returns kReady once done, kProgressing while the
  // namespace is still terminating.
  NamespaceReport finalize(const EnvironmentSpec& env);
  // Once every part has let go of a retained namespace: envop's release rights there go
  // (a namespace that is deleted takes its binding with it), when the cache of envop's
  // RoleBindings has this Environment's there. An error message, or empty.
  std::string dropReleaseRights(const EnvironmentSpec& env);

 private:
  NamespaceReport pass(const EnvironmentSpec& env, bool observeOnly);
  // The namespace exactly as envop last applied it, while the cache has not shown it since;
  // nullopt otherwise.
  std::optional<kube::Json> appliedNamespace(const EnvironmentSpec& env) const;
  // The namespace as the API server has it (cache first), or nullopt when absent.
  std::optional<kube::Json> currentNamespace(const std::string& name, PartReport& report);

  Applier& applier_;
  ReleaseRights rights_;
};

// The desired objects, pure so that they can be checked without a cluster.
// adopted: the namespace existed before envop (it keeps a marker annotation).
kube::Json desiredNamespace(const EnvironmentSpec& env, bool adopted, bool withOwnership = true);
kube::Json desiredQuota(const EnvironmentSpec& env, bool withOwnership = true);
kube::Json desiredLimitRange(const EnvironmentSpec& env, bool withOwnership = true);
kube::Json desiredNetworkPolicy(const EnvironmentSpec& env, bool withOwnership = true);

}  // namespace envop::environment
