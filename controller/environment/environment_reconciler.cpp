#include "controller/environment/environment_reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "controller/environment/environment_metrics.h"
#include "controller/environment/field_reader.h"
#include "controller/environment/monitoring_metrics.h"

namespace envop::environment {
namespace {

using kube::Json;
using runtime::ReconcileResult;
using namespace std::chrono_literals;

// How soon to look again while a part converges on its own (a namespace terminating);
// watches usually wake us sooner.
constexpr auto kProgressRecheck = 5s;
// While only helm runs are in flight: each one's exit wakes the Environment, this is a
// safety net for nothing else.
constexpr auto kRunsRecheck = 1min;
// The longest a retryable failure waits for its next try, however far its exponential
// backoff has grown: the end of an outage outside the cluster (a registry, Harbor) comes
// with no watch event.
constexpr auto kFailedRecheckAtMost = 1min;
// How soon to look again at a Stalled Environment whose cause may go away without an
// edit to it (someone deletes the namespace that was in the way).
constexpr auto kStalledRecheck = 5min;

// metadata.generation, or 0 when it is not a whole number (a spec that failed to parse).
std::int64_t generationOf(const Json& object) {
  FieldReader r;
  return r.integer(r.object(object, "metadata", "metadata"), "generation", "", 0);
}

// `interval` plus up to a tenth more, at random.
util::Duration jittered(std::chrono::seconds interval) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(interval).count();
  std::uniform_int_distribution<std::int64_t> extra(0, std::max<std::int64_t>(ms / 10, 0));
  return std::chrono::milliseconds(ms + extra(rng));
}

// A part that was not looked at this time, as the last status said it was.
PartOutcome carriedOver(const Json& previousStatus, std::string_view part) {
  PartOutcome out{.part = std::string(part)};
  const std::string type = partConditionType(part);
  const Json conditions = previousStatus.is_object()
                              ? previousStatus.value("conditions", Json::array())
                              : Json::array();
  for (const Json& c : conditions) {
    if (!c.is_object() || c.value("type", "") != type) continue;
    out.state = c.value("status", "") == "True" ? PartOutcome::State::kReady
                                                : PartOutcome::State::kProgressing;
    out.reason = c.value("reason", "");
    out.message = c.value("message", "");
  }
  return out;
}

std::string logPrefix(const runtime::ReconcileRequest& request) {
  return "controller=environment environment=" + request.key +
         " reconcileID=" + request.reconcileId;
}

// The sooner of two optional rechecks.
std::optional<util::Duration> sooner(std::optional<util::Duration> a,
                                     std::optional<util::Duration> b) {
  if (!b) return a;
  if (!a || *b < *a) return b;
  return a;
}

}  // namespace

const kube::Resource& environments() {
  static const kube::Resource r{"envop.io", "v1alpha1", "environments", "Environment", false};
  return r;
}

EnvironmentReconciler::EnvironmentReconciler(runtime::StorePtr environments, Applier& applier,
                                             ReleasesPart& releases, runtime::EventRecorder& events,
                                             RegistryPart* registry, MonitoringPart* monitoring,
                                             ReleaseRights rights)
    : environments_(std::move(environments)),
      applier_(applier),
      namespacePart_(applier, rights),
      externalServicesPart_(applier, rights),
      releasesPart_(releases),
      events_(events),
      registryPart_(registry),
      monitoringPart_(monitoring) {}

bool EnvironmentReconciler::addFinalizer(const Json& object, std::string& error,
                                         Json& patchedObject) {
  const Json metadata = object.value("metadata", Json::object());
  // The test on resourceVersion makes this lose, not clobber, against a concurrent edit.
  Json patch = Json::array({{{"op", "test"},
                             {"path", "/metadata/resourceVersion"},
                             {"value", metadata["resourceVersion"]}}});
  if (metadata.contains("finalizers") && metadata["finalizers"].is_array()) {
    patch.push_back({{"op", "add"}, {"path", "/metadata/finalizers/-"}, {"value", kFinalizer}});
  } else {
    patch.push_back(
        {{"op", "add"}, {"path", "/metadata/finalizers"}, {"value", Json::array({kFinalizer})}});
  }
  auto patched = applier_.client().patch(environments(), "", kube::nameOf(object),
                                         kube::PatchType::kJson, patch);
  if (!patched) {
    error = "adding finalizer: " + patched.error().describe();
    return false;
  }
  patchedObject = std::move(patched.value());
  return true;
}

