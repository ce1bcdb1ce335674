// The actions of the releases part, one per thing Helm is asked to do, after Flux
// helm-controller's one-file-per-action layout. Each runs one helm command for one release
// and says what came of it; none decides anything (release_state decides) and none reads
// the cluster (the part observes again on its next pass).
//   release_apply.cpp      install, upgrade, repair — `helm upgrade --install`
//   release_unlock.cpp     a pending-* lock left by a helm that can no longer be running
//   release_rollback.cpp   remediation: back to the previous revision
//   release_uninstall.cpp  remediation, and releases removed from the spec
#pragma once

#include <string>

#include "controller/environment/release_state.h"
#include "controller/helm/helm_driver.h"

namespace envop::environment {

struct ReleaseTarget {
  std::string name;
  std::string ns;
  helm::ChartRef chart;
  nlohmann::json values = nlohmann::json::object();
  helm::UpgradeOptions options;
};

struct ActionOutcome {
  bool ok = false;
  bool timedOut = false;
  int revision = 0;       // the revision the action left (0: none / unknown)
  std::string status;     // helm's status of it, when known
  std::string chartName;  // for install/upgrade/repair
  std::string chartVersion;
  std::string message;  // helm's redacted error, or what was done
};

// install / upgrade / repair: one `helm upgrade --install` of the desired chart and values.
ActionOutcome applyRelease(helm::HelmDriver& helm, const ReleaseTarget& target);
// pending-install: uninstall what the killed helm left; pending-upgrade/-rollback: roll
// back to the revision before it.
ActionOutcome unlockRelease(helm::HelmDriver& helm, const std::string& name, const std::string& ns,
                            const StoredRelease& locked);
ActionOutcome rollbackRelease(helm::HelmDriver& helm, const std::string& name,
                              const std::string& ns);
ActionOutcome uninstallRelease(helm::HelmDriver& helm, const std::string& name,
                               const std::string& ns);

}  // namespace envop::environment
