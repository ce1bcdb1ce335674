#include "controller/app/manager.h"

#include <prometheus/gauge.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "controller/app/cache_policy.h"
#include "controller/app/write_fence.h"
#include "controller/environment/environment_reconciler.h"
#include "controller/environment/http_sd.h"
#include "controller/environment/monitoring_mode.h"
#include "controller/environment/monitoring_part.h"
#include "controller/environment/monitoring_sd_source.h"
#include "controller/environment/registry_part.h"
#include "controller/environment/releases_part.h"
#include "controller/environment/spec.h"
#include "controller/helm/helm_driver.h"
#include "controller/helm/helm_process.h"
#include "controller/runtime/controller.h"
#include "controller/runtime/event_recorder.h"
#include "controller/runtime/informer.h"
#include "controller/runtime/leader_election.h"
#include "controller/server/http_sd_endpoint.h"
#include "controller/server/http_server.h"
#include "controller/server/metrics_endpoint.h"
#include "controller/server/probes.h"
// The Harbor client arrives in its own branch; until it is merged the registry part reports
// HarborClientUnavailable rather than the build failing.
#if __has_include("controller/harbor/harbor_client.h")
#include "controller/harbor/harbor_client.h"
#define ENVOP_HAS_HARBOR_CLIENT 1
#endif

namespace envop::app {
namespace {

using Clock = std::chrono::steady_clock;

long millisecondsSince(Clock::time_point start) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

// Stops the process now, from any thread: kills every helm child's process group (what helm
// spawned too), keeps every reconcile that was waiting on one from acting on its result, and
// exits without destructors, so no thread gets to write to the cluster on its way out.
[[noreturn]] void exitNow(const std::string& why, Clock::time_point since) {
  const int killed = helm::killChildrenForExit();
  spdlog::error("{}; killed {} running helm process group(s); exiting after {} ms", why, killed,
                millisecondsSince(since));
  spdlog::default_logger()->flush();
  std::_Exit(1);
}

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
  const kube::TransportPtr transport = kube::makeTransport(config);
  // With leader election, everything but the elector writes through a fence that shuts the
  // moment this replica cannot be sure it still holds the Lease, and so does helm.
  std::atomic<runtime::LeaderElector*> leader{nullptr};
  auto mayWrite = [&leader] {
    const runtime::LeaderElector* elector = leader.load();
    return elector != nullptr && elector->holdsLease();
  };
  auto client = std::make_shared<kube::Client>(
      options.leaderElect ? std::make_shared<FencedTransport>(transport, mayWrite) : transport);
  if (options.leaderElect) helm::setStartGate(mayWrite);
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
        &kube::resources::services(), &kube::resources::endpointSlices(),
        &kube::resources::configMaps(), &environment::roleBindings()}) {
    owned.push_back(std::make_unique<runtime::Informer>(
        client,
        runtime::InformerOptions{.resource = *r,
                                 .labelSelector = std::string(environment::kManagedByLabel) + "=" +
                                                  environment::kManagedByValue,
                                 .transform = keepOnlyEnvopsManagedFields,
                                 .indexLabel = environment::kEnvironmentLabel}));
    ownedStores[r->plural] = owned.back()->store();
  }
  // The Prometheus Operator's kinds envop writes, watched like the rest of what it owns, so
  // that a ServiceMonitor a human deletes is put back at once. Their CRDs may be missing: each
  // informer starts only once its CRD is served (the CRD watch below says when), so a cluster
  // without the operator sees no failing list.
  std::vector<std::unique_ptr<runtime::Informer>> monitoringKinds;
  for (const kube::Resource* r : {&environment::serviceMonitors(), &environment::podMonitors(),
                                  &environment::prometheusRules()}) {
    monitoringKinds.push_back(std::make_unique<runtime::Informer>(
        client,
        runtime::InformerOptions{.resource = *r,
                                 .labelSelector = std::string(environment::kManagedByLabel) + "=" +
                                                  environment::kManagedByValue,
                                 .transform = keepOnlyEnvopsManagedFields,
                                 .indexLabel = environment::kEnvironmentLabel}));
    ownedStores[r->plural] = monitoringKinds.back()->store();
  }
  std::array<std::atomic<bool>, 3> monitoringKindStarted{};
  environment::Applier applier(client, ownedStores);
  // First of their handlers, before those that requeue an Environment: a reconcile woken by
  // a change finds the Applier knowing of it (Applier::observe).
  for (auto* group : {&owned, &monitoringKinds}) {
    for (auto& informer : *group) {
      informer->addHandler([&applier, &resource = informer->resource()](const runtime::Delta& d) {
        applier.observe(resource, d);
      });
    }
  }
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
  // Helm runs go here, not on a reconcile worker; each one's exit requeues its Environment.
  environment::ReleaseRunner helmRuns(options.maxConcurrentHelm);
  environment::ReleasesPart releases(
      client, helm, valuesReferences, helmStorage.store(), options.chartRecheckInterval,
      [&helmStorage] { return helmStorage.hasSynced(); }, &helmRuns);
