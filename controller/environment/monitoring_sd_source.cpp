#include "controller/environment/monitoring_sd_source.h"

#include "controller/kube/client.h"

namespace envop::environment {
namespace {

std::vector<runtime::ObjectPtr> inNamespace(const runtime::StorePtr& store, const std::string& ns) {
  std::vector<runtime::ObjectPtr> out;
  if (!store) return out;
  for (const runtime::ObjectPtr& o : store->list()) {
    if (kube::namespaceOf(*o) == ns) out.push_back(o);
  }
  return out;
}

}  // namespace

nlohmann::json ServiceDiscoverySource::groupsOf(const EnvironmentSpec& env) const {
  const std::string& ns = env.namespace_.name;
  return sdGroups(env, SdObjects{.services = inNamespace(services_, ns),
                                 .endpointSlices = inNamespace(endpointSlices_, ns),
                                 .pods = inNamespace(pods_, ns)});
}

nlohmann::json ServiceDiscoverySource::groups(const std::optional<std::string>& environment) const {
  nlohmann::json out = nlohmann::json::array();
  std::vector<runtime::ObjectPtr> envs;
  if (environment) {
    if (runtime::ObjectPtr one = environments_->get(*environment)) envs.push_back(one);
  } else {
    envs = environments_->list();
  }
  const OperatorApis apis = apis_();
  for (const runtime::ObjectPtr& object : envs) {
    auto parsed = parseEnvironment(*object);
    const auto* env = std::get_if<EnvironmentSpec>(&parsed);
    if (env == nullptr || !env->monitoring) continue;
    if (decideMode(env->monitoring->mode, apis).publish != Publish::kHttpSd) continue;
    for (nlohmann::json& g : groupsOf(*env)) out.push_back(std::move(g));
  }
  return out;
}

}  // namespace envop::environment
