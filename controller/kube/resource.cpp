#include "controller/kube/resource.h"

#include <cctype>
#include <cstdio>

namespace envop::kube {

std::string Resource::path(const std::string& ns, const std::string& name,
                           const std::string& subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + plural;
  if (!name.empty()) {
    p += "/" + name;
    if (!subresource.empty()) p += "/" + subresource;
  }
  return p;
}

namespace resources {
const Resource& namespaces() {
  static const Resource r{"", "v1", "namespaces", "Namespace", false};
  return r;
}
const Resource& configMaps() {
  static const Resource r{"", "v1", "configmaps", "ConfigMap", true};
  return r;
}
const Resource& secrets() {
  static const Resource r{"", "v1", "secrets", "Secret", true};
  return r;
}
const Resource& services() {
  static const Resource r{"", "v1", "services", "Service", true};
  return r;
}
const Resource& serviceAccounts() {
  static const Resource r{"", "v1", "serviceaccounts", "ServiceAccount", true};
  return r;
}
const Resource& leases() {
  static const Resource r{"coordination.k8s.io", "v1", "leases", "Lease", true};
  return r;
}
const Resource& events() {
  static const Resource r{"events.k8s.io", "v1", "events", "Event", true};
  return r;
}
const Resource& customResourceDefinitions() {
  static const Resource r{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                          "CustomResourceDefinition", false};
  return r;
}
const Resource& resourceQuotas() {
  static const Resource r{"", "v1", "resourcequotas", "ResourceQuota", true};
  return r;
}
const Resource& limitRanges() {
  static const Resource r{"", "v1", "limitranges", "LimitRange", true};
  return r;
}
const Resource& networkPolicies() {
  static const Resource r{"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true};
  return r;
}
const Resource& pods() {
  static const Resource r{"", "v1", "pods", "Pod", true};
  return r;
}
const Resource& endpointSlices() {
  static const Resource r{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true};
  return r;
}
const Resource& deployments() {
  static const Resource r{"apps", "v1", "deployments", "Deployment", true};
  return r;
}
const Resource& statefulSets() {
  static const Resource r{"apps", "v1", "statefulsets", "StatefulSet", true};
  return r;
}
const Resource& daemonSets() {
  static const Resource r{"apps", "v1", "daemonsets", "DaemonSet", true};
  return r;
}
const Resource& persistentVolumeClaims() {
  static const Resource r{"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true};
  return r;
}
const Resource& cronJobs() {
  static const Resource r{"batch", "v1", "cronjobs", "CronJob", true};
  return r;
}
const Resource& jobs() {
  static const Resource r{"batch", "v1", "jobs", "Job", true};
  return r;
}
const Resource& podDisruptionBudgets() {
  static const Resource r{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true};
  return r;
}
const Resource& horizontalPodAutoscalers() {
  static const Resource r{"autoscaling", "v2", "horizontalpodautoscalers",
                          "HorizontalPodAutoscaler", true};
  return r;
}
const Resource& ingresses() {
  static const Resource r{"networking.k8s.io", "v1", "ingresses", "Ingress", true};
  return r;
}
}  // namespace resources

std::string urlEncode(const std::string& value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace envop::kube
