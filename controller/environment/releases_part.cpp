#include "controller/environment/releases_part.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "controller/environment/release_actions.h"
#include "controller/environment/release_digest.h"
#include "controller/environment/values.h"
#include "controller/kube/config.h"

namespace envop::environment {
namespace {

using State = PartOutcome::State;
using namespace std::chrono_literals;

// How long what this process deployed outranks Helm's storage cache, which may not have
// delivered the new revision yet; after that the cache is the truth (a human may have
// uninstalled the release since).
constexpr auto kDeployedMemory = 30s;
// Added to a release's timeout and helm's kill grace before a pending-* lock is taken as
// abandoned.
constexpr auto kLockMargin = 30s;

// A chart as this pass sees it.
struct Chart {
  bool available = false;
  bool stalled = false;
  bool cached = false;
  helm::ChartRef ref;
  std::string digest;
  std::string message;
};

Chart chartOf(ChartResolution resolution) {
  if (auto* ok = std::get_if<ChartAvailable>(&resolution)) {
    return {.available = true,
            .cached = ok->cached,
            .ref = std::move(ok->ref),
            .digest = std::move(ok->digest)};
  }
  auto& no = std::get<ChartUnavailable>(resolution);
  return {.stalled = no.stalled, .message = std::move(no.message)};
}

std::string chartLabel(const ReleaseSpec& release) {
  return release.chart + (release.version.empty() ? "" : " " + release.version);
}

}  // namespace

void ValuesReferences::set(const std::string& environment, std::set<std::string> keys) {
  std::lock_guard lock(mu_);
  if (keys.empty()) {
    byEnvironment_.erase(environment);
  } else {
    byEnvironment_[environment] = std::move(keys);
  }
}

std::vector<std::string> ValuesReferences::environmentsReading(const std::string& key) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [env, keys] : byEnvironment_) {
    if (keys.count(key)) out.push_back(env);
  }
  return out;
}

struct ReleasesPart::Entry {
  const ReleaseSpec* release = nullptr;
  Json status = Json::object();  // this release's status.releases entry
  // Inputs, observed before anything is done.
  ResolvedChart chart;
  helm::ChartRef ref;
  Json values;
  std::set<std::string> references;  // valuesFrom it reads
  // What came of the pass.
  State state = State::kProgressing;
  std::string reason;
  std::string message;
  std::vector<std::string> repaired;
  std::vector<ReleasesReport::Note> notes;
  bool inFlight = false;  // Progressing because a helm run of ours is queued or running

  void fail(State s, std::string why, std::string text) {
    state = s;
    reason = std::move(why);
    message = std::move(text);
  }
};

ReleasesPart::ReleasesPart(kube::ClientPtr client, helm::HelmDriver& helm,
                           ValuesReferences& references, runtime::StorePtr helmSecrets,
                           std::chrono::seconds chartRecheck, std::function<bool()> storageSynced,
                           ReleaseRunner* runner)
    : client_(client),
      helm_(helm),
      ownRunner_(runner ? nullptr : std::make_unique<ReleaseRunner>(0)),
      runner_(runner ? runner : ownRunner_.get()),
      references_(references),
      helmSecrets_(std::move(helmSecrets)),
      storageSynced_(std::move(storageSynced)),
      chartRecheck_(chartRecheck),
      charts_(client, helm, {.digestTtl = chartRecheck}),
      drift_(client, helm) {}

