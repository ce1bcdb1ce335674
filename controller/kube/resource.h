// Resource names a kind of Kubernetes object the way the REST API addresses it
// (group, version, plural, namespaced) and builds its URL paths.
#pragma once

#include <string>

namespace envop::kube {

struct Resource {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = true;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }

  // /api/v1/namespaces/NS/PLURAL[/NAME[/SUB]], or the cluster-wide collection when ns is
  // empty (for a namespaced resource: across all namespaces).
  std::string path(const std::string& ns = "", const std::string& name = "",
                   const std::string& subresource = "") const;
};

// The resources envop's runtime itself needs.
namespace resources {
const Resource& namespaces();
const Resource& configMaps();
const Resource& secrets();
const Resource& services();
const Resource& serviceAccounts();
const Resource& leases();
const Resource& events();
const Resource& customResourceDefinitions();
const Resource& resourceQuotas();
const Resource& limitRanges();
const Resource& networkPolicies();
const Resource& endpointSlices();
const Resource& pods();
const Resource& deployments();
const Resource& statefulSets();
const Resource& daemonSets();
const Resource& persistentVolumeClaims();
const Resource& cronJobs();
const Resource& ingresses();
const Resource& jobs();
const Resource& podDisruptionBudgets();
const Resource& horizontalPodAutoscalers();
}  // namespace resources

// Percent-encodes a query parameter value.
std::string urlEncode(const std::string& value);

}  // namespace envop::kube
