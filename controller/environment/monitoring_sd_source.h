// ServiceDiscoverySource answers /sd/prometheus: the HTTP SD groups of every Environment whose
// monitoring is published by HTTP SD (mode HTTPSD, or Auto without the Prometheus Operator's
// CRDs), or of the one `?environment=` names. Everything comes from the informer caches (the
// Environments, the Services, EndpointSlices and Pods of their namespaces, the CRDs), so a
// request costs no call to the API server.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "controller/environment/http_sd.h"
#include "controller/environment/monitoring_mode.h"
#include "controller/runtime/store.h"

namespace envop::environment {

class ServiceDiscoverySource final {
 public:
  ServiceDiscoverySource(runtime::StorePtr environments, runtime::StorePtr services,
                         runtime::StorePtr endpointSlices, runtime::StorePtr pods,
                         std::function<OperatorApis()> apis)
      : environments_(std::move(environments)),
        services_(std::move(services)),
        endpointSlices_(std::move(endpointSlices)),
        pods_(std::move(pods)),
        apis_(std::move(apis)) {}

  // A JSON array of groups; empty for an Environment that is unknown or not in HTTPSD mode.
  nlohmann::json groups(const std::optional<std::string>& environment) const;
  // The groups of one parsed Environment, whatever its mode (the monitoring part counts them).
  nlohmann::json groupsOf(const EnvironmentSpec& env) const;
  std::size_t targetCount(const EnvironmentSpec& env) const { return sdTargetCount(groupsOf(env)); }

 private:
  runtime::StorePtr environments_;
  runtime::StorePtr services_;
  runtime::StorePtr endpointSlices_;
  runtime::StorePtr pods_;
  std::function<OperatorApis()> apis_;
};

}  // namespace envop::environment