std::optional<Json> ReleasesPart::resolveValues(const std::string& ns, const ReleasesSpec& spec,
                                                const ReleaseSpec& release, Entry& entry) {
  std::vector<Json> layers;
  for (size_t i = 0; i < release.valuesFrom.size(); ++i) {
    const ValuesSource& source = release.valuesFrom[i];
    const bool secret = source.kind == ValuesSource::Kind::kSecret;
    const std::string kind = secret ? "Secret" : "ConfigMap";
    entry.references.insert(kind + "/" + ns + "/" + source.name);
    auto object = client_->get(secret ? kube::resources::secrets() : kube::resources::configMaps(),
                               ns, source.name);
    const std::string where = kind + " " + ns + "/" + source.name;
    if (!object) {
      if (object.error().isNotFound() && source.optional) continue;
      entry.fail(
          object.error().isNotFound() ? State::kStalled : State::kFailed,
          object.error().isNotFound() ? "ValuesNotFound" : "ValuesUnreadable",
          "release " + release.name + ": valuesFrom " + where + ": " + object.error().describe());
      return std::nullopt;
    }
    const Json data = object.value().value("data", Json::object());
    auto it = data.find(source.key);
    if (it == data.end() || !it->is_string()) {
      if (source.optional) continue;
      entry.fail(State::kStalled, "ValuesNotFound",
                 "release " + release.name + ": valuesFrom " + where + " has no key " + source.key);
      return std::nullopt;
    }
    std::string text = it->get<std::string>();
    if (secret) {
      auto decoded = kube::decodeBase64(text);
      if (!decoded) {
        entry.fail(State::kStalled, "InvalidValues",
                   "release " + release.name + ": valuesFrom " + where + " key " + source.key +
                       " is not base64");
        return std::nullopt;
      }
      text = std::move(*decoded);
    }
    auto parsed = parseValuesYaml(text, where + " key " + source.key);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      entry.fail(State::kStalled, "InvalidValues", "release " + release.name + ": " + *error);
      return std::nullopt;
    }
    layers.push_back(std::get<Json>(std::move(parsed)));
  }
  return mergeReleaseValues(spec.values, layers, release.values);
}

std::optional<StoredRelease> ReleasesPart::observeStored(const std::string& key,
                                                         const std::string& release,
                                                         const std::string& ns,
                                                         std::string& error) {
  std::optional<StoredRelease> stored;
  if (helmSecrets_) {
    stored = HelmStorage(helmSecrets_).latest(ns, release);
  } else {
    auto current = helm_.status(release, ns);
    if (current.ok()) {
      stored = StoredRelease{.revision = current.value.revision, .status = current.value.status};
    } else if (!current.result.releaseNotFound) {
      error = "reading release " + release + ": " + current.result.message();
      return std::nullopt;
    }
  }
  std::lock_guard lock(mu_);
  if (auto it = deployed_.find(key);
      it != deployed_.end() && std::chrono::steady_clock::now() - it->second.at < kDeployedMemory &&
      (!stored || stored->revision <= it->second.revision)) {
    stored = StoredRelease{.revision = it->second.revision,
                           .status = "deployed",
                           .written = std::chrono::system_clock::now()};
  }
  return stored;
}

bool ReleasesPart::observeInputs(const EnvironmentSpec& env, const ReleasesSpec& spec,
                                 const ReleaseSpec& release, const Json& previous, Entry& entry) {
  entry.release = &release;
  entry.status = {{"name", release.name}, {"chart", release.chart}, {"version", release.version}};
  for (const Json& p : previous) {
    if (p.value("name", "") != release.name) continue;
    for (const char* k : {"revision", "digest", "status", "message"}) {
      if (p.contains(k)) entry.status[k] = p[k];
    }
  }
  if (release.suspend) {
    entry.status["status"] = "suspended";
    entry.state = State::kReady;
    return true;
  }
  auto resolved = resolveChart(spec.charts, release);
  if (auto* error = std::get_if<std::string>(&resolved)) {
    entry.fail(State::kStalled, "InvalidChart", "release " + release.name + ": " + *error);
    return false;
  }
  entry.chart = std::get<ResolvedChart>(resolved);
  entry.ref = chartRefOf(entry.chart);
  if (!spec.charts.credentialsSecret.empty()) {
    // So that the Secret, once made or fixed, wakes the Environment.
    entry.references.insert("Secret/" + env.namespace_.name + "/" + spec.charts.credentialsSecret);
  }
  auto values = resolveValues(env.namespace_.name, spec, release, entry);
  if (!values) return false;
  entry.values = std::move(*values);
  return true;
}

