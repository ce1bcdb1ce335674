#include "controller/environment/release_actions.h"

namespace envop::environment {

ActionOutcome unlockRelease(helm::HelmDriver& helm, const std::string& name, const std::string& ns,
                            const StoredRelease& locked) {
  // A first install that never finished has nothing to go back to.
  const bool install = locked.status == "pending-install" || locked.revision <= 1;
  const helm::HelmResult undone =
      install ? helm.uninstall(name, ns) : helm.rollback(name, ns, locked.revision - 1);
  ActionOutcome out{.ok = undone.ok || (install && undone.releaseNotFound),
                    .timedOut = undone.timedOut};
  out.message =
      "release " + name + " was left " + locked.status + " at revision " +
      std::to_string(locked.revision) + " by a helm that is no longer running; " +
      (out.ok ? (install ? "uninstalled it"
                         : "rolled back to revision " + std::to_string(locked.revision - 1))
              : "recovery failed: " + undone.message());
  return out;
}

}  // namespace envop::environment
