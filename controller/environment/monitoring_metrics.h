// The per-Environment gauges that envop's system alerts read (alert_rules.h), from what the
// Environment's status says:
//   envop_release_failed{environment,release}            1 while the release's status is failed
//   envop_pull_secret_expiry_timestamp_seconds{environment}  status.registry.secretExpiresAt
// kube-state-metrics knows neither a Helm release nor Harbor's robot, so envop exports them.
// Set by the reconciler on the leader (a standby exports none), removed with the Environment.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace envop::environment {

struct EnvironmentSignals {
  std::vector<std::pair<std::string, bool>> releaseFailed;  // release name, failed
  std::optional<double> pullSecretExpiresAt;                // seconds since the epoch
  bool operator==(const EnvironmentSignals&) const = default;
};

// From a status (status.releases[].{name,status}, status.registry.secretExpiresAt).
EnvironmentSignals signalsFrom(const nlohmann::json& status);

// Sets the gauges of one Environment to `signals`, removing the series of releases it no
// longer has. Thread-safe.
void recordEnvironmentSignals(const std::string& environment, const EnvironmentSignals& signals);
void forgetEnvironmentSignals(const std::string& environment);

}  // namespace envop::environment