void ReleasesPart::process(const EnvironmentSpec& env, const ChartsSpec& charts,
                           const ReleaseSpec& release, Entry& entry) {
  const std::string& ns = env.namespace_.name;
  const std::string key = env.name + "/" + release.name;

  // A run of ours that finished: its outcome, taken once, is what this pass reports.
  if (std::optional<RunView> done = runner_->take(env.name, release.name)) {
    return settle(env, charts, release, entry, *done);
  }
  // One still queued or running is observed state, like Helm's storage: nothing else is
  // looked up (no chart, no drift) and nothing is started beside it.
  if (const std::optional<RunView> run = runner_->view(env.name, release.name)) {
    std::string ignored;
    if (std::optional<StoredRelease> stored = observeStored(key, release.name, ns, ignored)) {
      entry.status["revision"] = stored->revision;
      entry.status["status"] = stored->status;
    }
    ReleaseObservation o;
    o.inFlight = InFlightRun{.queued = run->phase == RunView::Phase::kQueued};
    spdlog::debug("release {}/{}: {}", ns, release.name, releaseStateName(decideRelease(o).state));
    return reportRun(release, entry, *run);
  }

  // Observe.
  const Chart chart = chartOf(charts_.resolve(env.name, ns, charts, entry.chart));
  if (chart.available) entry.ref = chart.ref;
  std::string error;
  std::optional<StoredRelease> stored = observeStored(key, release.name, ns, error);
  if (!error.empty()) return entry.fail(State::kFailed, "HelmStorageUnreadable", error);

  ReleaseObservation o;
  o.now = std::chrono::system_clock::now();
  o.chartAvailable = chart.available;
  o.desiredDigest = chart.available ? releaseDigest(entry.chart, chart.digest, entry.values) : "";
  o.deployedDigest = entry.status.value("digest", "");
  o.deployedRevision = entry.status.value("revision", 0);
  o.driftMode = release.driftDetection.mode;
  o.remediation = release.remediation;
  o.timeout = release.timeout;
  o.lockGrace =
      std::chrono::duration_cast<std::chrono::seconds>(helm_.config().killGrace) + kLockMargin;
  {
    std::lock_guard lock(mu_);
    if (auto it = deployed_.find(key); it != deployed_.end()) {
      o.deployedDigest = it->second.digest;
      o.deployedRevision = it->second.revision;
    }
    if (auto it = failures_.find(key);
        it != failures_.end() && it->second.digest == o.desiredDigest) {
      o.failure = it->second;
    }
  }
  if (!helmSecrets_ && stored && isLockedStatus(stored->status)) {
    // Without Helm's storage there is no age to tell a running helm from a dead one.
    stored->written = {};
  }
  o.stored = stored;
  std::vector<DriftFinding> drift;
  if (o.stored && o.stored->status == "deployed" && o.desiredDigest == o.deployedDigest &&
      o.stored->revision == o.deployedRevision) {
    drift = drift_.drifted(release.name, ns, o.stored->revision, release.driftDetection);
    for (const DriftFinding& f : drift) o.drift.push_back(f.describe);
  }

  // Decide.
  const ReleaseDecision decision = decideRelease(o);
  spdlog::debug("release {}/{}: {} -> {}", ns, release.name, releaseStateName(decision.state),
                releaseActionName(decision.action));
  if (o.stored) {
    entry.status["revision"] = o.stored->revision;
    entry.status["status"] = o.stored->status;
  }

  // Act.
  switch (decision.action) {
    case ReleaseAction::kNone:
      switch (decision.state) {
        case ReleaseState::kInSync:
          entry.state = State::kReady;
          entry.status["digest"] = o.desiredDigest;
          entry.status.erase("message");
          return;
        case ReleaseState::kDriftReported: {
          entry.state = State::kReady;
          std::string what;
          for (const std::string& d : o.drift) what += (what.empty() ? "" : "; ") + d;
          entry.status["message"] = "drift (driftDetection Warn, not repaired): " + what;
          entry.notes.push_back({true, "DriftDetected",
                                 "release " + release.name + ": " + what +
                                     " outside envop; not repaired (driftDetection mode Warn)"});
          return;
        }
        case ReleaseState::kChartUnavailable:
          return entry.fail(chart.stalled ? State::kStalled : State::kFailed, "ChartUnavailable",
                            "release " + release.name + ": " + chart.message);
        default:  // kRemediationExhausted
          return entry.fail(State::kStalled, "RemediationExhausted",
                            o.failure && !o.failure->message.empty()
                                ? o.failure->message
                                : "release " + release.name +
                                      " failed and its retries are spent; waiting for a change "
                                      "of its spec");
      }
    case ReleaseAction::kWait:
      return entry.fail(State::kProgressing, "ReleaseLocked",
                        "release " + release.name + " is " + o.stored->status +
                            "; a helm may still be running it (looking again within " +
                            std::to_string(decision.recheckAfter.count()) + "s)");
    case ReleaseAction::kUnlock: {
      helm::HelmDriver& helm = helm_;
      const StoredRelease locked = *o.stored;
      return launch(env, charts, release, entry, {.action = decision.action},
                    [&helm, name = release.name, ns, locked] {
                      return unlockRelease(helm, name, ns, locked);
                    });
    }
    case ReleaseAction::kRollback:
    case ReleaseAction::kUninstall: {
      helm::HelmDriver& helm = helm_;
      const bool rollback = decision.action == ReleaseAction::kRollback;
      return launch(env, charts, release, entry, {.action = decision.action},
                    [&helm, rollback, name = release.name, ns] {
                      return rollback ? rollbackRelease(helm, name, ns)
                                      : uninstallRelease(helm, name, ns);
                    });
    }
    case ReleaseAction::kRepair: {
      // Changed objects are written back as the chart has them; deleted ones need helm,
      // which recreates them with its ownership marks.
      const std::vector<std::string> errors = drift_.restore(drift);
      if (!errors.empty()) {
        std::string what;
        for (const std::string& e : errors) what += (what.empty() ? "" : "; ") + e;
        return entry.fail(State::kFailed, "DriftRepairFailed",
                          "release " + release.name + ": repairing drift: " + what);
      }
      bool deleted = false;
      for (const DriftFinding& f : drift) {
        deleted = deleted || f.deleted;
        if (!f.deleted) entry.repaired.push_back("release " + release.name + ": " + f.describe);
      }
      if (!deleted) {
        entry.state = State::kReady;
        entry.status["digest"] = o.desiredDigest;
        entry.status.erase("message");
        return;
      }
      break;
    }
    case ReleaseAction::kInstall:
    case ReleaseAction::kUpgrade:
      break;
  }

  // Install, upgrade or repair: the chart must really be there now, not just in the cache.
  const Chart now =
      chart.cached ? chartOf(charts_.resolve(env.name, ns, charts, entry.chart, true)) : chart;
  if (!now.available) {
    return entry.fail(now.stalled ? State::kStalled : State::kFailed, "ChartUnavailable",
                      "release " + release.name + ": " + now.message);
  }
  entry.ref = now.ref;
  RunIntent intent{.action = decision.action,
                   .digest = releaseDigest(entry.chart, now.digest, entry.values),
                   .installing = !o.stored || o.stored->status == "uninstalled",
                   .chartLabel = chartLabel(release),
                   .timeout = release.timeout,
                   .wait = release.wait};
  if (decision.action == ReleaseAction::kRepair) {
    // Deleted objects count as repaired once helm has recreated them.
    for (const DriftFinding& f : drift) {
      if (f.deleted)
        intent.repairedOnSuccess.push_back("release " + release.name + ": " + f.describe);
    }
  }
  helm::HelmDriver& helm = helm_;
  launch(env, charts, release, entry, std::move(intent),
         [&helm,
          target = ReleaseTarget{.name = release.name,
                                 .ns = ns,
                                 .chart = entry.ref,
                                 .values = entry.values,
                                 .options = {.wait = release.wait, .timeout = release.timeout}}] {
           return applyRelease(helm, target);
         });
}

