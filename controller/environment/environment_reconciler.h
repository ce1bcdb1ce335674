// EnvironmentReconciler drives one Environment towards its spec: it holds the
// finalizer, reconciles each part (the namespace and its guardrails and external
// endpoints, for now), writes the status only when it changed, and tells humans
// what happened through events. On deletion each part follows its deletionPolicy
// before the finalizer is let go.
#pragma once

#include "controller/environment/applier.h"
#include "controller/environment/namespace_part.h"
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
  EnvironmentReconciler(runtime::StorePtr environments, Applier& applier, ReleasesPart& releases,
                        runtime::EventRecorder& events);
  runtime::ReconcileResult reconcile(const runtime::ReconcileRequest& request) override;

 private:
  runtime::ReconcileResult finalize(const kube::Json& object, const EnvironmentSpec& env,
                                    const runtime::ReconcileRequest& request);
  bool addFinalizer(const kube::Json& object, std::string& error);
  bool removeFinalizer(const kube::Json& object, std::string& error);
  // Writes the status when it differs from the object's and turns condition
  // transitions into events; an error string when the write failed.
  std::string publish(const kube::Json& object, const StatusInput& input);

  runtime::StorePtr environments_;
  Applier& applier_;
  NamespacePart namespacePart_;
  ReleasesPart& releasesPart_;
  runtime::EventRecorder& events_;
};

}  // namespace envop::environment
