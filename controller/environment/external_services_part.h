// The external-services part of an Environment: Services (ClusterIP without a selector,
// with EndpointSlices of the declared addresses, or ExternalName for a hostname) in the
// shared `ext` namespace, through which a stage reaches middleware that lives outside the
// cluster. A part of its own, so that a clash there (another Environment declaring the same
// Service) is reported as ExternalServicesReady and stops neither the stage's namespace nor
// its releases. envop deletes only the Services and slices it made there, never the namespace.
#pragma once

#include <utility>
#include <vector>

#include "controller/environment/applier.h"
#include "controller/environment/part_report.h"
#include "controller/environment/release_rights.h"
#include "controller/environment/spec.h"

namespace envop::environment {

class ExternalServicesPart final {
 public:
  // rights: bound in the `ext` namespace before a Service is written there (release_rights.h).
  explicit ExternalServicesPart(Applier& applier, ReleaseRights rights = {})
      : applier_(applier), rights_(std::move(rights)) {}

  // kNotConfigured when the spec declares none and none of the Environment's are left.
  PartReport reconcile(const EnvironmentSpec& env) { return pass(env, false); }
  // spec.suspend: compared with the spec and reported; nothing written.
  PartReport observe(const EnvironmentSpec& env) { return pass(env, true); }
  // On deletion: retain leaves the Services and slices in place without envop's labels
  // (for the workloads a retained namespace keeps); otherwise they are deleted.
  PartReport finalize(const EnvironmentSpec& env, bool retain);

 private:
  PartReport pass(const EnvironmentSpec& env, bool observeOnly);
  // The Service as it is, or nullopt when there is none or it could not be read.
  std::optional<kube::Json> currentService(const std::string& ns, const std::string& name);

  Applier& applier_;
  ReleaseRights rights_;
};

// The desired objects, pure so that they can be checked without a cluster.
// The shared namespace of external services: labelled as envop's, but no one Environment's.
kube::Json desiredExternalNamespace(const std::string& name);
kube::Json desiredExternalService(const EnvironmentSpec& env, const ExternalService& svc,
                                  bool withOwnership = true);
// One slice per address family; none for an ExternalName service.
std::vector<kube::Json> desiredEndpointSlices(const EnvironmentSpec& env,
                                              const ExternalService& svc);

}  // namespace envop::environment