void ReleasesPart::launch(const EnvironmentSpec& env, const ChartsSpec& charts,
                          const ReleaseSpec& release, Entry& entry, RunIntent intent,
                          ReleaseRunner::Job job) {
  switch (runner_->start(env.name, release.name, std::move(intent), std::move(job))) {
    case ReleaseRunner::Started::kRefused:
      return entry.fail(State::kProgressing, "ShuttingDown",
                        "release " + release.name +
                            ": not started, the controller is shutting down; the next leader "
                            "takes it up");
    case ReleaseRunner::Started::kBusy:
    case ReleaseRunner::Started::kStarted:
      break;
  }
  // An inline runner (limit 0) has finished already.
  if (std::optional<RunView> done = runner_->take(env.name, release.name)) {
    return settle(env, charts, release, entry, *done);
  }
  if (const std::optional<RunView> run = runner_->view(env.name, release.name)) {
    spdlog::info("release {}/{}: {}", env.namespace_.name, release.name,
                 runMessage(release.name, *run));
    return reportRun(release, entry, *run);
  }
}

void ReleasesPart::reportRun(const ReleaseSpec& release, Entry& entry, const RunView& run) {
  entry.fail(State::kProgressing, runReason(run), runMessage(release.name, run));
  entry.inFlight = true;
  if (!entry.status.contains("status")) {
    entry.status["status"] = run.phase == RunView::Phase::kQueued ? "queued" : "pending-install";
  }
}