bool EnvironmentReconciler::removeFinalizer(const Json& object, std::string& error) {
  const Json finalizers =
      object.value("metadata", Json::object()).value("finalizers", Json::array());
  for (size_t i = 0; i < finalizers.size(); ++i) {
    if (finalizers[i] != kFinalizer) continue;
    // Only our own entry, and only if it is still where we saw it.
    const std::string path = "/metadata/finalizers/" + std::to_string(i);
    const Json patch = Json::array({{{"op", "test"}, {"path", path}, {"value", kFinalizer}},
                                    {{"op", "remove"}, {"path", path}}});
    auto patched = applier_.client().patch(environments(), "", kube::nameOf(object),
                                           kube::PatchType::kJson, patch);
    if (!patched && !patched.error().isNotFound()) {
      error = "removing finalizer: " + patched.error().describe();
      return false;
    }
    return true;
  }
  return true;
}

std::string EnvironmentReconciler::publish(const Json& object, const StatusInput& input) {
  StatusResult result = computeStatus(input);
  const std::string stage = object.value("spec", Json::object()).value("stage", "");
  recordEnvironmentStatus(kube::nameOf(object), stage, result.status);
  if (result.changed) {
    kube::Client& client = applier_.client();
    auto written =
        client.update(environments(), statusReplacement(object, result.status), "status");
    if (!written && written.error().isConflict()) {
      // The cached object is behind the server (our own last status write not seen yet, or a
      // write of someone else's): compute again from the server's status, and write only if
      // that still differs.
      auto fresh = client.get(environments(), "", kube::nameOf(object));
      if (!fresh) {
        if (fresh.error().isNotFound()) return "";
        return "reading status: " + fresh.error().describe();
      }
      StatusInput again = input;
      again.previous = fresh.value().value("status", Json());
      result = computeStatus(again);
      if (result.changed) {
        written = client.update(environments(), statusReplacement(fresh.value(), result.status),
                                "status");
      } else {
        written = fresh;
      }
    }
    if (!written && !written.error().isNotFound()) {
      return "writing status: " + written.error().describe();
    }
    if (written) {
      const std::string before = runtime::resourceVersionOf(object);
      if (runtime::resourceVersionOf(written.value()) != before) {
        std::lock_guard lock(writtenMu_);
        written_[kube::nameOf(object)] = {before,
                                          std::make_shared<const Json>(std::move(written.value()))};
      }
    }
  }
  for (const ConditionEvent& e : eventsFor(result.transitions)) {
    events_.record(object, e.warning ? "Warning" : "Normal", e.reason, "Reconcile", e.note);
  }
  return "";
}

