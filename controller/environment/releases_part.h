// The releases part of an Environment: the stage's microservices as Helm releases,
// installed and upgraded in dependsOn order, each only when its desired state (chart,
// resolved chart digest, merged values) differs from what is deployed, repaired when
// an object of the release was deleted, and remediated (rollback or uninstall) when
// an install or upgrade keeps failing. Releases removed from the spec are uninstalled.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controller/environment/release_drift.h"
#include "controller/environment/release_plan.h"
#include "controller/environment/release_spec.h"
#include "controller/environment/spec.h"
#include "controller/environment/status.h"
#include "controller/helm/helm_driver.h"
#include "controller/kube/client.h"

namespace envop::environment {

struct ReleasesReport : PartOutcome {
  ReleasesReport() {
    part = std::string(kPartReleases);
    state = State::kNotConfigured;
  }
  Json releases = Json::array();  // status.releases
  std::string summary;            // status.releaseSummary, "ready/total"
  std::vector<std::string> repaired;
  struct Note {
    bool warning = false;
    std::string reason;  // ReleaseInstalled, ReleaseUpgraded, ReleaseFailed, ...
    std::string text;
  };
  std::vector<Note> notes;  // one event each
};

// Which Environments read which ConfigMaps and Secrets (valuesFrom), so that a change of
// one wakes exactly those; and which objects helm owns for them.
class ValuesReferences final {
 public:
  void set(const std::string& environment, std::set<std::string> keys);  // "Kind/ns/name"
  std::vector<std::string> environmentsReading(const std::string& key) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::set<std::string>> byEnvironment_;
};

class ReleasesPart final {
 public:
  ReleasesPart(kube::ClientPtr client, helm::HelmDriver& helm, ValuesReferences& references);

  // previous: the Environment's status.releases as last written.
  ReleasesReport reconcile(const EnvironmentSpec& env, const Json& object, const Json& previous);

 private:
  struct Entry;  // one release's pass
  void process(const EnvironmentSpec& env, const ReleasesSpec& spec, const ReleaseSpec& release,
               const Json& previous, Entry& entry, std::set<std::string>& references);
  std::optional<Json> resolveValues(const std::string& ns, const ReleasesSpec& spec,
                                    const ReleaseSpec& release, Entry& entry,
                                    std::set<std::string>& references);
  std::string chartDigest(const helm::ChartRef& ref, const ResolvedChart& chart);

  struct Failure {
    std::string digest;
    int attempts = 0;
    bool remediated = false;
    std::string message;  // what went wrong and what was done about it
  };

  kube::ClientPtr client_;
  helm::HelmDriver& helm_;
  ValuesReferences& references_;
  ReleaseDrift drift_;
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>>
      chartDigests_;                         // reference@version -> digest
  std::map<std::string, Failure> failures_;  // env/release -> failure record
  // env/release -> {digest, revision} this process deployed. The status says the same once
  // the informer delivers it; until then (a reconcile woken by the release's own objects)
  // this is what stops a needless second upgrade.
  std::map<std::string, std::pair<std::string, int>> deployed_;
};

}  // namespace envop::environment
