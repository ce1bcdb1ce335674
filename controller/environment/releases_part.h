// The releases part of an Environment: the stage's microservices as Helm releases. Each
// pass observes every release first (its chart reference and values, then what Helm has
// stored, whether the chart can be resolved, and drift), turns each observation into one
// state and action (release_state), and only then acts, wave by wave in dependsOn order.
// A spec that cannot be carried out as a whole (a missing Secret, a bad chart reference)
// changes nothing. A chart that cannot be resolved leaves what is deployed exactly as it is.
// Releases removed from the spec are uninstalled, and only those.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controller/environment/chart_source.h"
#include "controller/environment/helm_storage.h"
#include "controller/environment/release_drift.h"
#include "controller/environment/release_plan.h"
#include "controller/environment/release_runner.h"
#include "controller/environment/release_spec.h"
#include "controller/environment/release_state.h"
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
  // Progressing only because helm runs of ours are queued or running (and releases wait for
  // them): each run's exit wakes the Environment, so there is nothing to poll for.
  bool waitsOnRuns = false;
};

// Which Environments read which ConfigMaps and Secrets (valuesFrom), so that a change of
// one wakes exactly those.
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
  // helmSecrets: the metadata-only cache of Helm's release Secrets (owner=helm); null makes
  // every observation ask helm (tests without an informer).
  // chartRecheck: how long a resolved OCI tag's digest is trusted before it is looked up again.
  // storageSynced: whether helmSecrets holds all of Helm's storage yet; until it does no
  // release is acted on (an empty cache would read as "nothing installed").
  // runner: where helm actions run, off the caller's thread (its exits wake the Environment);
  // null runs each on the reconciling thread, within the pass (tests without a manager).
  ReleasesPart(kube::ClientPtr client, helm::HelmDriver& helm, ValuesReferences& references,
               runtime::StorePtr helmSecrets = nullptr,
               std::chrono::seconds chartRecheck = std::chrono::minutes(5),
               std::function<bool()> storageSynced = nullptr, ReleaseRunner* runner = nullptr);

  // previous: the Environment's status.releases as last written.
  ReleasesReport reconcile(const EnvironmentSpec& env, const Json& object, const Json& previous);

  // The whole releases spec checked before anything of the Environment is written: its
  // shape, dependency cycles, chart references and, once the namespace exists, the
  // valuesFrom it needs. A Stalled outcome when it cannot be carried out; reads only.
  std::optional<PartOutcome> validate(const EnvironmentSpec& env, const Json& object);

  // Forgets everything remembered for an Environment that is gone.
  void forget(const EnvironmentSpec& env);
  // For an Environment being deleted: drops its queued helm runs and, with kill, kills its
  // running ones. Returns how many still run (the finalizer waits for none).
  int stopRuns(const EnvironmentSpec& env, bool kill);
  // How often a stage whose releases are all in sync is looked at again, so that a chart
  // re-pushed under the same version (a new digest) or a registry gone is noticed without an
  // event: the chart recheck interval, like a Flux HelmRelease's spec.interval.
  std::chrono::seconds recheckInterval() const { return chartRecheck_; }

 private:
  struct Entry;  // one release's pass
  bool observeInputs(const EnvironmentSpec& env, const ReleasesSpec& spec,
                     const ReleaseSpec& release, const Json& previous, Entry& entry);
  void process(const EnvironmentSpec& env, const ChartsSpec& charts, const ReleaseSpec& release,
               Entry& entry);
  // Starts a helm action on the runner and reports the release as in flight (or, from an
  // inline runner, settles it at once).
  void launch(const EnvironmentSpec& env, const ChartsSpec& charts, const ReleaseSpec& release,
              Entry& entry, RunIntent intent, ReleaseRunner::Job job);
  void reportRun(const ReleaseSpec& release, Entry& entry, const RunView& run);
  // What a finished run's outcome means for the release: status, events, failure record.
  void settle(const EnvironmentSpec& env, const ChartsSpec& charts, const ReleaseSpec& release,
              Entry& entry, const RunView& run);
  std::optional<Json> resolveValues(const std::string& ns, const ReleasesSpec& spec,
                                    const ReleaseSpec& release, Entry& entry);
  std::optional<StoredRelease> observeStored(const std::string& key, const std::string& release,
                                             const std::string& ns, std::string& error);
  void uninstallRemoved(const EnvironmentSpec& env, const ReleasesSpec& spec, const Json& previous,
                        ReleasesReport& report, std::vector<Entry>& gone);

  kube::ClientPtr client_;
  helm::HelmDriver& helm_;
  std::unique_ptr<ReleaseRunner> ownRunner_;
  ReleaseRunner* runner_;
  ValuesReferences& references_;
  runtime::StorePtr helmSecrets_;
  std::function<bool()> storageSynced_;
  std::chrono::seconds chartRecheck_;
  ChartSource charts_;
  ReleaseDrift drift_;
  std::mutex mu_;
  std::map<std::string, FailureRecord> failures_;  // env/release -> failure record
  // What this process deployed. Helm's storage cache says the same once the informer
  // delivers it; until then this stops a second upgrade.
  struct Deployed {
    std::string digest;
    int revision = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Deployed> deployed_;  // env/release
};

}  // namespace envop::environment
