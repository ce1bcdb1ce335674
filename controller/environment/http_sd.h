// The target groups of Prometheus HTTP service discovery (http_sd_configs) for one
// Environment, built from cached objects: the endpoints (EndpointSlices) of the Services a
// Service target selects, the Pods a Pod target selects, and the metrics ports of the
// Environment's external services. Each group is
//   {"targets": ["10.0.0.5:8080"], "labels": {"environment", "stage", "namespace",
//    "service" | "pod", "__metrics_path__", "__scrape_interval__"}}.
// Pure, so that what /sd/prometheus serves is checked without a cluster or a socket.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/environment/spec.h"
#include "controller/runtime/store.h"

namespace envop::environment {

// What the caches hold; objects of other namespaces are ignored.
struct SdObjects {
  std::vector<runtime::ObjectPtr> services;  // metadata (labels) is enough
  std::vector<runtime::ObjectPtr> endpointSlices;
  std::vector<runtime::ObjectPtr> pods;
};

// Groups of equal labels, ordered by labels; targets ordered within a group. Endpoints that are
// not ready, Pods without an IP or not Running, and ports that are not found are left out.
nlohmann::json sdGroups(const EnvironmentSpec& env, const SdObjects& objects);

// The number of targets in groups.
std::size_t sdTargetCount(const nlohmann::json& groups);

// Transforms for the informers that feed sdGroups: what it reads, nothing more, so that a
// cluster's Pods and EndpointSlices cost little memory.
void slimPodForServiceDiscovery(nlohmann::json& pod);
void slimEndpointSliceForServiceDiscovery(nlohmann::json& slice);

}  // namespace envop::environment