#ifdef ENVOP_HAS_HARBOR_CLIENT
  harbor::HarborApiFactory harborFactory = harbor::defaultHarborFactory();
#else
  harbor::HarborApiFactory harborFactory;
#endif
  environment::RegistryPart registry(
      client, applier, environments.store(), harborFactory,
      {.controllerNamespace = ownNamespace, .harborRecheck = options.harborRecheckInterval});
  // Monitoring. The Prometheus Operator's CRDs are watched, not probed: one installed or
  // removed while envop runs wakes every Environment with monitoring, so mode Auto switches
  // at once (well within the minute the contract allows), without a restart. Full objects,
  // each slimmed on arrival (a CRD's schema is most of its bytes), in small pages.
  referenced.push_back(std::make_unique<runtime::Informer>(
      client, runtime::InformerOptions{.resource = kube::resources::customResourceDefinitions(),
                                       .keep = environment::isPrometheusOperatorCrd,
                                       .transform = environment::slimCrd,
                                       .watch = {.pageSize = 10}}));
  const runtime::StorePtr operatorCrds = referenced.back()->store();
  auto operatorApis = [operatorCrds] {
    return environment::operatorApisFrom(operatorCrds->list());
  };
  runtime::Informer& crdInformer = *referenced.back();
  crdInformer.addHandler(
      [&monitoringKinds, &monitoringKindStarted, operatorCrds](const runtime::Delta&) {
        const environment::OperatorApis apis = environment::operatorApisFrom(operatorCrds->list());
        const bool served[] = {apis.serviceMonitors, apis.podMonitors, apis.prometheusRules};
        for (std::size_t i = 0; i < monitoringKinds.size(); ++i) {
          if (served[i] && !monitoringKindStarted[i].exchange(true)) monitoringKinds[i]->start();
        }
      });
  // HTTP SD reads Services, EndpointSlices and Pods of the Environments' namespaces from
  // caches of their own, slimmed to what it reads; the rest of the cluster is never cached.
  const NamespaceClaimed claimed = [&applier](const std::string& ns) {
    return applier.applied(kube::resources::namespaces(), "", ns);
  };
  const auto keepIfInEnvironmentNamespace = inEnvironmentNamespace(owned.front()->store(), claimed);
  std::vector<runtime::Informer*> discovery;
  for (const auto& [r, slim] :
       std::vector<std::pair<const kube::Resource*, std::function<void(kube::Json&)>>>{
           {&kube::resources::services(), stripManagedFieldsAndLastApplied},
           {&kube::resources::endpointSlices(), environment::slimEndpointSliceForServiceDiscovery},
           {&kube::resources::pods(), environment::slimPodForServiceDiscovery}}) {
    referenced.push_back(std::make_unique<runtime::Informer>(
        client, runtime::InformerOptions{.resource = *r,
                                         .metadataOnly = r == &kube::resources::services(),
                                         .keep = keepIfInEnvironmentNamespace,
                                         .transform = slim,
                                         .watch = {.pageSize = kFilteredPageSize}}));
    discovery.push_back(referenced.back().get());
  }
  environment::ServiceDiscoverySource serviceDiscovery(environments.store(), discovery[0]->store(),
                                                       discovery[1]->store(), discovery[2]->store(),
                                                       operatorApis);
  environment::MonitoringPart monitoring(
      applier, operatorApis, [&serviceDiscovery](const environment::EnvironmentSpec& env) {
        return serviceDiscovery.targetCount(env);
      });
  auto reconciler = std::make_shared<environment::EnvironmentReconciler>(
      environments.store(), applier, releases, events, &registry, &monitoring,
      environment::ReleaseRights{.clusterRole = options.releaseClusterRole,
                                 .serviceAccountNamespace = ownNamespace,
                                 .serviceAccountName = options.serviceAccountName});
  runtime::Controller controller("environment", reconciler, options.maxConcurrentReconciles);
  helmRuns.setNotify([&controller](const std::string& key) { controller.queue().add(key); });
  // Before the controller's handler (EnvironmentReconciler::observe).
  environments.addHandler([&reconciler](const runtime::Delta& d) { reconciler->observe(d); });
  controller.watchPrimary(environments);
  controller.watchSecondary(crdInformer, [store = environments.store()](const runtime::Delta&) {
    std::vector<std::string> keys;
    for (const runtime::ObjectPtr& env : store->list()) {
      if (env->value("spec", kube::Json::object()).contains("monitoring")) {
        keys.push_back(kube::nameOf(*env));
      }
    }
    return keys;
  });
  for (auto* group : {&owned, &monitoringKinds}) {
    for (auto& informer : *group) {
      controller.watchSecondary(*informer, runtime::byLabel(environment::kEnvironmentLabel));
    }
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
    auto keep = inEnvironmentNamespaceOrMadeByHelm(namespaces, claimed);
    if (r == &kube::resources::secrets()) {
      // Harbor's credentials and CA live in the controller's own namespace: a change of them
      // wakes the Environments that log in with them (a fixed password ends HarborUnauthorized).
      keep = [keep, ownNamespace](const kube::Json& object) {
        return keep(object) || kube::namespaceOf(object) == ownNamespace;
      };
    }
    referenced.push_back(std::make_unique<runtime::Informer>(
        client, runtime::InformerOptions{.resource = *r,
                                         .metadataOnly = true,
                                         .keep = keep,
                                         .transform = stripManagedFieldsAndLastApplied,
                                         .watch = {.pageSize = kFilteredPageSize}}));
    byEnvironmentNamespace.push_back(referenced.back().get());
    controller.watchSecondary(*referenced.back(), [&valuesReferences, &registry, byNamespace,
                                                   kind = r->kind](const runtime::Delta& delta) {
      std::vector<std::string> keys = valuesReferences.environmentsReading(kind + "/" + delta.key);
      for (std::string& k : registry.environmentsReading(kind + "/" + delta.key)) {
        keys.push_back(std::move(k));
      }
      const runtime::ObjectPtr object = delta.object ? delta.object : delta.oldObject;
      if (object && madeByHelm(*object)) {
        for (std::string& k : byNamespace(delta)) keys.push_back(std::move(k));
      }
      // A pull Secret envop wrote, changed or deleted by someone: put back.
      if (object && kind == "Secret") {
        if (std::string owner = environment::ownerOf(*object); !owner.empty()) {
          keys.push_back(std::move(owner));
        }
      }
      return keys;
    });
  }
  for (runtime::Informer* informer : discovery) byEnvironmentNamespace.push_back(informer);
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
        &kube::resources::cronJobs(), &kube::resources::jobs(), &kube::resources::ingresses(),
        &kube::resources::podDisruptionBudgets(), &kube::resources::horizontalPodAutoscalers()}) {
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
             [&serviceDiscovery](server::HttpServer& s) {
               server::installMetricsEndpoint(s);
               server::installHttpSdEndpoint(
                   s, [&serviceDiscovery](const std::optional<std::string>& environment) {
                     return serviceDiscovery.groups(environment).dump();
                   });
             }) ||
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

  std::atomic<bool> releasing{false};
  std::unique_ptr<runtime::LeaderElector> elector;
  if (options.leaderElect) {
    runtime::LeaderElectionConfig le{.leaseNamespace = options.leaderElectionNamespace.empty()
                                                           ? ownNamespace
                                                           : options.leaderElectionNamespace,
                                     .leaseName = options.leaderElectionId};
    elector = std::make_unique<runtime::LeaderElector>(
        std::make_shared<kube::Client>(transport), le,
        runtime::LeaderCallbacks{
            .onStartedLeading =
                [&controller] {
                  spdlog::info("became the leader; starting the environment controller");
                  controller.start();
                },
            .onStoppedLeading =
                [&releasing] {
                  if (releasing.load()) return;  // our own release on the way out
                  // Another replica may be reconciling already: stop at once, as
                  // controller-runtime does, rather than drain and risk two writers.
                  exitNow("lost the leader Lease", Clock::now());
                }});
    leader.store(elector.get());
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
  const auto stopping = Clock::now();
  const auto drain = options.gracefulShutdownTimeout;
  spdlog::info("received {}; shutting down, draining for up to {} ms",
               signal == SIGTERM ? "SIGTERM" : "SIGINT", drain.count());

  // Helm runs in flight may finish (an upgrade running to its end leaves no pending lock
  // behind), and so may reconciles, but only for the drain; queued runs never start. Past it
  // the helm children are killed and the process exits, still holding the Lease, so no
  // half-stopped worker writes after a standby took over. The workers keep going while the
  // runs drain, so a finished run's outcome still reaches its status. The elector keeps
  // renewing meanwhile; losing the Lease still exits at once.
  helmRuns.stopAccepting();
  spdlog::info("waiting for {} running helm run(s)", helmRuns.running());
  if (!helmRuns.waitIdle(drain)) {
    exitNow("helm runs still running after the graceful shutdown timeout", stopping);
  }
  const auto left = std::max(std::chrono::milliseconds(0),
                             drain - std::chrono::milliseconds(millisecondsSince(stopping)));
  auto stopped = std::async(std::launch::async, [&controller, left] { controller.stop(left); });
  if (stopped.wait_for(left + std::chrono::seconds(1)) != std::future_status::ready) {
    exitNow("reconciles still running after the graceful shutdown timeout", stopping);
  }
  helmRuns.stop();  // none runs: joins its threads before the controller they wake goes
  spdlog::info("reconciles and helm runs drained after {} ms", millisecondsSince(stopping));
  environments.stop();
  for (auto& informer : owned) informer->stop();
  for (auto& informer : referenced) informer->stop();
  // After the CRD informer, whose handler starts these.
  for (auto& informer : monitoringKinds) informer->stop();
  events.stop();
  releasing.store(true);
  if (elector) elector->stop();  // releases the Lease so a standby takes over at once
  if (probeServer) probeServer->stop();
  if (metricsServer) metricsServer->stop();
  helm::setStartGate([] { return false; });  // mayWrite refers to this frame
  spdlog::info("stopped after {} ms", millisecondsSince(stopping));
  return 0;
}

}  // namespace envop::app
