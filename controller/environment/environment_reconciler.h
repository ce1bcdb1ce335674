// EnvironmentReconciler drives one Environment towards its spec. This first version
// only reads the Environment from the informer's cache: the runtime beneath it
// (watches, work queue, leader election) is what is being built; the parts
// (namespace, releases, registry, monitoring) arrive with their own issues.
#pragma once

#include "controller/kube/resource.h"
#include "controller/runtime/controller.h"
#include "controller/runtime/store.h"

namespace envop::environment {

// envop.io/v1alpha1 environments, cluster-scoped.
const kube::Resource& environments();

class EnvironmentReconciler final : public runtime::Reconciler {
 public:
  explicit EnvironmentReconciler(runtime::StorePtr environments);
  runtime::ReconcileResult reconcile(const runtime::ReconcileRequest& request) override;

 private:
  runtime::StorePtr environments_;
};

}  // namespace envop::environment
