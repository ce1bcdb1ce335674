#include "controller/environment/releases_part.h"

#include <spdlog/spdlog.h>

#include <future>
#include <tuple>

#include "controller/environment/release_digest.h"
#include "controller/environment/values.h"
#include "controller/kube/config.h"

namespace envop::environment {
namespace {

using State = PartOutcome::State;
using namespace std::chrono_literals;

// An OCI tag can be pushed again; look its digest up again after this long.
constexpr auto kChartDigestTtl = 5min;

helm::ChartRef chartRefOf(const ResolvedChart& chart) {
  switch (chart.kind) {
    case ResolvedChart::Kind::kOci:
      return {.reference = chart.reference, .version = chart.version, .plainHttp = chart.plainHttp};
    case ResolvedChart::Kind::kHttpsRepo:
      if (chart.repoUrl.empty()) return {.reference = chart.reference, .version = chart.version};
      return {.reference = chart.chartName, .repoUrl = chart.repoUrl, .version = chart.version};
    case ResolvedChart::Kind::kLocalPath:
      return {.reference = chart.reference, .version = chart.version};
  }
  return {};
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
  Json status = Json::object();  // this release's status.releases entry
  bool ready = false;
  bool failed = false;   // install/upgrade failed (retrying, or remediated)
  bool stalled = false;  // a human must act: a missing Secret, a bad chart reference
  std::string message;
  std::vector<std::string> repaired;
  std::vector<ReleasesReport::Note> notes;
};

ReleasesPart::ReleasesPart(kube::ClientPtr client, helm::HelmDriver& helm,
                           ValuesReferences& references)
    : client_(client), helm_(helm), references_(references), drift_(client, helm) {}

std::optional<Json> ReleasesPart::resolveValues(const std::string& ns, const ReleasesSpec& spec,
                                                const ReleaseSpec& release, Entry& entry,
                                                std::set<std::string>& references) {
  std::vector<Json> layers;
  for (size_t i = 0; i < release.valuesFrom.size(); ++i) {
    const ValuesSource& source = release.valuesFrom[i];
    const bool secret = source.kind == ValuesSource::Kind::kSecret;
    const std::string kind = secret ? "Secret" : "ConfigMap";
    references.insert(kind + "/" + ns + "/" + source.name);
    auto object = client_->get(secret ? kube::resources::secrets() : kube::resources::configMaps(),
                               ns, source.name);
    const std::string where = kind + " " + ns + "/" + source.name;
    if (!object) {
      if (object.error().isNotFound() && source.optional) continue;
      entry.stalled = object.error().isNotFound();
      entry.failed = !entry.stalled;
      entry.message = "valuesFrom " + where + ": " + object.error().describe();
      return std::nullopt;
    }
    const Json data = object.value().value("data", Json::object());
    auto it = data.find(source.key);
    if (it == data.end() || !it->is_string()) {
      if (source.optional) continue;
      entry.stalled = true;
      entry.message = "valuesFrom " + where + " has no key " + source.key;
      return std::nullopt;
    }
    std::string text = it->get<std::string>();
    if (secret) {
      auto decoded = kube::decodeBase64(text);
      if (!decoded) {
        entry.stalled = true;
        entry.message = "valuesFrom " + where + " key " + source.key + " is not base64";
        return std::nullopt;
      }
      text = std::move(*decoded);
    }
    auto parsed = parseValuesYaml(text, where + " key " + source.key);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      entry.stalled = true;
      entry.message = *error;
      return std::nullopt;
    }
    layers.push_back(std::get<Json>(std::move(parsed)));
  }
  return mergeReleaseValues(spec.values, layers, release.values);
}

std::string ReleasesPart::chartDigest(const helm::ChartRef& ref, const ResolvedChart& chart) {
  if (chart.kind != ResolvedChart::Kind::kOci) return chart.version;
  const std::string key = ref.reference + "@" + ref.version;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = chartDigests_.find(key);
    if (it != chartDigests_.end() && now - it->second.second < kChartDigestTtl) {
      return it->second.first;
    }
  }
  auto shown = helm_.showChart(ref);
  if (!shown.ok()) return chart.version;  // the install will report why the chart is unusable
  const std::string digest = shown.value.digest.empty() ? shown.value.version : shown.value.digest;
  std::lock_guard lock(mu_);
  chartDigests_[key] = {digest, now};
  return digest;
}

