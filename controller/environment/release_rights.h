// Release rights: what helm needs to install a stage's charts, and what the parts write inside
// a stage's namespace (guardrails, the pull Secret, ServiceMonitors, ...), are granted to envop
// only where stages live. The chart's ClusterRole of those rights (--release-cluster-role) is
// never bound cluster-wide: envop binds it, by a RoleBinding for its own ServiceAccount, in
// each stage namespace it owns and in the shared `ext` namespace, right after it applied the
// namespace and before it writes anything into it. The binding goes with the namespace; a
// retained namespace loses it once envop has let go of everything in it.
//
// Unset (a development run with a cluster-admin kubeconfig), no binding is made.
#pragma once

#include <chrono>
#include <string>

#include "controller/kube/client.h"
#include "controller/kube/resource.h"

namespace envop::environment {

struct ReleaseRights {
  std::string clusterRole;              // empty: bind nothing
  std::string serviceAccountNamespace;  // envop's own ServiceAccount
  std::string serviceAccountName;
  bool enabled() const { return !clusterRole.empty(); }
};

// The RoleBinding's name in every namespace envop binds its release rights in. Fixed, so that
// the chart's ClusterRole may grant patch and delete of exactly this name.
inline constexpr const char* kReleaseRightsBinding = "envop-release-rights";

// rbac.authorization.k8s.io/v1 rolebindings.
const kube::Resource& roleBindings();

// The RoleBinding of `rights` in `ns`, labelled as envop's and, when `environment` is not empty,
// as that Environment's (a stage namespace; the shared `ext` one is no one Environment's).
kube::Json desiredReleaseRightsBinding(const ReleaseRights& rights, const std::string& ns,
                                       const std::string& environment);

// Waits, up to `limit`, until the API server's authorizer lets envop create Secrets in `ns` (what
// helm's release storage needs under any release role), asked by SelfSubjectAccessReview: a new
// RoleBinding takes a moment to reach the authorizer, and a write into the namespace before
// that is refused. False when the answer stayed no, or could not be had.
bool awaitReleaseRights(kube::Client& client, const std::string& ns,
                        std::chrono::milliseconds limit = std::chrono::seconds(5));

}  // namespace envop::environment