void ReleasesPart::settle(const EnvironmentSpec& env, const ChartsSpec& charts,
                          const ReleaseSpec& release, Entry& entry, const RunView& run) {
  const std::string& ns = env.namespace_.name;
  const std::string key = env.name + "/" + release.name;
  const RunIntent& intent = run.intent;
  const ActionOutcome& applied = run.outcome;
  switch (intent.action) {
    case ReleaseAction::kUnlock:
      entry.notes.push_back({!applied.ok, "ReleaseRecovered", applied.message});
      return entry.fail(applied.ok ? State::kProgressing : State::kFailed,
                        applied.ok ? "ReleaseRecovered" : "RecoveryFailed", applied.message);
    case ReleaseAction::kRollback:
    case ReleaseAction::kUninstall: {
      if (intent.action == ReleaseAction::kUninstall && applied.ok) {
        drift_.forget(ns, release.name);
      }
      std::string message;
      {
        std::lock_guard lock(mu_);
        FailureRecord& f = failures_[key];
        f.remediated = applied.ok;
        f.message +=
            " (after " + std::to_string(f.attempts) + " attempts; " + applied.message + ")";
        message = f.message;
      }
      entry.notes.push_back({true, "ReleaseRemediated", message});
      return entry.fail(applied.ok ? State::kStalled : State::kFailed,
                        applied.ok ? "RemediationExhausted" : "RemediationFailed", message);
    }
    default:
      break;
  }
  const std::string& digest = intent.digest;
  if (applied.ok) {
    {
      std::lock_guard lock(mu_);
      failures_.erase(key);
      deployed_[key] = {digest, applied.revision, std::chrono::steady_clock::now()};
    }
    entry.state = State::kReady;
    entry.status.erase("message");
    entry.status["revision"] = applied.revision;
    entry.status["status"] = "deployed";
    entry.status["digest"] = digest;
    if (!applied.chartVersion.empty()) entry.status["version"] = applied.chartVersion;
    if (intent.action == ReleaseAction::kRepair) {
      entry.repaired.insert(entry.repaired.end(), intent.repairedOnSuccess.begin(),
                            intent.repairedOnSuccess.end());
    } else {
      entry.notes.push_back({false, intent.installing ? "ReleaseInstalled" : "ReleaseUpgraded",
                             (intent.installing ? "installed " : "upgraded ") + release.name +
                                 " (" + applied.chartName + " " + applied.chartVersion +
                                 ") to revision " + std::to_string(applied.revision)});
    }
    return;
  }
  // A registry that went away between the look and the pull is an outage, not a failure
  // of the release: it counts towards no retry and so never towards a rollback.
  if (const Chart after = chartOf(charts_.resolve(env.name, ns, charts, entry.chart, true));
      !after.available) {
    return entry.fail(State::kFailed, "ChartUnavailable",
                      "release " + release.name + ": " + after.message);
  }
  const std::string message = "chart " + intent.chartLabel + " of release " + release.name +
                              " failed" + (applied.timedOut ? " (timed out)" : "") + ": " +
                              applied.message;
  {
    std::lock_guard lock(mu_);
    FailureRecord& f = failures_[key];
    if (f.digest != digest) f = FailureRecord{.digest = digest};
    ++f.attempts;
    f.message = message;
  }
  entry.notes.push_back({true, "ReleaseFailed", message});
  entry.status["status"] = "failed";
  entry.fail(State::kFailed, "ReleaseFailed", message);
}