void ReleasesPart::process(const EnvironmentSpec& env, const ReleasesSpec& spec,
                           const ReleaseSpec& release, const Json& previous, Entry& entry,
                           std::set<std::string>& references) {
  const std::string& ns = env.namespace_.name;
  entry.status = {{"name", release.name}, {"chart", release.chart}, {"version", release.version}};
  for (const Json& p : previous) {
    if (p.value("name", "") == release.name) {
      for (const char* k : {"revision", "digest", "status", "message"}) {
        if (p.contains(k)) entry.status[k] = p[k];
      }
    }
  }
  auto resolved = resolveChart(spec.charts, release);
  if (auto* error = std::get_if<std::string>(&resolved)) {
    entry.stalled = true;
    entry.message = *error;
    return;
  }
  const ResolvedChart& chart = std::get<ResolvedChart>(resolved);
  const auto values = resolveValues(ns, spec, release, entry, references);
  if (!values) return;
  const helm::ChartRef ref = chartRefOf(chart);
  const std::string digest = releaseDigest(chart, chartDigest(ref, chart), *values);
  const std::string failureKey = env.name + "/" + release.name;

  auto current = helm_.status(release.name, ns);
  const bool exists = current.ok();
  if (!exists && !current.result.releaseNotFound) {
    entry.failed = true;
    entry.message = "reading release " + release.name + ": " + current.result.message();
    return;
  }
  if (exists && helm::isPendingStatus(current.value.status)) {
    // A helm that was killed mid-operation leaves the release locked; undo its half.
    const bool install = current.value.status == "pending-install";
    const helm::HelmResult undone =
        install ? helm_.uninstall(release.name, ns) : helm_.rollback(release.name, ns, 0);
    const std::string what = "release " + release.name + " was stuck in " + current.value.status +
                             (undone.ok ? "; recovered" : "; recovery failed: " + undone.message());
    entry.notes.push_back({!undone.ok, "ReleaseRecovered", what});
    if (!undone.ok) {
      entry.failed = true;
      entry.message = what;
      return;
    }
    current = helm_.status(release.name, ns);
  }
  const bool deployed = current.ok() && current.value.status == "deployed";
  const int revision = current.ok() ? current.value.revision : 0;
  std::string recordedDigest = entry.status.value("digest", "");
  int recordedRevision = entry.status.value("revision", 0);
  {
    std::lock_guard lock(mu_);
    if (auto it = deployed_.find(failureKey); it != deployed_.end()) {
      std::tie(recordedDigest, recordedRevision) = it->second;
    }
  }
  const bool upToDate = deployed && recordedDigest == digest && recordedRevision == revision;
  if (upToDate) {
    entry.status["digest"] = digest;
    entry.status["revision"] = revision;
  }

  if (upToDate) {
    const std::vector<std::string> missing = drift_.drifted(release.name, ns, revision);
    if (missing.empty()) {
      entry.ready = true;
      entry.status["status"] = "deployed";
      entry.status.erase("message");
      return;
    }
    for (const std::string& what : missing) {
      entry.repaired.push_back("release " + release.name + ": " + what);
    }
  }
  {
    std::lock_guard lock(mu_);
    auto it = failures_.find(failureKey);
    if (it != failures_.end() && it->second.digest == digest && it->second.remediated) {
      // Already failed and remediated for this very spec: wait for the spec to change.
      entry.failed = true;
      entry.message = it->second.message;
      return;
    }
  }
  auto upgraded =
      helm_.upgradeInstall(release.name, ns, ref, *values,
                           {.wait = release.wait, .timeout = release.timeout, .atomic = false});
  if (upgraded.ok()) {
    {
      std::lock_guard lock(mu_);
      failures_.erase(failureKey);
      deployed_[failureKey] = {digest, upgraded.value.revision};
    }
    entry.ready = true;
    entry.status.erase("message");
    entry.status["revision"] = upgraded.value.revision;
    entry.status["status"] = "deployed";
    entry.status["digest"] = digest;
    entry.status["version"] = upgraded.value.chartVersion;
    entry.notes.push_back({false, revision == 0 ? "ReleaseInstalled" : "ReleaseUpgraded",
                           (revision == 0 ? "installed " : "upgraded ") + release.name + " (" +
                               upgraded.value.chartName + " " + upgraded.value.chartVersion +
                               ") to revision " + std::to_string(upgraded.value.revision)});
    return;
  }
  Failure failure;
  {
    std::lock_guard lock(mu_);
    Failure& f = failures_[failureKey];
    if (f.digest != digest) f = Failure{digest, 0, false};
    ++f.attempts;
    failure = f;
  }
  entry.failed = true;
  entry.message = "chart " + chartLabel(release) + " of release " + release.name + " failed" +
                  (upgraded.result.timedOut ? " (timed out)" : "") + ": " +
                  upgraded.result.message();
  if (failure.attempts > release.remediation.retries) {
    std::string remedy;
    if (release.remediation.onFailure == Remediation::OnFailure::kRollback && revision > 0) {
      const helm::HelmResult back = helm_.rollback(release.name, ns, revision);
      remedy = back.ok ? "; rolled back to revision " + std::to_string(revision)
                       : "; rollback failed: " + back.message();
    } else if (release.remediation.onFailure == Remediation::OnFailure::kUninstall ||
               (release.remediation.onFailure == Remediation::OnFailure::kRollback &&
                revision == 0)) {
      const helm::HelmResult gone = helm_.uninstall(release.name, ns);
      remedy = gone.ok ? "; uninstalled" : "; uninstall failed: " + gone.message();
    }
    entry.message += " (after " + std::to_string(failure.attempts) + " attempts" + remedy + ")";
    std::lock_guard lock(mu_);
    failures_[failureKey].remediated = true;
    failures_[failureKey].message = entry.message;
  }
  entry.notes.push_back({true, "ReleaseFailed", entry.message});
  auto after = helm_.status(release.name, ns);
  if (after.ok()) {
    entry.status["revision"] = after.value.revision;
    entry.status["status"] = after.value.status;
  } else {
    entry.status["status"] = "failed";
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

  // Releases envop installed that the spec no longer names: uninstall them, and only them.
  for (const Json& p : previousReleases) {
    const std::string name = p.value("name", "");
    bool wanted = false;
    for (const ReleaseSpec& r : spec.releases) wanted = wanted || r.name == name;
    if (wanted || name.empty()) continue;
    const helm::HelmResult gone = helm_.uninstall(name, env.namespace_.name);
    if (gone.ok || gone.releaseNotFound) {
      report.notes.push_back(
          {false, "ReleaseUninstalled", "uninstalled release " + name + ", no longer in the spec"});
    } else {
      report.releases.push_back(p);  // keep tracking it until it is really gone
      report.state = State::kFailed;
      report.reason = "UninstallFailed";
      report.message = "uninstalling release " + name + ": " + gone.message();
    }
  }
  if (spec.releases.empty()) {
    references_.set(env.name, {});
    if (report.state == State::kNotConfigured && previousReleases.empty()) return report;
    if (report.state == State::kNotConfigured) report.state = State::kReady;
    report.summary = "0/0";
    return report;
  }

  auto plan = planReleases(spec.releases);
  if (auto* error = std::get_if<std::string>(&plan)) {
    report.state = State::kStalled;
    report.reason = "DependencyCycle";
    report.message = *error;
    return report;
  }
  const ReleasePlan& order = std::get<ReleasePlan>(plan);
  std::map<std::string, const ReleaseSpec*> byName;
  for (const ReleaseSpec& r : spec.releases) byName[r.name] = &r;

  std::map<std::string, Entry> entries;
  std::set<std::string> ready;
  std::set<std::string> failed;
  std::set<std::string> references;
  std::mutex referencesMu;
  for (const std::vector<std::string>& wave : order.waves()) {
    // Independent releases of a wave run side by side; each waits for its own helm.
    std::vector<std::future<void>> running;
    for (const std::string& name : wave) {
      Entry& entry = entries[name];
      const ReleaseSpec& release = *byName.at(name);
      if (release.suspend) {
        entry.status = {{"name", name},
                        {"chart", release.chart},
                        {"version", release.version},
                        {"status", "suspended"}};
        entry.ready = true;
        continue;
      }
      const std::string blocked = order.blockedMessage(name, ready, failed);
      if (!blocked.empty()) {
        entry.status = {{"name", name},
                        {"chart", release.chart},
                        {"version", release.version},
                        {"status", "waiting"},
                        {"message", blocked}};
        entry.message = blocked;
        continue;
      }
      running.push_back(std::async(std::launch::async, [&, name] {
        std::set<std::string> mine;
        try {
          process(env, spec, *byName.at(name), previousReleases, entries.at(name), mine);
        } catch (const std::exception& e) {
          entries.at(name).failed = true;
          entries.at(name).message = std::string("release ") + name + ": " + e.what();
        }
        std::lock_guard lock(referencesMu);
        references.insert(mine.begin(), mine.end());
      }));
    }
    for (auto& f : running) f.wait();
    for (const std::string& name : wave) {
      if (entries[name].ready) ready.insert(name);
      if (entries[name].failed || entries[name].stalled) failed.insert(name);
    }
  }
  references_.set(env.name, references);

  int readyCount = 0;
  report.state = State::kReady;
  for (const std::string& name : order.order()) {
    Entry& entry = entries[name];
    if (!entry.message.empty()) entry.status["message"] = entry.message;
    report.releases.push_back(entry.status);
    report.repaired.insert(report.repaired.end(), entry.repaired.begin(), entry.repaired.end());
    report.notes.insert(report.notes.end(), entry.notes.begin(), entry.notes.end());
    if (entry.ready) {
      ++readyCount;
      continue;
    }
    const State state = entry.stalled  ? State::kStalled
                        : entry.failed ? State::kFailed
                                       : State::kProgressing;
    if (static_cast<int>(state) > static_cast<int>(report.state)) {
      report.state = state;
      report.reason = entry.stalled  ? "ReleaseStalled"
                      : entry.failed ? "ReleaseFailed"
                                     : "ReleasesProgressing";
      report.message = entry.message;
    }
  }
  report.summary = std::to_string(readyCount) + "/" + std::to_string(spec.releases.size());
  return report;
}

}  // namespace envop::environment