ReconcileResult EnvironmentReconciler::finalize(const Json& object, const EnvironmentSpec& env,
                                                const runtime::ReconcileRequest& request) {
  if (!env.hasFinalizer) return ReconcileResult::done();  // nothing of ours holds it
  // Its helm runs end before anything else is let go. Queued ones are dropped; running ones
  // are killed when the namespace goes with the Environment (their work goes with it), and
  // waited for when it stays, so that what is retained is a settled release rather than a
  // pending-* lock nobody will ever take. Each run's exit wakes this Environment again.
  const bool namespaceGoes =
      !env.suspend && env.namespace_.deletionPolicy == DeletionPolicy::kDelete;
  if (const int running = releasesPart_.stopRuns(env, namespaceGoes); running > 0) {
    const std::string what = std::to_string(running) + " helm run(s) of its releases " +
                             (namespaceGoes ? "being cancelled" : "finishing");
    StatusInput input{.generation = env.generation,
                      .deleting = true,
                      .namespaceName = env.namespace_.name,
                      .parts = {carriedOver(object.value("status", Json()), kPartNamespace),
                                carriedOver(object.value("status", Json()), kPartExternalServices),
                                carriedOver(object.value("status", Json()), kPartMonitoring),
                                PartOutcome{.part = std::string(kPartReleases),
                                            .state = PartOutcome::State::kProgressing,
                                            .reason = "WaitingForHelmRuns",
                                            .message = "deleting: waiting for " + what}},
                      .previous = object.value("status", Json()),
                      .now = std::chrono::system_clock::now()};
    if (env.registry && registryPart_ != nullptr) {
      input.parts.push_back(carriedOver(input.previous, kPartRegistry));
    }
    if (std::string error = publish(object, input); !error.empty()) {
      return ReconcileResult::failed(error);
    }
    spdlog::info("{} deleting: waiting for {}", logPrefix(request), what);
    return ReconcileResult::requeue(kProgressRecheck);
  }
  if (env.suspend) {
    // Flux's rule for a suspended object: it is let go as it is. Nothing is deleted or
    // disowned, whatever the deletionPolicy says; resuming first is how to have it applied.
    events_.record(object, "Normal", "DeletedWhileSuspended", "Finalize",
                   "spec.suspend is true: envop removed its finalizer and deleted nothing; "
                   "namespace " +
                       env.namespace_.name + " and everything envop made stay as they are");
    std::string error;
    if (!removeFinalizer(object, error)) return ReconcileResult::failed(error);
    releasesPart_.forget(env);
    spdlog::info("{} finalized while suspended; nothing deleted", logPrefix(request));
    return ReconcileResult::done();
  }
  const NamespaceReport ns = namespacePart_.finalize(env);
  PartReport ext(kPartExternalServices);
  ext.state = PartOutcome::State::kNotConfigured;
  // Only once the namespace could be read: whether it is retained decides for these too.
  if (ns.retain) ext = externalServicesPart_.finalize(env, *ns.retain);
  RegistryReport registry;
  registry.state = PartOutcome::State::kNotConfigured;
  if (ns.retain && registryPart_ != nullptr) {
    registry = registryPart_->finalize(env, *ns.retain);
    for (const RegistryReport::Note& note : registry.notes) {
      events_.record(object, note.warning ? "Warning" : "Normal", note.reason, "Finalize",
                     note.text);
    }
  } else if (registryPart_ != nullptr && env.registry) {
    registry.state = PartOutcome::State::kProgressing;  // waits for the namespace's answer
  }
  const auto finished = [](const PartOutcome& p) {
    return p.state == PartOutcome::State::kReady || p.state == PartOutcome::State::kNotConfigured;
  };
  PartReport mon(kPartMonitoring);
  mon.state = PartOutcome::State::kNotConfigured;
  if (ns.retain && monitoringPart_ != nullptr) mon = monitoringPart_->finalize(env, *ns.retain);
  if (finished(ns) && finished(ext) && finished(registry) && finished(mon)) {
    std::string error;
    // Last: every part above needed the rights to let go of what it had in the namespace.
    if (ns.retain && *ns.retain) error = namespacePart_.dropReleaseRights(env);
    if (!error.empty()) return ReconcileResult::failed(error);
    if (!removeFinalizer(object, error)) return ReconcileResult::failed(error);
    releasesPart_.forget(env);
    if (registryPart_ != nullptr) registryPart_->forget(env);
    forgetEnvironmentSignals(env.name);
    spdlog::info("{} finalized; namespace {} handled per deletionPolicy {}", logPrefix(request),
                 env.namespace_.name,
                 env.namespace_.deletionPolicy == DeletionPolicy::kRetain ? "Retain" : "Delete");
    return ReconcileResult::done();
  }
  StatusInput input{.generation = env.generation,
                    .deleting = true,
                    .namespaceName = env.namespace_.name,
                    .parts = {ns, ext, mon},
                    .previous = object.value("status", Json()),
                    .now = std::chrono::system_clock::now()};
  if (registry.state != PartOutcome::State::kNotConfigured) input.parts.push_back(registry);
  if (std::string error = publish(object, input); !error.empty()) {
    return ReconcileResult::failed(error);
  }
  if (!finished(registry) && registry.recheckAfter && ns.state <= registry.state &&
      ext.state <= registry.state && mon.state <= registry.state) {
    // Harbor's answer will not change with a quick retry (repositories left in a project).
    return ReconcileResult::requeue(*registry.recheckAfter);
  }
  const PartOutcome* worstPart = &ns;
  for (const PartOutcome* p :
       {static_cast<const PartOutcome*>(&ext), static_cast<const PartOutcome*>(&mon)}) {
    if (p->state > worstPart->state) worstPart = p;
  }
  const PartOutcome& worst = *worstPart;
  if (registry.state > worst.state) {
    if (registry.state == PartOutcome::State::kProgressing) {
      return ReconcileResult::requeue(kProgressRecheck);
    }
    return ReconcileResult::failed(registry.message);
  }
  if (worst.state == PartOutcome::State::kProgressing) {
    return ReconcileResult::requeue(kProgressRecheck);
  }
  return ReconcileResult::failed(worst.message);
}

