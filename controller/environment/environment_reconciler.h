// EnvironmentReconciler drives one Environment towards its spec: it holds the
// finalizer, reconciles each part (the namespace and its guardrails, the external
// endpoints, the releases), writes the status only when it changed, and tells humans
// what happened through events. A part that fails degrades the stage without stopping
// the others; only a namespace that is not there holds the releases back. On deletion
// each part follows its deletionPolicy before the finalizer is let go.
//
// Suspended (spec.suspend), the namespace and external-services parts only observe and
// report, the releases keep their last condition, and nothing is written but the status;
// deleting a suspended Environment lets go of the finalizer and deletes nothing.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "controller/environment/applier.h"
#include "controller/environment/external_services_part.h"
#include "controller/environment/monitoring_part.h"
#include "controller/environment/namespace_part.h"
#include "controller/environment/registry_part.h"
#include "controller/environment/releases_part.h"
#include "controller/environment/status.h"
#include "controller/kube/resource.h"
#include "controller/runtime/controller.h"
#include "controller/runtime/event_recorder.h"
#include "controller/runtime/store.h"

namespace envop::environment {

// envop.io/v1alpha1 environments, cluster-scoped.
const kube::Resource& environments();

class EnvironmentReconciler final : public runtime::Reconciler {
 public:
  // registry: the Harbor part; null leaves spec.registry unreconciled (tests of other parts).
  // rights: the release rights envop binds in the namespaces it writes in (release_rights.h).
  EnvironmentReconciler(runtime::StorePtr environments, Applier& applier, ReleasesPart& releases,
                        runtime::EventRecorder& events, RegistryPart* registry = nullptr,
                        MonitoringPart* monitoring = nullptr, ReleaseRights rights = {});
  runtime::ReconcileResult reconcile(const runtime::ReconcileRequest& request) override;
  // Every change the Environment informer stores, before the controller's own handler: once
  // the cache has moved past the object a status write replaced, that write is its to show.
  void observe(const runtime::Delta& delta);

 private:
  runtime::ReconcileResult finalize(const kube::Json& object, const EnvironmentSpec& env,
                                    const runtime::ReconcileRequest& request);
  runtime::ReconcileResult observe(const kube::Json& object, const EnvironmentSpec& env,
                                   StatusInput input, const runtime::ReconcileRequest& request);
  // On success `patched` is the Environment as the patch left it.
  bool addFinalizer(const kube::Json& object, std::string& error, kube::Json& patched);
  // reconcile() for an object read from the cache or just written.
  runtime::ReconcileResult reconcileObject(const kube::Json& object,
                                           const runtime::ReconcileRequest& request);
  bool removeFinalizer(const kube::Json& object, std::string& error);
  // Writes the status when it differs from the object's and turns condition
  // transitions into events; an error string when the write failed.
  std::string publish(const kube::Json& object, const StatusInput& input);

  // The cached Environment, or the one envop's last status write returned while the cache
  // still shows the object that write replaced: a reconcile woken before the cache caught up
  // (by the write's own event, or an owned object's) then computes from what the server has,
  // rather than write the same status again with a stale resourceVersion (a sure 409 and a read).
  runtime::ObjectPtr newest(const std::string& key, runtime::ObjectPtr cached);

  struct StatusWritten {
    std::string resourceVersionBefore;
    runtime::ObjectPtr object;
  };
  std::mutex writtenMu_;
  std::map<std::string, StatusWritten> written_;  // guarded by writtenMu_; by Environment key

  runtime::StorePtr environments_;
  Applier& applier_;
  NamespacePart namespacePart_;
  ExternalServicesPart externalServicesPart_;
  ReleasesPart& releasesPart_;
  runtime::EventRecorder& events_;
  RegistryPart* registryPart_;
  // Null: monitoring is not reconciled (its condition stays as it was).
  MonitoringPart* monitoringPart_;
};

}  // namespace envop::environment
