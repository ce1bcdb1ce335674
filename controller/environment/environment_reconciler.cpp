#include "controller/environment/environment_reconciler.h"

#include <spdlog/spdlog.h>

namespace envop::environment {

const kube::Resource& environments() {
  static const kube::Resource r{"envop.io", "v1alpha1", "environments", "Environment", false};
  return r;
}

EnvironmentReconciler::EnvironmentReconciler(runtime::StorePtr environments)
    : environments_(std::move(environments)) {}

runtime::ReconcileResult EnvironmentReconciler::reconcile(
    const runtime::ReconcileRequest& request) {
  const runtime::ObjectPtr env = environments_->get(request.key);
  if (!env) {
    spdlog::debug("controller=environment environment={} reconcileID={} gone", request.key,
                  request.reconcileId);
    return runtime::ReconcileResult::done();
  }
  const auto generation =
      env->value("metadata", kube::Json::object()).value("generation", int64_t{0});
  spdlog::info("controller=environment environment={} reconcileID={} observed generation {}",
               request.key, request.reconcileId, generation);
  return runtime::ReconcileResult::done();
}

}  // namespace envop::environment
