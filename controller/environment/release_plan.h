// ReleasePlan is the dependsOn graph of an Environment's releases, checked once: every
// dependency names a release, and there is no cycle (a cycle is a terminal error that names it,
// e.g. "dependsOn cycle: a -> b -> c -> a", meaning a depends on b, b on c, c on a). Given what
// is deployed, in flight and failed, the plan says which releases may run now — independent
// releases proceed in parallel, a release waits for its dependencies to be deployed and Ready —
// and why the others wait. Pure: the reconciler supplies the state, the plan decides.
#pragma once

#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "controller/environment/release_spec.h"

namespace envop::environment {

// Why a release cannot run yet: one direct dependency that is not deployed and Ready.
struct Blocker {
  std::string dependency;
  // The failed release behind it: the dependency itself, or a release it transitively waits
  // on; "" when the dependency is merely not there yet and no failure is in the way.
  std::string failed;

  bool operator==(const Blocker&) const = default;
};

class ReleasePlan final {
 public:
  // Every release, dependencies before dependents: wave by wave, spec order within a wave.
  const std::vector<std::string>& order() const { return order_; }

  // The releases grouped into levels: a release's level is one more than its deepest
  // dependency's, so each wave can run in parallel once the waves before it are Ready.
  const std::vector<std::vector<std::string>>& waves() const { return waves_; }

  // Direct dependencies of a release, in spec order; empty for an unknown name.
  const std::vector<std::string>& dependenciesOf(const std::string& name) const;

  // Releases that may start now: all their dependencies are in deployedAndReady, and they are
  // neither deployedAndReady (current) nor inFlight nor failed. A failed release comes back once
  // the caller drops it from `failed` — when its remediation's backoff says a retry is due.
  std::vector<std::string> ready(const std::set<std::string>& deployedAndReady,
                                 const std::set<std::string>& inFlight,
                                 const std::set<std::string>& failed) const;

  // The direct dependencies of `name` that are not deployed and Ready, in spec order, each with
  // the failed release (if any) that keeps it from getting there.
  std::vector<Blocker> blockedBy(const std::string& name,
                                 const std::set<std::string>& deployedAndReady,
                                 const std::set<std::string>& failed) const;

  // A one-line reason for a status message: "waiting for config-server" or
  // "blocked: config-server failed" or "blocked: db waits on failed config-server"; "" when
  // nothing blocks `name`.
  std::string blockedMessage(const std::string& name, const std::set<std::string>& deployedAndReady,
                             const std::set<std::string>& failed) const;

 private:
  friend std::variant<ReleasePlan, std::string> planReleases(
      const std::vector<ReleaseSpec>& releases);

  std::string failedBehind(const std::string& name, const std::set<std::string>& deployedAndReady,
                           const std::set<std::string>& failed, std::set<std::string>& seen) const;

  std::vector<std::string> order_;
  std::vector<std::vector<std::string>> waves_;
  std::map<std::string, std::vector<std::string>> dependencies_;
};

// Builds the plan; an error (unknown dependsOn names, a duplicate release name, or a cycle)
// names what is wrong.
std::variant<ReleasePlan, std::string> planReleases(const std::vector<ReleaseSpec>& releases);

}  // namespace envop::environment
