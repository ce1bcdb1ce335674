#include "controller/environment/release_actions.h"

namespace envop::environment {

ActionOutcome applyRelease(helm::HelmDriver& helm, const ReleaseTarget& target) {
  auto upgraded =
      helm.upgradeInstall(target.name, target.ns, target.chart, target.values, target.options);
  ActionOutcome out{.ok = upgraded.ok(), .timedOut = upgraded.result.timedOut};
  if (!upgraded.ok()) {
    out.message = upgraded.result.message();
    return out;
  }
  out.revision = upgraded.value.revision;
  out.status = upgraded.value.status.empty() ? "deployed" : upgraded.value.status;
  out.chartName = upgraded.value.chartName;
  out.chartVersion = upgraded.value.chartVersion;
  return out;
}

}  // namespace envop::environment
