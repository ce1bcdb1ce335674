// The Environments' own state as metrics, for dashboards and alerts that see every stage at once
// (kubectl shows one object at a time): envop_environment_phase{environment,stage,phase} is 1 for
// the phase status.phase holds and 0 for the others, every phase present so that
// `sum by (stage) (envop_environment_phase{phase="Degraded"})` is 0, not absent, on a healthy
// cluster; envop_environment_condition{environment,stage,type} is 1 (True), 0 (False) or -1
// (Unknown) per condition the status lists. An Environment that is gone leaves no series behind.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace envop::environment {

// Sets the phase and condition series of one Environment from the status envop computed for it.
void recordEnvironmentStatus(const std::string& environment, const std::string& stage,
                             const nlohmann::json& status);

// Removes every series of an Environment that no longer exists.
void forgetEnvironmentStatus(const std::string& environment);

}  // namespace envop::environment
