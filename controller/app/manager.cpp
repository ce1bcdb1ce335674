#include "controller/app/manager.h"

#include <prometheus/gauge.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "controller/app/cache_policy.h"
#include "controller/environment/environment_reconciler.h"
#include "controller/environment/releases_part.h"
#include "controller/environment/spec.h"
#include "controller/helm/helm_driver.h"
#include "controller/runtime/controller.h"
#include "controller/runtime/event_recorder.h"
#include "controller/runtime/informer.h"
#include "controller/runtime/leader_election.h"
#include "controller/server/http_server.h"
#include "controller/server/metrics_endpoint.h"
#include "controller/server/probes.h"

namespace envop::app {
namespace {

constexpr auto kDrainPeriod = std::chrono::seconds(30);
// Informers that keep few of a kind's objects read the whole kind of the cluster to find them,
// page by page: small pages so that what is parsed and thrown away at once stays small (a
// page of 500 Secrets left several MiB of heap behind it).
constexpr int kFilteredPageSize = 100;

// Starts one of the two servers unless its address is "0"; false when the bind fails.
bool serve(std::unique_ptr<server::HttpServer>& slot, const std::string& address, const char* what,
           const std::function<void(server::HttpServer&)>& routes) {
  if (address == "0") return true;
  slot = std::make_unique<server::HttpServer>(server::HttpServerOptions{.address = address});
  routes(*slot);
  if (auto error = slot->start()) {
    spdlog::critical("cannot serve {} on {}: {}", what, address, *error);
    return false;
  }
  spdlog::info("serving {} on {} (port {})", what, address, slot->port());
  return true;
}

// An update of an object with a generation that moved neither it nor its labels and
// annotations: a status write by the object's controller (a Deployment's pods coming and
// going), which is never drift and need not wake anything.
bool statusOnlyUpdate(const runtime::Delta& delta) {
  if (delta.type != runtime::Delta::Type::kUpdated || !delta.object || !delta.oldObject) {
    return false;
  }
  const kube::Json& now = (*delta.object)["metadata"];
  const kube::Json& before = (*delta.oldObject)["metadata"];
  if (!now.contains("generation") || !before.contains("generation")) return false;
  for (const char* key : {"generation", "labels", "annotations", "deletionTimestamp"}) {
    if (now.value(key, kube::Json()) != before.value(key, kube::Json())) return false;
  }
  return true;
}

}  // namespace

void blockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string controllerNamespace(const Options& options) {
  if (!options.namespace_.empty()) return options.namespace_;
  std::ifstream in(std::string(kube::kServiceAccountDir) + "/namespace");
  std::string ns;
  if (in && std::getline(in, ns) && !ns.empty()) return ns;
  return "envop-system";
}

int runManager(const Options& options, const kube::Config& config,
               const std::string& kubeconfigPath) {
  auto client = std::make_shared<kube::Client>(kube::makeTransport(config));
  const std::string ownNamespace = controllerNamespace(options);

  // Every informer strips on arrival what no reader needs (managedFields, kubectl's
  // last-applied copy of the object), so none of it sits in memory.
  runtime::Informer environments(client, {.resource = environment::environments(),
                                          .transform = stripManagedFieldsAndLastApplied,
                                          .resyncPeriod = std::chrono::hours(10)});
  // What envop owns, watched so that drift is seen as it happens rather than by
  // polling; only objects with envop's label are cached, never a whole kind. The Applier
  // judges drift by envop's own managedFields entry, so that one entry stays.
  std::vector<std::unique_ptr<runtime::Informer>> owned;
  std::map<std::string, runtime::StorePtr> ownedStores;
  for (const kube::Resource* r :
       {&kube::resources::namespaces(), &kube::resources::resourceQuotas(),
        &kube::resources::limitRanges(), &kube::resources::networkPolicies(),
        &kube::resources::services(), &kube::resources::endpointSlices()}) {
    owned.push_back(std::make_unique<runtime::Informer>(
        client,
        runtime::InformerOptions{.resource = *r,
                                 .labelSelector = std::string(environment::kManagedByLabel) + "=" +
                                                  environment::kManagedByValue,
                                 .transform = keepOnlyEnvopsManagedFields}));
    ownedStores[r->plural] = owned.back()->store();
  }
  environment::Applier applier(client, ownedStores);
  runtime::EventRecorder events(client);
  helm::HelmDriver helm(helm::HelmConfig{.helmBinary = options.helmBinary,
                                         .kubeconfig = kubeconfigPath,
                                         .stateDir = options.helmStateDir});
  environment::ValuesReferences valuesReferences;
  // Helm's release records, labels only: every release's revision and status without a
  // helm process and without the release payload in memory.
  std::vector<std::unique_ptr<runtime::Informer>> referenced;
  referenced.push_back(std::make_unique<runtime::Informer>(
      client, runtime::InformerOptions{.resource = kube::resources::secrets(),
                                       .labelSelector = environment::kHelmStorageSelector,
                                       .metadataOnly = true,
                                       .transform = stripManagedFieldsAndLastApplied}));
  runtime::Informer& helmStorage = *referenced.back();
  environment::ReleasesPart releases(client, helm, valuesReferences, helmStorage.store(),
                                     options.chartRecheckInterval);
  auto reconciler = std::make_shared<environment::EnvironmentReconciler>(environments.store(),
                                                                         applier, releases, events);
  runtime::Controller controller("environment", reconciler, options.maxConcurrentReconciles);
  controller.watchPrimary(environments);
  for (auto& informer : owned) {
    controller.watchSecondary(*informer, runtime::byLabel(environment::kEnvironmentLabel));
  }
  // An object in a stage's namespace belongs to the Environment of that namespace.
  runtime::Informer& namespaceInformer = *owned.front();
  const runtime::StorePtr namespaces = namespaceInformer.store();
  auto byNamespace = [namespaces](const runtime::Delta& delta) {
    std::vector<std::string> keys;
    if (statusOnlyUpdate(delta)) return keys;
    const runtime::ObjectPtr object = delta.object ? delta.object : delta.oldObject;
    if (!object) return keys;
    if (auto ns = namespaces->get(kube::namespaceOf(*object))) {
      if (std::string owner = environment::ownerOf(*ns); !owner.empty()) keys.push_back(owner);
    }
    return keys;
  };
  controller.watchSecondary(helmStorage, byNamespace);
  // ConfigMaps and Secrets: metadata only, so a change is seen without holding any
  // Secret's data in memory. A change wakes the Environments whose valuesFrom read it,
  // and, for one helm made, the Environment of its namespace (release drift). valuesFrom
  // lives in the stage namespace, so only the objects of Environments' namespaces and those
  // helm made are kept: the cluster's other ConfigMaps and Secrets are seen go by, never
  // cached. When a namespace becomes an Environment's (or stops being one), its objects are
  // judged again from a fresh list of that namespace.
  std::vector<runtime::Informer*> byEnvironmentNamespace;
  for (const kube::Resource* r : {&kube::resources::configMaps(), &kube::resources::secrets()}) {
    referenced.push_back(std::make_unique<runtime::Informer>(
        client, runtime::InformerOptions{.resource = *r,
                                         .metadataOnly = true,
                                         .keep = inEnvironmentNamespaceOrMadeByHelm(namespaces),
                                         .transform = stripManagedFieldsAndLastApplied,
                                         .watch = {.pageSize = kFilteredPageSize}}));
    byEnvironmentNamespace.push_back(referenced.back().get());
    controller.watchSecondary(*referenced.back(), [&valuesReferences, byNamespace,
                                                   kind = r->kind](const runtime::Delta& delta) {
      std::vector<std::string> keys = valuesReferences.environmentsReading(kind + "/" + delta.key);
      const runtime::ObjectPtr object = delta.object ? delta.object : delta.oldObject;
      if (object && madeByHelm(*object)) {
        for (std::string& k : byNamespace(delta)) keys.push_back(std::move(k));
      }
      return keys;
    });
  }
  namespaceInformer.addHandler([&byEnvironmentNamespace](const runtime::Delta& delta) {
    if (!namespaceOwnerChanged(delta)) return;
    const runtime::ObjectPtr object = delta.object ? delta.object : delta.oldObject;
    if (!object) return;
    for (runtime::Informer* informer : byEnvironmentNamespace) {
      informer->recheckNamespace(kube::nameOf(*object));
    }
  });
  // The other kinds charts are made of: a change or a delete of one helm made (it carries
  // helm's release annotation, whatever labels the chart gives it) is drift of its
  // release, seen as it happens. Metadata only, and only what helm made is kept.
  for (const kube::Resource* r :
       {&kube::resources::deployments(), &kube::resources::statefulSets(),
        &kube::resources::daemonSets(), &kube::resources::services(),
        &kube::resources::serviceAccounts(), &kube::resources::persistentVolumeClaims(),
        &kube::resources::cronJobs(), &kube::resources::ingresses()}) {
    referenced.push_back(std::make_unique<runtime::Informer>(
        client, runtime::InformerOptions{.resource = *r,
                                         .metadataOnly = true,
                                         .keep = madeByHelm,
                                         .transform = stripManagedFieldsAndLastApplied,
                                         .watch = {.pageSize = kFilteredPageSize}}));
    controller.watchSecondary(*referenced.back(), byNamespace);
  }
  auto allSynced = [&environments, &owned, &referenced]() -> std::optional<std::string> {
    if (!environments.hasSynced()) return std::string("the Environment cache has not synced");
    for (const auto* group : {&owned, &referenced}) {
      for (const auto& informer : *group) {
        if (!informer->hasSynced()) {
          return "the " + informer->resource().plural + " cache has not synced";
        }
      }
    }
    return std::nullopt;
  };

  server::Probes probes;
  probes.addHealthCheck("ping", [] { return std::optional<std::string>(); });
  probes.addReadinessCheck("informers-synced", allSynced);

  std::unique_ptr<server::HttpServer> metricsServer;
  std::unique_ptr<server::HttpServer> probeServer;
  if (!serve(metricsServer, options.metricsBindAddress, "metrics",
             [](server::HttpServer& s) { server::installMetricsEndpoint(s); }) ||
      !serve(probeServer, options.healthProbeBindAddress, "health probes",
             [&probes](server::HttpServer& s) { probes.install(s); })) {
    return 1;
  }

  // Caches run on every replica, so a standby is ready and takes over warm; only
  // the leader reconciles.
  environments.start();
  for (auto& informer : owned) informer->start();
  // The ConfigMap and Secret caches judge by the namespace cache: started once it is complete,
  // their first list sees every Environment's namespace, rather than each namespace being
  // listed again as it arrives (which stays correct, so the wait is bounded).
  const auto namespacesDeadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!namespaceInformer.hasSynced() && std::chrono::steady_clock::now() < namespacesDeadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& informer : referenced) informer->start();