ReconcileResult EnvironmentReconciler::observe(const Json& object, const EnvironmentSpec& env,
                                               StatusInput input,
                                               const runtime::ReconcileRequest& request) {
  const NamespaceReport ns = namespacePart_.observe(env);
  const PartReport ext = externalServicesPart_.observe(env);
  for (const PartReport* part : std::initializer_list<const PartReport*>{&ns, &ext}) {
    for (const std::string& what : part->drift) {
      spdlog::info("{} suspended, drift left as it is: {}", logPrefix(request), what);
    }
  }
  input.parts.push_back(ns);
  input.parts.push_back(ext);
  // Observing releases would take helm processes and chart lookups: they keep what the last
  // reconcile found.
  input.parts.push_back(carriedOver(input.previous, kPartReleases));
  if (env.registry && registryPart_ != nullptr) {
    input.parts.push_back(carriedOver(input.previous, kPartRegistry));
  }
  input.parts.push_back(carriedOver(input.previous, kPartMonitoring));
  if (std::string error = publish(object, input); !error.empty()) {
    return ReconcileResult::failed(error);
  }
  // Watches of envop's objects bring the next look; only a failed read needs another try.
  for (const PartOutcome& part : input.parts) {
    if (part.state == PartOutcome::State::kFailed) {
      return ReconcileResult::failedRetryWithin(part.message, kFailedRecheckAtMost);
    }
  }
  return ReconcileResult::done();
}

void EnvironmentReconciler::observe(const runtime::Delta& delta) {
  std::lock_guard lock(writtenMu_);
  auto it = written_.find(delta.key);
  if (it == written_.end()) return;
  if (delta.type == runtime::Delta::Type::kDeleted || !delta.object ||
      runtime::resourceVersionOf(*delta.object) != it->second.resourceVersionBefore) {
    written_.erase(it);
  }
}

runtime::ObjectPtr EnvironmentReconciler::newest(const std::string& key,
                                                 runtime::ObjectPtr cached) {
  std::lock_guard lock(writtenMu_);
  auto it = written_.find(key);
  if (it == written_.end()) return cached;
  if (cached && runtime::resourceVersionOf(*cached) == it->second.resourceVersionBefore) {
    return it->second.object;
  }
  written_.erase(it);
  return cached;
}

ReconcileResult EnvironmentReconciler::reconcile(const runtime::ReconcileRequest& request) {
  const runtime::ObjectPtr cached = newest(request.key, environments_->get(request.key));
  if (!cached) {  // deleted, and finalized before that
    forgetEnvironmentStatus(request.key);
    return ReconcileResult::done();
  }
  return reconcileObject(*cached, request);
}

