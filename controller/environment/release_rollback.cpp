#include "controller/environment/release_actions.h"

namespace envop::environment {

ActionOutcome rollbackRelease(helm::HelmDriver& helm, const std::string& name,
                              const std::string& ns) {
  const helm::HelmResult back = helm.rollback(name, ns, 0);  // 0: the previous revision
  return {.ok = back.ok,
          .timedOut = back.timedOut,
          .message = back.ok ? "rolled back to the previous revision"
                             : "rollback failed: " + back.message()};
}

}  // namespace envop::environment