void ReleasesPart::uninstallRemoved(const EnvironmentSpec& env, const ReleasesSpec& spec,
                                    const Json& previous, ReleasesReport& report,
                                    std::vector<Entry>& gone) {
  for (const Json& p : previous) {
    const std::string name = p.value("name", "");
    bool wanted = false;
    for (const ReleaseSpec& r : spec.releases) wanted = wanted || r.name == name;
    if (wanted || name.empty()) continue;
    // A run of it started before it left the spec ends first: two helms on one release would
    // fight over its lock. Its outcome no longer matters.
    runner_->take(env.name, name);
    if (const std::optional<RunView> run = runner_->view(env.name, name)) {
      Entry entry;
      entry.status = p;
      entry.fail(State::kProgressing, runReason(*run),
                 runMessage(name, *run) + "; uninstalled (no longer in the spec) once it ends");
      entry.inFlight = true;
      gone.push_back(std::move(entry));
      continue;
    }
    const ActionOutcome removed = uninstallRelease(helm_, name, env.namespace_.name);
    if (removed.ok) {
      drift_.forget(env.namespace_.name, name);
      std::lock_guard lock(mu_);
      failures_.erase(env.name + "/" + name);
      deployed_.erase(env.name + "/" + name);
      report.notes.push_back(
          {false, "ReleaseUninstalled", "uninstalled release " + name + ", no longer in the spec"});
      continue;
    }
    // Kept in status, and failing the part, until it is really gone.
    Entry entry;
    entry.status = p;
    entry.fail(State::kFailed, "UninstallFailed",
               "uninstalling release " + name + ", no longer in the spec: " + removed.message);
    entry.status["message"] = entry.message;
    gone.push_back(std::move(entry));
  }
}

std::optional<PartOutcome> ReleasesPart::validate(const EnvironmentSpec& env, const Json& object) {
  PartOutcome stalled{.part = std::string(kPartReleases), .state = State::kStalled};
  auto parsed = parseReleasesSpec(object);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    stalled.reason = "InvalidReleases";
    stalled.message = *error;
    return stalled;
  }
  const ReleasesSpec& spec = std::get<ReleasesSpec>(parsed);
  if (auto plan = planReleases(spec.releases); auto* error = std::get_if<std::string>(&plan)) {
    stalled.reason = "DependencyCycle";
    stalled.message = *error;
    return stalled;
  }
  // valuesFrom lives in the stage namespace: before it exists there is nothing to look at
  // (asked only when some release reads values from there).
  const bool readsValues = std::any_of(spec.releases.begin(), spec.releases.end(),
                                       [](const ReleaseSpec& r) { return !r.valuesFrom.empty(); });
  const bool namespaceExists =
      readsValues && client_->get(kube::resources::namespaces(), "", env.namespace_.name).ok();
  for (const ReleaseSpec& r : spec.releases) {
    Entry entry;
    ReleaseSpec checked = r;
    if (!namespaceExists) checked.valuesFrom.clear();
    if (observeInputs(env, spec, checked, Json::array(), entry) || entry.state != State::kStalled) {
      continue;
    }
    stalled.reason = entry.reason;
    stalled.message = entry.message;
    return stalled;
  }
  return std::nullopt;
}

int ReleasesPart::stopRuns(const EnvironmentSpec& env, bool kill) {
  return runner_->cancel(env.name, kill);
}

void ReleasesPart::forget(const EnvironmentSpec& env) {
  runner_->forget(env.name);
  references_.set(env.name, {});
  charts_.forget(env.name);
  std::lock_guard lock(mu_);
  const std::string prefix = env.name + "/";
  for (auto it = deployed_.lower_bound(prefix);
       it != deployed_.end() && it->first.starts_with(prefix);) {
    drift_.forget(env.namespace_.name, it->first.substr(prefix.size()));
    it = deployed_.erase(it);
  }
  for (auto it = failures_.lower_bound(prefix);
       it != failures_.end() && it->first.starts_with(prefix);) {
    it = failures_.erase(it);
  }
}

