#include "controller/environment/release_drift.h"

#include <spdlog/spdlog.h>

#include "controller/environment/helm_storage.h"
#include "controller/environment/values.h"
#include "controller/kube/config.h"
#include "controller/util/gzip.h"

namespace envop::environment {
namespace {

using kube::Json;

// The kinds a microservice chart is made of, so the common case needs no discovery.
const std::map<std::string, kube::Resource>& wellKnownKinds() {
  static const std::map<std::string, kube::Resource> kinds = [] {
    std::map<std::string, kube::Resource> m;
    for (const kube::Resource* r :
         {&kube::resources::deployments(), &kube::resources::statefulSets(),
          &kube::resources::daemonSets(), &kube::resources::services(),
          &kube::resources::configMaps(), &kube::resources::secrets(),
          &kube::resources::serviceAccounts(), &kube::resources::networkPolicies()}) {
      m[r->apiVersion() + "/" + r->kind] = *r;
    }
    return m;
  }();
  return kinds;
}

std::string escapePointer(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// What the server keeps for itself; never the chart's.
Json withoutServerFields(Json object) {
  object.erase("status");
  if (auto m = object.find("metadata"); m != object.end() && m->is_object()) {
    for (const char* key : {"managedFields", "resourceVersion", "generation", "creationTimestamp",
                            "uid", "selfLink"}) {
      m->erase(key);
    }
  }
  return object;
}

void erasePointer(Json& object, const std::string& pointer) {
  try {
    const Json::json_pointer p(pointer);
    if (!object.contains(p)) return;
    Json& parent = object.at(p.parent_pointer());
    if (parent.is_object()) {
      parent.erase(p.back());
    } else if (parent.is_array()) {
      parent.erase(std::stoul(p.back()));
    }
  } catch (const std::exception&) {
    // Not a pointer into this object: nothing to ignore.
  }
}

void collect(const Json& a, const Json& b, const std::string& at, std::vector<std::string>& out,
             std::size_t limit) {
  if (out.size() >= limit) return;
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      const std::string path = at + "/" + escapePointer(key);
      auto other = b.find(key);
      if (other == b.end()) {
        out.push_back(path);
      } else {
        collect(value, *other, path, out, limit);
      }
      if (out.size() >= limit) return;
    }
    for (const auto& [key, value] : b.items()) {
      if (!a.contains(key)) out.push_back(at + "/" + escapePointer(key));
      if (out.size() >= limit) return;
    }
    return;
  }
  if (a.is_array() && b.is_array() && a.size() == b.size()) {
    for (std::size_t i = 0; i < a.size(); ++i)
      collect(a[i], b[i], at + "/" + std::to_string(i), out, limit);
    return;
  }
  if (a != b) out.push_back(at.empty() ? "/" : at);
}

Json overlayed(const Json& live, const Json& manifest) {
  if (manifest.is_object() && live.is_object()) {
    Json out = live;
    for (const auto& [key, value] : manifest.items()) {
      if (value.is_null()) continue;
      auto it = live.find(key);
      out[key] = it == live.end() ? value : overlayed(*it, value);
    }
    return out;
  }
  if (manifest.is_array() && live.is_array()) {
    Json out = Json::array();
    for (std::size_t i = 0; i < manifest.size(); ++i) {
      out.push_back(i < live.size() ? overlayed(live[i], manifest[i]) : manifest[i]);
    }
    return out;
  }
  return manifest;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

std::optional<std::string> manifestFromReleaseRecord(const std::string& secretValue) {
  auto outer = kube::decodeBase64(secretValue);  // the Secret's own encoding
  if (!outer) return std::nullopt;
  auto inner = kube::decodeBase64(*outer);  // Helm's
  if (!inner) return std::nullopt;
  std::optional<std::string> text = *inner;
  if (inner->size() >= 2 && static_cast<unsigned char>((*inner)[0]) == 0x1f &&
      static_cast<unsigned char>((*inner)[1]) == 0x8b) {
    text = util::gunzip(*inner);
  }
  if (!text) return std::nullopt;
  const Json record = Json::parse(*text, nullptr, false);
  if (!record.is_object() || !record.contains("manifest") || !record["manifest"].is_string()) {
    return std::nullopt;
  }
  return record["manifest"].get<std::string>();
}

Json overlay(const Json& live, const Json& manifest, const std::vector<std::string>& keep) {
  Json out = overlayed(live, manifest);
  for (const std::string& pointer : keep) {
    try {
      const Json::json_pointer p(pointer);
      if (live.contains(p)) {
        out[p] = live.at(p);
      } else {
        erasePointer(out, pointer);
      }
    } catch (const std::exception&) {
      // Not a pointer into this object: nothing to keep.
    }
  }
  return out;
}

std::vector<std::string> driftedFields(const Json& applied, const Json& live,
                                       const std::vector<std::string>& ignore, std::size_t limit) {
  Json a = withoutServerFields(applied);
  Json b = withoutServerFields(live);
  for (const std::string& pointer : ignore) {
    erasePointer(a, pointer);
    erasePointer(b, pointer);
  }
  std::vector<std::string> out;
  collect(a, b, "", out, limit);
  return out;
}

std::vector<std::string> ignoredPaths(const DriftDetection& detection, const std::string& kind,
                                      const std::string& name) {
  std::vector<std::string> out;
  for (const DriftDetection::Ignore& rule : detection.ignore) {
    if (!rule.kind.empty() && rule.kind != kind) continue;
    if (!rule.name.empty() && rule.name != name) continue;
    out.insert(out.end(), rule.paths.begin(), rule.paths.end());
  }
  return out;
}

ReleaseDrift::ReleaseDrift(kube::ClientPtr client, helm::HelmDriver& helm)
    : client_(std::move(client)), helm_(helm) {}

std::optional<kube::Resource> ReleaseDrift::resourceFor(const std::string& apiVersion,
                                                        const std::string& kind) {
  const std::string key = apiVersion + "/" + kind;
  if (auto it = wellKnownKinds().find(key); it != wellKnownKinds().end()) return it->second;
  {
    std::lock_guard lock(mu_);
    if (auto it = kinds_.find(key); it != kinds_.end()) return it->second;
  }
  // Any other kind a chart ships (Ingress, CronJob, PVC, Role, a CRD's kind): discovery.
  const bool core = apiVersion.find('/') == std::string::npos;
  auto listed = client_->getRaw((core ? "/api/" : "/apis/") + apiVersion);
  if (!listed) return std::nullopt;
  for (const Json& r : listed.value().value("resources", Json::array())) {
    const std::string name = r.value("name", "");
    if (r.value("kind", "") != kind || name.find('/') != std::string::npos) continue;
    const std::size_t slash = apiVersion.find('/');
    kube::Resource resource{.group = core ? "" : apiVersion.substr(0, slash),
                            .version = core ? apiVersion : apiVersion.substr(slash + 1),
                            .plural = name,
                            .kind = kind,
                            .namespaced = r.value("namespaced", true)};
    std::lock_guard lock(mu_);
    kinds_[key] = resource;
    return resource;
  }
  return std::nullopt;
}

std::optional<std::vector<ReleaseDrift::ManifestObject>> ReleaseDrift::manifest(
    const std::string& release, const std::string& ns, int revision) {
  const std::string key = ns + "/" + release + "@" + std::to_string(revision);
  {
    std::lock_guard lock(mu_);
    if (auto it = manifests_.find(key); it != manifests_.end()) return it->second;
  }
  std::optional<std::string> text;
  auto record =
      client_->get(kube::resources::secrets(), ns, HelmStorage::secretName(release, revision));
  if (record) {
    const Json data = record.value().value("data", Json::object());
    if (data.contains("release") && data["release"].is_string()) {
      text = manifestFromReleaseRecord(data["release"].get<std::string>());
    }
  }
  if (!text) {
    // Another storage driver, or a record this build cannot read: ask helm.
    auto got = helm_.getManifest(release, ns);
    if (!got.ok()) return std::nullopt;
    text = got.value;
  }
  auto docs = parseYamlDocuments(*text, "manifest of release " + release);
  if (auto* error = std::get_if<std::string>(&docs)) {
    spdlog::warn("release {}/{}: {}", ns, release, *error);
    return std::nullopt;
  }
  std::vector<ManifestObject> objects;
  for (Json& doc : std::get<std::vector<Json>>(docs)) {
    if (!doc.is_object() || !doc.contains("kind") || !doc.contains("apiVersion")) continue;
    const Json metadata = doc.value("metadata", Json::object());
    if (!metadata.contains("name") || !metadata["name"].is_string()) continue;
    const std::string apiVersion = doc.value("apiVersion", "");
    const std::string kind = doc.value("kind", "");
    auto resource = resourceFor(apiVersion, kind);
    if (!resource) {
      spdlog::debug("release {}/{}: kind {} {} is not served; not checked for drift", ns, release,
                    apiVersion, kind);
      continue;
    }
    if (resource->namespaced && !metadata.contains("namespace")) doc["metadata"]["namespace"] = ns;
    if (!resource->namespaced) doc["metadata"].erase("namespace");
    const std::string objectNs = resource->namespaced ? doc["metadata"].value("namespace", ns) : "";
    const std::string name = metadata["name"].get<std::string>();
    objects.push_back(
        {*resource, std::move(doc), kind + " " + (objectNs.empty() ? "" : objectNs + "/") + name});
  }
  std::lock_guard lock(mu_);
  // Earlier revisions of this release are done with.
  const std::string prefix = ns + "/" + release + "@";
  for (auto it = manifests_.lower_bound(prefix);
       it != manifests_.end() && it->first.starts_with(prefix);) {
    it = manifests_.erase(it);
  }
  for (auto it = inStep_.lower_bound(prefix);
       it != inStep_.end() && it->first.starts_with(prefix);) {
    it = it->first.starts_with(key + "|") ? std::next(it) : inStep_.erase(it);
  }
  manifests_[key] = objects;
  return objects;
}

std::vector<DriftFinding> ReleaseDrift::drifted(const std::string& release, const std::string& ns,
                                                int revision, const DriftDetection& detection) {
  if (detection.mode == DriftDetection::Mode::kDisabled) return {};
  const auto objects = manifest(release, ns, revision);
  if (!objects) return {};
  const std::string key = ns + "/" + release + "@" + std::to_string(revision);
  std::vector<DriftFinding> findings;
  for (const ManifestObject& m : *objects) {
    const std::string name = kube::nameOf(m.object);
    const std::string objectNs = m.resource.namespaced ? kube::namespaceOf(m.object) : "";
    auto live = client_->get(m.resource, objectNs, name);
    if (!live) {
      if (live.error().isNotFound()) {
        findings.push_back(
            {.describe = m.describe + " was deleted", .deleted = true, .resource = m.resource});
      }
      continue;
    }
    const std::vector<std::string> ignore =
        ignoredPaths(detection, m.object.value("kind", ""), name);
    // Found in step under these ignore rules; other rules may find otherwise.
    const std::string stepKey = key + "|" + m.describe + "|" + join(ignore);
    // What the object holds but status and what the server keeps for itself: a Deployment
    // whose pods come and go keeps its fingerprint, and costs no dry run.
    const std::string fingerprint =
        std::to_string(std::hash<std::string>{}(withoutServerFields(live.value()).dump()));
    {
      std::lock_guard lock(mu_);
      if (auto it = inStep_.find(stepKey); it != inStep_.end() && it->second == fingerprint) {
        continue;
      }
    }
    Json restored = overlay(live.value(), m.object, ignore);
    std::vector<std::string> fields;
    if (restored != live.value()) {
      // The server's own reading of it, so that "0.5" and "500m" are the same CPU.
      // Unconditional (no resourceVersion): the object's own controller rewrites its status
      // all the time, and a dry run changes nothing anyway.
      Json unguarded = restored;
      unguarded["metadata"].erase("resourceVersion");
      auto normalised = client_->dryRunUpdate(m.resource, unguarded);
      if (!normalised) {
        // An object the server will not take back as it is (an immutable field) cannot be
        // compared; drift is reported on evidence only.
        spdlog::debug("release {}/{}: cannot dry-run {}: {}", ns, release, m.describe,
                      normalised.error().describe());
        continue;
      }
      fields = driftedFields(normalised.value(), live.value(), ignore);
    }
    if (fields.empty()) {
      std::lock_guard lock(mu_);
      inStep_[stepKey] = fingerprint;
      continue;
    }
    findings.push_back({.describe = m.describe + ": " + join(fields) + " changed",
                        .resource = m.resource,
                        .restored = std::move(restored)});
  }
  return findings;
}

std::vector<std::string> ReleaseDrift::restore(const std::vector<DriftFinding>& findings) {
  std::vector<std::string> errors;
  for (const DriftFinding& f : findings) {
    if (f.deleted) continue;
    // Guarded by the resourceVersion it was read at: a newer edit is looked at again.
    auto written = client_->update(f.resource, f.restored);
    if (!written) errors.push_back(f.describe + ": " + written.error().describe());
  }
  return errors;
}

void ReleaseDrift::forget(const std::string& ns, const std::string& release) {
  std::lock_guard lock(mu_);
  const std::string prefix = ns + "/" + release + "@";
  for (auto it = manifests_.lower_bound(prefix);
       it != manifests_.end() && it->first.starts_with(prefix);) {
    it = manifests_.erase(it);
  }
  for (auto it = inStep_.lower_bound(prefix);
       it != inStep_.end() && it->first.starts_with(prefix);) {
    it = inStep_.erase(it);
  }
}

}  // namespace envop::environment