  std::atomic<bool> lostLease{false};
  std::atomic<bool> shuttingDown{false};
  std::unique_ptr<runtime::LeaderElector> elector;
  if (options.leaderElect) {
    runtime::LeaderElectionConfig le{.leaseNamespace = options.leaderElectionNamespace.empty()
                                                           ? ownNamespace
                                                           : options.leaderElectionNamespace,
                                     .leaseName = options.leaderElectionId};
    elector = std::make_unique<runtime::LeaderElector>(
        client, le,
        runtime::LeaderCallbacks{
            .onStartedLeading =
                [&controller] {
                  spdlog::info("became the leader; starting the environment controller");
                  controller.start();
                },
            .onStoppedLeading =
                [&lostLease, &shuttingDown] {
                  if (shuttingDown.load()) return;  // our own release on the way out
                  // Another replica may be reconciling already: stop at once, as
                  // controller-runtime does, rather than risk two writers.
                  spdlog::error("lost the leader Lease; exiting");
                  lostLease.store(true);
                  kill(getpid(), SIGTERM);
                }});
    spdlog::info("waiting to become the leader (Lease {}/{}, identity {})", le.leaseNamespace,
                 le.leaseName, elector->identity());
    elector->start();
  } else {
    controller.start();
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int signal = 0;
  sigwait(&set, &signal);
  shuttingDown.store(true);
  if (!lostLease.load()) {
    spdlog::info("received {}; shutting down", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  }

  controller.stop(kDrainPeriod);
  environments.stop();
  for (auto& informer : owned) informer->stop();
  for (auto& informer : referenced) informer->stop();
  events.stop();
  if (elector) elector->stop();  // releases the Lease so a standby takes over at once
  if (probeServer) probeServer->stop();
  if (metricsServer) metricsServer->stop();
  spdlog::info("stopped");
  return lostLease.load() ? 1 : 0;
}

}  // namespace envop::app
