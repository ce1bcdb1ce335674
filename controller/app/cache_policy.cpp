#include "controller/app/cache_policy.h"

#include "controller/environment/spec.h"

namespace envop::app {
namespace {

constexpr const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

kube::Json* metadataOf(kube::Json& object) {
  if (!object.is_object()) return nullptr;
  auto it = object.find("metadata");
  return it != object.end() && it->is_object() ? &*it : nullptr;
}

void stripLastApplied(kube::Json& metadata) {
  auto annotations = metadata.find("annotations");
  if (annotations != metadata.end() && annotations->is_object()) annotations->erase(kLastApplied);
}

}  // namespace

bool madeByHelm(const kube::Json& object) {
  if (!object.is_object()) return false;
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return false;
  const auto annotations = metadata->find("annotations");
  return annotations != metadata->end() && annotations->is_object() &&
         annotations->contains("meta.helm.sh/release-name");
}

std::function<bool(const kube::Json&)> inEnvironmentNamespace(runtime::StorePtr namespaces,
                                                              NamespaceClaimed claimed) {
  return
      [namespaces = std::move(namespaces), claimed = std::move(claimed)](const kube::Json& object) {
        const std::string ns = kube::namespaceOf(object);
        if (ns.empty()) return false;
        const runtime::ObjectPtr owner = namespaces->get(ns);
        if (owner != nullptr) return !environment::ownerOf(*owner).empty();
        return claimed && claimed(ns);
      };
}

std::function<bool(const kube::Json&)> inEnvironmentNamespaceOrMadeByHelm(
    runtime::StorePtr namespaces, NamespaceClaimed claimed) {
  return [inEnvironment = inEnvironmentNamespace(std::move(namespaces), std::move(claimed))](
             const kube::Json& object) { return madeByHelm(object) || inEnvironment(object); };
}

bool namespaceOwnerChanged(const runtime::Delta& delta) {
  switch (delta.type) {
    case runtime::Delta::Type::kAdded:
    case runtime::Delta::Type::kDeleted:
      return true;
    case runtime::Delta::Type::kUpdated:
      if (!delta.object || !delta.oldObject) return true;
      return environment::ownerOf(*delta.object) != environment::ownerOf(*delta.oldObject);
  }
  return true;
}

void stripManagedFieldsAndLastApplied(kube::Json& object) {
  kube::Json* metadata = metadataOf(object);
  if (metadata == nullptr) return;
  metadata->erase("managedFields");
  stripLastApplied(*metadata);
}

void keepOnlyEnvopsManagedFields(kube::Json& object) {
  kube::Json* metadata = metadataOf(object);
  if (metadata == nullptr) return;
  stripLastApplied(*metadata);
  auto entries = metadata->find("managedFields");
  if (entries == metadata->end()) return;
  if (!entries->is_array()) {
    metadata->erase(entries);
    return;
  }
  kube::Json kept = kube::Json::array();
  for (kube::Json& entry : *entries) {
    // What environment::appliedFields reads: the entry of envop's own applies.
    if (entry.is_object() && entry.value("manager", "") == kube::kFieldManager &&
        entry.value("operation", "") == "Apply" && entry.value("subresource", "").empty()) {
      kept.push_back(std::move(entry));
    }
  }
  *entries = std::move(kept);
}

}  // namespace envop::app