ReleasesReport ReleasesPart::reconcile(const EnvironmentSpec& env, const Json& object,
                                       const Json& previous) {
  ReleasesReport report;
  auto parsed = parseReleasesSpec(object);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    report.state = State::kStalled;
    report.reason = "InvalidReleases";
    report.message = *error;
    return report;
  }
  const ReleasesSpec& spec = std::get<ReleasesSpec>(parsed);
  const Json previousReleases = previous.is_array() ? previous : Json::array();

  // The whole spec is checked before anything is done: a cycle changes nothing, not even
  // the uninstall of a release taken out of the spec in the same edit.
  auto plan = planReleases(spec.releases);
  if (auto* error = std::get_if<std::string>(&plan)) {
    report.state = State::kStalled;
    report.reason = "DependencyCycle";
    report.message = *error;
    return report;
  }
  const ReleasePlan& order = std::get<ReleasePlan>(plan);

  // Every entry exists before any task runs: the tasks of a wave share this map, so it
  // must not change shape while they do.
  std::map<std::string, Entry> entries;
  for (const ReleaseSpec& r : spec.releases) entries[r.name];
  std::set<std::string> references;
  bool inputsComplete = true;
  for (const ReleaseSpec& r : spec.releases) {
    Entry& entry = entries.at(r.name);
    inputsComplete = observeInputs(env, spec, r, previousReleases, entry) && inputsComplete;
    references.insert(entry.references.begin(), entry.references.end());
  }
  references_.set(env.name, references);  // so the missing Secret, once made, wakes us

  std::vector<Entry> gone;
  // Until Helm's storage is fully cached, a release missing from it may yet be there.
  const bool storageKnown = !storageSynced_ || storageSynced_();
  if (inputsComplete && !storageKnown) {
    for (auto& [name, entry] : entries) {
      if (entry.state == State::kProgressing) {
        entry.fail(State::kProgressing, "WaitingForHelmStorage",
                   "waiting for the cache of Helm's release records to sync");
      }
    }
  }
  if (inputsComplete && storageKnown) {
    uninstallRemoved(env, spec, previousReleases, report, gone);
    std::set<std::string> ready;
    std::set<std::string> failed;
    for (const std::vector<std::string>& wave : order.waves()) {
      // Independent releases of a wave run side by side; each waits for its own helm.
      std::vector<std::future<void>> running;
      for (const std::string& name : wave) {
        Entry& entry = entries.at(name);
        if (entry.release->suspend) continue;
        const std::string blocked = order.blockedMessage(name, ready, failed);
        if (!blocked.empty()) {
          entry.fail(State::kProgressing, "ReleasesProgressing", blocked);
          entry.status["status"] = entry.status.value("status", "waiting");
          continue;
        }
        running.push_back(std::async(std::launch::async, [this, &env, &spec, &entry, name] {
          try {
            process(env, spec.charts, *entry.release, entry);
          } catch (const std::exception& e) {
            entry.fail(State::kFailed, "ReleaseFailed", "release " + name + ": " + e.what());
          }
        }));
      }
      for (auto& f : running) f.wait();
      for (const std::string& name : wave) {
        const Entry& entry = entries.at(name);
        if (entry.state == State::kReady) ready.insert(name);
        if (entry.state == State::kFailed || entry.state == State::kStalled) failed.insert(name);
      }
    }
  }

  int readyCount = 0;
  report.state = State::kReady;
  auto account = [&report](Entry& entry) {
    if (!entry.message.empty() && entry.state != State::kReady)
      entry.status["message"] = entry.message;
    report.releases.push_back(entry.status);
    report.repaired.insert(report.repaired.end(), entry.repaired.begin(), entry.repaired.end());
    report.notes.insert(report.notes.end(), entry.notes.begin(), entry.notes.end());
    if (static_cast<int>(entry.state) > static_cast<int>(report.state)) {
      report.state = entry.state;
      report.reason = entry.reason.empty() ? "ReleasesProgressing" : entry.reason;
      report.message = entry.message;
    }
  };
  for (const std::string& name : order.order()) {
    Entry& entry = entries.at(name);
    if (!inputsComplete && entry.state == State::kProgressing) {
      entry.message = "not started: another release of the spec cannot be carried out";
    }
    if (entry.state == State::kReady) ++readyCount;
    account(entry);
  }
  for (Entry& entry : gone) account(entry);
  if (report.state == State::kProgressing) {
    // Woken by the runs' exits: every release that is not settled waits for one, directly or
    // through dependsOn.
    bool anyRun = false;
    bool allWait = true;
    auto waits = [&](const Entry& entry) {
      if (entry.state != State::kProgressing) return;
      anyRun = anyRun || entry.inFlight;
      allWait = allWait && (entry.inFlight || entry.reason == "ReleasesProgressing");
    };
    for (const auto& [name, entry] : entries) waits(entry);
    for (const Entry& entry : gone) waits(entry);
    report.waitsOnRuns = anyRun && allWait;
  }
  if (spec.releases.empty() && gone.empty() && previousReleases.empty()) {
    report.state = State::kNotConfigured;
    report.reason.clear();
    return report;
  }
  report.summary = std::to_string(readyCount) + "/" + std::to_string(spec.releases.size());
  return report;
}

}  // namespace envop::environment
