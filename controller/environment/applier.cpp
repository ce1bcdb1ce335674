#include "controller/environment/applier.h"

#include "controller/environment/spec.h"

namespace envop::environment {

Applier::Applier(kube::ClientPtr client, std::map<std::string, runtime::StorePtr> liveStores)
    : client_(std::move(client)), liveStores_(std::move(liveStores)) {}

std::size_t Applier::digestOf(const kube::Json& desired) {
  return std::hash<std::string>{}(desired.dump());
}

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

bool Applier::applied(const kube::Resource& resource, const std::string& ns,
                      const std::string& name) const {
  std::lock_guard lock(mu_);
  return records_.count(recordKey(resource, ns, name)) > 0;
}

bool Applier::awaitingCache(const kube::Resource& resource, const kube::Json& desired) const {
  if (!caches(resource)) return false;
  const std::string key = recordKey(resource, kube::namespaceOf(desired), kube::nameOf(desired));
  const std::size_t digest = digestOf(desired);
  std::lock_guard lock(mu_);
  auto it = records_.find(key);
  return it != records_.end() && it->second.digest == digest && !it->second.cacheCaughtUp;
}

std::vector<runtime::ObjectPtr> Applier::ownedBy(const kube::Resource& resource,
                                                 const std::string& environment) const {
  auto it = liveStores_.find(resource.plural);
  if (it == liveStores_.end()) return {};
  const runtime::Store& store = *it->second;
  // The informers of what envop owns index by this label (a walk of every Environment's
  // objects per reconcile made a converge quadratic); a store without the index is walked.
  if (store.indexLabel() == kEnvironmentLabel) return store.listLabelled(environment);
  std::vector<runtime::ObjectPtr> out;
  for (const runtime::ObjectPtr& object : store.list()) {
    if (environment::ownedBy(*object, environment)) out.push_back(object);
  }
  return out;
}

bool Applier::unchangedSince(const Record& record, const kube::Json& object) {
  if (runtime::resourceVersionOf(object) == record.resourceVersion) return true;
  if (record.fields.is_null()) return false;
  const kube::Json fields = appliedFields(object);
  return !fields.is_null() && fields == record.fields;
}

ApplyOutcome Applier::apply(const kube::Resource& resource, const kube::Json& desired,
                            ApplyOptions options) {
  const std::string ns = kube::namespaceOf(desired);
  const std::string name = kube::nameOf(desired);
  const std::string key = recordKey(resource, ns, name);
  const std::size_t digest = digestOf(desired);
  const runtime::ObjectPtr current = live(resource, ns, name);
  ApplyOutcome outcome;
  std::optional<Record> last;  // our last apply of this object, whatever it asked for
  {
    std::lock_guard lock(mu_);
    auto it = records_.find(key);
    if (it != records_.end()) last = it->second;
  }
  if (last && last->digest == digest) {
    if (current && unchangedSince(*last, *current)) return outcome;  // nothing of ours moved
    // The cache still shows the object as it was before envop's write (or still lacks the
    // object envop created): it is behind, not drifted. The write's own watch event brings
    // the Environment back, and this is judged then; a read now would only say the same.
    if (caches(resource) &&
        !last->cacheMovedTo(current ? runtime::resourceVersionOf(*current) : "")) {
      return outcome;
    }
    // The cache disagrees with what we applied: a human changed or deleted one of our
    // fields, or (a kind without an informer) the cache cannot say. A read tells which.
    auto fresh = client_->get(resource, ns, name);
    if (fresh && unchangedSince(*last, fresh.value())) return outcome;
    outcome.repairedDrift = fresh.ok() || fresh.error().isNotFound();
  }
  auto applied = client_->apply(resource, desired, "", kube::kFieldManager, options.envopCreated);
  outcome.wrote = true;
  if (!applied && !options.envopCreated) {
    const std::vector<FieldConflict> conflicts = fieldConflicts(applied.error());
    std::vector<FieldConflict> others;  // fields envop never owned: not ours to take
    const std::set<std::string> owned = last ? fieldPaths(last->fields) : std::set<std::string>{};
    for (const FieldConflict& c : conflicts) {
      if (!owned.count(c.field)) others.push_back(c);
    }
    if (!conflicts.empty() && others.empty()) {
      applied = client_->apply(resource, desired, "", kube::kFieldManager, true);
    } else {
      outcome.conflicts = std::move(others);
    }
  }
  if (!applied) {
    outcome.error = applied.error();
    outcome.repairedDrift = false;
    return outcome;
  }
  Record record{digest, runtime::resourceVersionOf(applied.value()), appliedFields(applied.value()),
                current ? runtime::resourceVersionOf(*current) : std::string()};
  // An apply that changed nothing keeps the resourceVersion: no event will follow it.
  record.cacheCaughtUp = record.resourceVersion == record.resourceVersionBefore;
  std::lock_guard lock(mu_);
  records_[key] = std::move(record);
  return outcome;
}

void Applier::observe(const kube::Resource& resource, const runtime::Delta& delta) {
  if (!delta.object) return;
  const std::string key =
      recordKey(resource, kube::namespaceOf(*delta.object), kube::nameOf(*delta.object));
  std::lock_guard lock(mu_);
  auto it = records_.find(key);
  if (it == records_.end()) return;
  it->second.cacheCaughtUp = delta.type == runtime::Delta::Type::kDeleted ||
                             it->second.cacheMovedTo(runtime::resourceVersionOf(*delta.object));
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

kube::Json appliedFields(const kube::Json& object, const std::string& manager) {
  const kube::Json metadata = object.value("metadata", kube::Json::object());
  const auto entries = metadata.find("managedFields");
  if (entries == metadata.end() || !entries->is_array()) return nullptr;
  for (const kube::Json& entry : *entries) {
    if (!entry.is_object() || entry.value("manager", "") != manager ||
        entry.value("operation", "") != "Apply" || !entry.value("subresource", "").empty()) {
      continue;
    }
    return entry.value("fieldsV1", kube::Json());
  }
  return nullptr;
}

namespace {

// One fieldsV1 key as a path element, the way structured-merge-diff prints it.
std::string pathElement(const std::string& key) {
  const std::string body = key.size() > 2 ? key.substr(2) : "";
  if (key.starts_with("f:")) return "." + body;
  if (key.starts_with("i:")) return "[" + body + "]";
  if (key.starts_with("v:")) return "[=" + body + "]";
  if (key.starts_with("k:")) {
    const kube::Json fields = kube::Json::parse(body, nullptr, false);
    if (!fields.is_object()) return "[" + body + "]";
    std::string out;
    for (const auto& [name, value] : fields.items()) {
      out += (out.empty() ? "" : ",") + name + "=" + value.dump();
    }
    return "[" + out + "]";
  }
  return "";
}

void collectPaths(const kube::Json& node, const std::string& prefix, std::set<std::string>& out) {
  if (!node.is_object()) return;
  for (const auto& [key, child] : node.items()) {
    const std::string element = pathElement(key);
    if (element.empty()) continue;  // "." (the node itself) or something unknown
    out.insert(prefix + element);
    collectPaths(child, prefix + element, out);
  }
}

}  // namespace

std::set<std::string> fieldPaths(const kube::Json& fieldsV1) {
  std::set<std::string> out;
  collectPaths(fieldsV1, "", out);
  return out;
}

std::vector<FieldConflict> fieldConflicts(const kube::ApiError& error) {
  std::vector<FieldConflict> out;
  if (!error.isConflict()) return out;
  for (const kube::StatusCause& cause : error.causes) {
    if (cause.reason != "FieldManagerConflict") continue;
    // `conflict with "kubectl-edit" using v1` (or `... with subresource "status" ...`).
    FieldConflict conflict{.field = cause.field};
    const auto open = cause.message.find('"');
    const auto close = open == std::string::npos ? open : cause.message.find('"', open + 1);
    if (close != std::string::npos) {
      conflict.manager = cause.message.substr(open + 1, close - open - 1);
    }
    out.push_back(std::move(conflict));
  }
  return out;
}

std::string describeConflicts(const std::vector<FieldConflict>& conflicts) {
  std::string out;
  for (const FieldConflict& c : conflicts) {
    if (!out.empty()) out += "; ";
    out += "field " + c.field + " is owned by " +
           (c.manager.empty() ? std::string("another field manager") : "\"" + c.manager + "\"");
  }
  return out;
}

}  // namespace envop::environment
