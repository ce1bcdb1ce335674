// The namespace part of an Environment: the stage's namespace (created or adopted
// as creationPolicy allows, with its labels and annotations) and its guardrails —
// ResourceQuota, LimitRange, and a NetworkPolicy for networkIsolation: Isolated —
// plus the external-service endpoints the stage reaches. Everything is applied with
// envop's ownership labels; guardrails the spec no longer asks for are removed.
#pragma once

#include <string>
#include <vector>

#include "controller/environment/applier.h"
#include "controller/environment/spec.h"
#include "controller/environment/status.h"

namespace envop::environment {

// What one pass over a part found (its outcome for the conditions) and did.
struct PartReport : PartOutcome {
  PartReport() {
    part = std::string(kPartNamespace);
    state = State::kReady;
  }
  std::vector<std::string> repaired;  // "ResourceQuota pro/envop-quota", for events
};

// Names of the guardrail objects envop puts in a stage's namespace.
inline constexpr const char* kQuotaName = "envop-quota";
inline constexpr const char* kLimitRangeName = "envop-limits";
inline constexpr const char* kNetworkPolicyName = "envop-isolation";

class NamespacePart final {
 public:
  explicit NamespacePart(Applier& applier) : applier_(applier) {}

  PartReport reconcile(const EnvironmentSpec& env);

  // On deletion. Retain: leave every object in place with envop's labels removed;
  // Delete: delete the namespace. Returns kReady once done, kProgressing while the
  // namespace is still terminating.
  PartReport finalize(const EnvironmentSpec& env);

 private:
  PartReport reconcileExternalServices(const EnvironmentSpec& env);
  PartReport finalizeExternalServices(const EnvironmentSpec& env, bool retain);
  // The namespace as the API server has it (cache first), or nullopt when absent.
  std::optional<kube::Json> currentNamespace(const std::string& name, PartReport& report);
  void applyTracked(const kube::Resource& r, const kube::Json& desired, PartReport& report,
                    ApplyOptions options = {});

  Applier& applier_;
};

// The desired objects, pure so that they can be checked without a cluster.
// adopted: the namespace existed before envop (it keeps a marker annotation).
kube::Json desiredNamespace(const EnvironmentSpec& env, bool adopted, bool withOwnership = true);
// The shared namespace of external services: labelled as envop's, but no one Environment's.
kube::Json desiredExternalNamespace(const std::string& name);
kube::Json desiredQuota(const EnvironmentSpec& env, bool withOwnership = true);
kube::Json desiredLimitRange(const EnvironmentSpec& env, bool withOwnership = true);
kube::Json desiredNetworkPolicy(const EnvironmentSpec& env, bool withOwnership = true);
kube::Json desiredExternalService(const EnvironmentSpec& env, const ExternalService& svc,
                                  bool withOwnership = true);
// One slice per address family; none for an ExternalName service.
std::vector<kube::Json> desiredEndpointSlices(const EnvironmentSpec& env,
                                              const ExternalService& svc);

}  // namespace envop::environment
