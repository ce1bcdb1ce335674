#include "controller/environment/release_drift.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

namespace envop::environment {
namespace {

// The kinds whose deletion is checked for drift: what a microservice chart is made of.
const kube::Resource* resourceForKind(const std::string& apiVersion, const std::string& kind) {
  static const std::map<std::string, kube::Resource> kinds = {
      {"apps/v1/Deployment", kube::resources::deployments()},
      {"apps/v1/StatefulSet", kube::resources::statefulSets()},
      {"apps/v1/DaemonSet", kube::resources::daemonSets()},
      {"v1/Service", kube::resources::services()},
      {"v1/ConfigMap", kube::resources::configMaps()},
      {"v1/Secret", kube::resources::secrets()},
      {"v1/ServiceAccount", kube::resources::serviceAccounts()},
  };
  auto it = kinds.find(apiVersion + "/" + kind);
  return it == kinds.end() ? nullptr : &it->second;
}

}  // namespace

ReleaseDrift::ReleaseDrift(kube::ClientPtr client, helm::HelmDriver& helm)
    : client_(std::move(client)), helm_(helm) {}

std::vector<std::string> ReleaseDrift::drifted(const std::string& release, const std::string& ns,
                                               int revision) {
  const std::string key = ns + "/" + release + "@" + std::to_string(revision);
  std::string manifest;
  {
    std::lock_guard lock(mu_);
    if (auto it = manifests_.find(key); it != manifests_.end()) manifest = it->second;
  }
  if (manifest.empty()) {
    auto got = helm_.getManifest(release, ns);
    if (!got.ok()) return {};
    manifest = got.value;
    std::lock_guard lock(mu_);
    manifests_[key] = manifest;
  }
  std::vector<std::string> missing;
  try {
    for (const YAML::Node& doc : YAML::LoadAll(manifest)) {
      if (!doc.IsMap() || !doc["kind"] || !doc["apiVersion"] || !doc["metadata"]) continue;
      const std::string kind = doc["kind"].as<std::string>();
      const kube::Resource* r = resourceForKind(doc["apiVersion"].as<std::string>(), kind);
      if (r == nullptr || !doc["metadata"]["name"]) continue;
      const std::string name = doc["metadata"]["name"].as<std::string>();
      const std::string objectNs =
          doc["metadata"]["namespace"] ? doc["metadata"]["namespace"].as<std::string>() : ns;
      auto got = client_->get(*r, objectNs, name);
      const std::string what = kind + " " + objectNs + "/" + name;
      if (!got) {
        if (got.error().isNotFound()) missing.push_back(what + " was deleted");
        continue;
      }
      if (r->group != "apps") continue;
      // A workload's generation moves only when its spec changes; helm's own upgrades
      // make a new revision, and so a new baseline.
      const auto generation =
          got.value().value("metadata", kube::Json::object()).value("generation", std::int64_t{0});
      std::lock_guard lock(mu_);
      auto [it, first] = generations_.try_emplace(key + "/" + kind + "/" + name, generation);
      if (!first && it->second != generation) missing.push_back(what + " was changed");
    }
  } catch (const std::exception& e) {
    spdlog::warn("release {}/{}: cannot read its manifest: {}", ns, release, e.what());
  }
  return missing;
}

}  // namespace envop::environment
