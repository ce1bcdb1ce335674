// ReleaseDrift tells whether the objects of a deployed Helm release still hold what the
// chart set, and puts them back. For each object of the revision's manifest it reads the
// live object and lays the manifest's fields over it (maps merged, lists item by item, so
// what the server defaulted stays). When that differs from the live object, a dry-run
// update has the server normalise it (quantities, int-or-string, defaults); what still
// differs is drift — only fields the chart sets, never status, never what driftDetection
// ignores (an HPA's replicas). Repair is that same object written back, guarded by the
// live resourceVersion, so a human's edit of a Service port is undone exactly, without a
// helm upgrade and without a new revision; a deleted object is left to helm upgrade,
// which recreates it with Helm's ownership marks. The manifest comes from Helm's own
// release Secret, so no helm process runs.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/environment/release_spec.h"
#include "controller/helm/helm_driver.h"
#include "controller/kube/client.h"

namespace envop::environment {

// One object of a release that no longer holds what the chart set.
struct DriftFinding {
  std::string describe;  // "Service pro/gateway: /spec/ports/0/port changed", "... was deleted"
  bool deleted = false;
  kube::Resource resource;
  kube::Json restored;  // for a changed object: it with the chart's fields put back
};

class ReleaseDrift final {
 public:
  ReleaseDrift(kube::ClientPtr client, helm::HelmDriver& helm);

  // Empty when every object is in step (or could not be looked at: drift is only ever
  // reported on evidence).
  std::vector<DriftFinding> drifted(const std::string& release, const std::string& ns, int revision,
                                    const DriftDetection& detection);

  // Writes the changed objects back; what could not be written, one line each.
  std::vector<std::string> restore(const std::vector<DriftFinding>& findings);

  // Drops what is remembered of a release (uninstalled, or its Environment gone).
  void forget(const std::string& ns, const std::string& release);

 private:
  struct ManifestObject {
    kube::Resource resource;
    kube::Json object;
    std::string describe;  // "Service pro/gateway"
  };
  std::optional<std::vector<ManifestObject>> manifest(const std::string& release,
                                                      const std::string& ns, int revision);
  std::optional<kube::Resource> resourceFor(const std::string& apiVersion, const std::string& kind);

  kube::ClientPtr client_;
  helm::HelmDriver& helm_;
  std::mutex mu_;
  std::map<std::string, std::vector<ManifestObject>> manifests_;  // ns/release@revision
  // ns/release@revision|Kind/ns/name|ignore -> a fingerprint of the live object last found
  // in step (status left out), so an object nobody touched costs one GET and no dry run.
  std::map<std::string, std::string> inStep_;
  std::map<std::string, kube::Resource> kinds_;  // apiVersion/Kind -> resource (discovery)
};

// `live` with every field `manifest` sets laid over it: maps merged key by key, lists item
// by item (and cut to the manifest's length), scalars replaced; nulls in the manifest set
// nothing. Values at `keep` pointers stay as they are live.
kube::Json overlay(const kube::Json& live, const kube::Json& manifest,
                   const std::vector<std::string>& keep = {});

// The JSON pointers at which `applied` (the live object with the chart's fields applied)
// differs from `live`, leaving out what is never drift (status, metadata the server keeps)
// and `ignore`d pointers; at most `limit` of them.
std::vector<std::string> driftedFields(const kube::Json& applied, const kube::Json& live,
                                       const std::vector<std::string>& ignore,
                                       std::size_t limit = 5);

// The pointers of driftDetection.ignore that apply to an object of this kind and name.
std::vector<std::string> ignoredPaths(const DriftDetection& detection, const std::string& kind,
                                      const std::string& name);

// Helm's release record from its storage Secret's `release` value (base64 of gzipped
// JSON, inside the Secret's own base64): the manifest; nullopt when it cannot be read.
std::optional<std::string> manifestFromReleaseRecord(const std::string& secretValue);

}  // namespace envop::environment
