#include "controller/environment/applier.h"

#include "controller/environment/spec.h"

namespace envop::environment {

Applier::Applier(kube::ClientPtr client, std::map<std::string, runtime::StorePtr> liveStores)
    : client_(std::move(client)), liveStores_(std::move(liveStores)) {}

std::string Applier::recordKey(const kube::Resource& r, const std::string& ns,
                               const std::string& name) {
  return r.group + "/" + r.plural + "/" + ns + "/" + name;
}

runtime::ObjectPtr Applier::live(const kube::Resource& resource, const std::string& ns,
                                 const std::string& name) const {
  auto it = liveStores_.find(resource.plural);
  if (it == liveStores_.end()) return nullptr;
  return it->second->get(runtime::objectKey(resource.namespaced ? ns : "", name));
}

std::vector<runtime::ObjectPtr> Applier::ownedBy(const kube::Resource& resource,
                                                 const std::string& environment) const {
  std::vector<runtime::ObjectPtr> out;
  auto it = liveStores_.find(resource.plural);
  if (it == liveStores_.end()) return out;
  for (const runtime::ObjectPtr& object : it->second->list()) {
    if (environment::ownedBy(*object, environment)) out.push_back(object);
  }
  return out;
}

ApplyOutcome Applier::apply(const kube::Resource& resource, const kube::Json& desired) {
  const std::string ns = kube::namespaceOf(desired);
  const std::string name = kube::nameOf(desired);
  const std::string key = recordKey(resource, ns, name);
  const std::size_t digest = std::hash<std::string>{}(desired.dump());
  const runtime::ObjectPtr current = live(resource, ns, name);
  ApplyOutcome outcome;
  std::string lastApplied;  // the resourceVersion of our last apply of this very object
  {
    std::lock_guard lock(mu_);
    auto it = records_.find(key);
    if (it != records_.end() && it->second.digest == digest) {
      lastApplied = it->second.resourceVersion;
    }
  }
  if (!lastApplied.empty()) {
    if (current && runtime::resourceVersionOf(*current) == lastApplied) {
      return outcome;  // nothing changed on either side
    }
    // The cache disagrees with what we applied: a human changed or deleted it, or the
    // cache has not caught up with our own write yet. A read tells which.
    auto fresh = client_->get(resource, ns, name);
    if (fresh && runtime::resourceVersionOf(fresh.value()) == lastApplied) return outcome;
    outcome.repairedDrift = fresh.ok() || fresh.error().isNotFound();
  }
  auto applied = client_->apply(resource, desired);
  outcome.wrote = true;
  if (!applied) {
    outcome.error = applied.error();
    outcome.repairedDrift = false;
    return outcome;
  }
  std::lock_guard lock(mu_);
  records_[key] = Record{digest, runtime::resourceVersionOf(applied.value())};
  return outcome;
}

ApplyOutcome Applier::disown(const kube::Resource& resource, const std::string& ns,
                             const std::string& name) {
  static const kube::Json kUnlabel = {
      {"metadata", {{"labels", {{kManagedByLabel, nullptr}, {kEnvironmentLabel, nullptr}}}}}};
  ApplyOutcome outcome;
  auto patched = client_->patch(resource, ns, name, kube::PatchType::kMerge, kUnlabel);
  outcome.wrote = true;
  if (!patched && !patched.error().isNotFound()) outcome.error = patched.error();
  std::lock_guard lock(mu_);
  records_.erase(recordKey(resource, ns, name));
  return outcome;
}

ApplyOutcome Applier::remove(const kube::Resource& resource, const std::string& ns,
                             const std::string& name) {
  ApplyOutcome outcome;
  auto removed = client_->remove(resource, ns, name, {.propagationPolicy = "Background"});
  outcome.wrote = true;
  if (!removed && !removed.error().isNotFound()) outcome.error = removed.error();
  std::lock_guard lock(mu_);
  records_.erase(recordKey(resource, ns, name));
  return outcome;
}

}  // namespace envop::environment
