#include "controller/environment/release_actions.h"

namespace envop::environment {

ActionOutcome uninstallRelease(helm::HelmDriver& helm, const std::string& name,
                               const std::string& ns) {
  const helm::HelmResult gone = helm.uninstall(name, ns);
  const bool ok = gone.ok || gone.releaseNotFound;
  return {.ok = ok,
          .timedOut = gone.timedOut,
          .message = ok ? "uninstalled" : "uninstall failed: " + gone.message()};
}

}  // namespace envop::environment