ReconcileResult EnvironmentReconciler::reconcileObject(const Json& object,
                                                       const runtime::ReconcileRequest& request) {
  auto parsed = parseEnvironment(object);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    StatusInput input{.generation = generationOf(object),
                      .parts = {PartOutcome{.part = std::string(kPartNamespace),
                                            .state = PartOutcome::State::kStalled,
                                            .reason = "InvalidSpec",
                                            .message = *error}},
                      .previous = object.value("status", Json()),
                      .now = std::chrono::system_clock::now()};
    publish(object, input);
    return ReconcileResult::terminalError(*error);
  }
  const EnvironmentSpec& env = std::get<EnvironmentSpec>(parsed);
  if (env.deleting) return finalize(object, env, request);

  if (!env.hasFinalizer) {
    // Before anything is created, so that nothing can outlive the Environment unseen.
    std::string error;
    Json patched;
    if (!addFinalizer(object, error, patched)) return ReconcileResult::failed(error);
    // Go on with the object as the patch left it: the status write then carries its
    // resourceVersion, not the cached one the patch has just made stale (which cost every new
    // Environment a conflict, a read and a second status write).
    if (patched.is_object() && !patched.empty()) return reconcileObject(patched, request);
  }

  StatusInput input{.generation = env.generation,
                    .suspended = env.suspend,
                    .namespaceName = env.namespace_.name,
                    .previous = object.value("status", Json()),
                    .now = std::chrono::system_clock::now()};
  if (env.suspend) return observe(object, env, std::move(input), request);
  // Nothing is written for a spec that cannot be carried out as a whole: a cycle added
  // together with a new quota leaves the quota as it was.
  if (std::optional<PartOutcome> stop = releasesPart_.validate(env, object)) {
    input.parts.push_back(carriedOver(input.previous, kPartNamespace));
    input.parts.push_back(carriedOver(input.previous, kPartExternalServices));
    if (env.registry && registryPart_ != nullptr) {
      input.parts.push_back(carriedOver(input.previous, kPartRegistry));
    }
    input.parts.push_back(carriedOver(input.previous, kPartMonitoring));
    input.parts.push_back(*stop);
    if (std::string error = publish(object, input); !error.empty()) {
      return ReconcileResult::failed(error);
    }
    spdlog::warn("{} stalled, nothing applied: {}", logPrefix(request), stop->message);
    return ReconcileResult::requeue(kStalledRecheck);
  }
  const NamespaceReport ns = namespacePart_.reconcile(env);
  const PartReport ext = externalServicesPart_.reconcile(env);
  for (const PartReport* part : std::initializer_list<const PartReport*>{&ns, &ext}) {
    for (const std::string& what : part->repaired) {
      events_.record(object, "Normal", "DriftRepaired", "Apply",
                     what + " had been changed or deleted outside envop; restored");
      spdlog::info("{} repaired drift: {}", logPrefix(request), what);
    }
  }
  input.parts.push_back(ns);
  input.parts.push_back(ext);
  // Harbor before the releases: their charts may come from it, pulled as the robot.
  std::optional<util::Duration> recheck;
  if (registryPart_ != nullptr) {
    RegistryReport registry = registryPart_->reconcile(env, ns.usable);
    for (const RegistryReport::Note& note : registry.notes) {
      events_.record(object, note.warning ? "Warning" : "Normal", note.reason, "Harbor", note.text);
      spdlog::info("{} {}: {}", logPrefix(request), note.reason, note.text);
    }
    if (registry.state == PartOutcome::State::kNotConfigured) {
      input.partFields["registry"] = nullptr;
    } else if (!registry.status.is_null()) {
      input.partFields["registry"] = registry.status;
    }
    recheck = sooner(recheck, registry.recheckAfter);
    input.parts.push_back(std::move(registry));
  }
  // Releases need their namespace, and nothing else of the other parts: a failed guardrail
  // or a clash in `ext` degrades the stage but leaves its workloads running and updated.
  // Without a namespace they keep what the last reconcile found.
  bool releasesWaitOnRuns = false;
  if (ns.usable) {
    const Json previous = object.value("status", Json::object()).value("releases", Json());
    ReleasesReport releases = releasesPart_.reconcile(env, object, previous);
    for (const std::string& what : releases.repaired) {
      events_.record(object, "Normal", "DriftRepaired", "Upgrade",
                     what + " outside envop; put back as the chart has it");
      spdlog::info("{} repaired drift: {}", logPrefix(request), what);
    }
    for (const ReleasesReport::Note& note : releases.notes) {
      events_.record(object, note.warning ? "Warning" : "Normal", note.reason, "Helm", note.text);
    }
    if (releases.state != PartOutcome::State::kNotConfigured) {
      input.partFields["releases"] = releases.releases;
      input.partFields["releaseSummary"] = releases.summary;
    } else {
      input.partFields["releases"] = nullptr;
      input.partFields["releaseSummary"] = nullptr;
    }
    releasesWaitOnRuns = releases.waitsOnRuns;
    input.parts.push_back(std::move(releases));
  } else {
    input.parts.push_back(carriedOver(input.previous, kPartReleases));
  }
  // Monitoring goes last and needs only the namespace: a monitoring failure (a missing CRD, a
  // refused ServiceMonitor) degrades MonitoringReady and nothing else.
  if (monitoringPart_ != nullptr && ns.usable) {
    MonitoringReport monitoring = monitoringPart_->reconcile(env);
    for (const std::string& what : monitoring.repaired) {
      events_.record(object, "Normal", "DriftRepaired", "Apply",
                     what + " had been changed or deleted outside envop; restored");
      spdlog::info("{} repaired drift: {}", logPrefix(request), what);
    }
    input.partFields["monitoring"] = monitoring.status;
    input.parts.push_back(std::move(monitoring));
  } else {
    input.parts.push_back(carriedOver(input.previous, kPartMonitoring));
  }
  // The gauges the system alerts read (envop_release_failed, the pull secret's expiry), from
  // the status about to be written.
  Json signals = input.previous.is_object() ? input.previous : Json::object();
  for (const auto& [field, value] : input.partFields.items()) signals[field] = value;
  recordEnvironmentSignals(env.name, signalsFrom(signals));
  if (std::string error = publish(object, input); !error.empty()) {
    return ReconcileResult::failed(error);
  }
  PartOutcome::State worst = PartOutcome::State::kReady;
  std::string worstMessage;
  for (const PartOutcome& part : input.parts) worst = std::max(worst, part.state);
  for (const PartOutcome& part : input.parts) {
    if (part.state == worst) worstMessage = part.message;
  }
  const bool hasReleases = std::any_of(input.parts.begin(), input.parts.end(), [](auto& p) {
    return p.part == kPartReleases && p.state != PartOutcome::State::kNotConfigured;
  });
  // Progressing only on helm runs: their exits wake it, so no 5 s polling for their minutes.
  const bool waitsOnRunsOnly =
      releasesWaitOnRuns &&
      std::none_of(input.parts.begin(), input.parts.end(), [](const PartOutcome& p) {
        return p.part != kPartReleases && p.state == PartOutcome::State::kProgressing;
      });
  switch (worst) {
    case PartOutcome::State::kNotConfigured:
    case PartOutcome::State::kReady:
      // In sync, looked at again when the first of these comes due, none of which a watch event
      // announces: a robot rotation or revocation, and the chart recheck interval (jittered, so
      // that the stages of a cluster do not all ask the registry at once).
      if (hasReleases) recheck = sooner(recheck, jittered(releasesPart_.recheckInterval()));
      return recheck ? ReconcileResult::requeue(*recheck) : ReconcileResult::done();
    case PartOutcome::State::kProgressing: {
      const util::Duration poll = waitsOnRunsOnly ? kRunsRecheck : kProgressRecheck;
      return ReconcileResult::requeue(std::min<util::Duration>(poll, recheck.value_or(poll)));
    }
    case PartOutcome::State::kFailed:
      return ReconcileResult::failedRetryWithin(
          worstMessage,
          std::min<util::Duration>(kFailedRecheckAtMost, recheck.value_or(kFailedRecheckAtMost)));
    case PartOutcome::State::kStalled:
      spdlog::warn("{} stalled: {}", logPrefix(request), worstMessage);
      return ReconcileResult::requeue(
          std::min<util::Duration>(kStalledRecheck, recheck.value_or(kStalledRecheck)));
  }
  return ReconcileResult::done();
}

}  // namespace envop::environment
