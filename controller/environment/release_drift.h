// ReleaseDrift tells whether the objects of a deployed Helm release still hold what the
// chart set. For each object of the revision's manifest it reads the live object and,
// when that changed since it was last found in step, asks the API server for a dry-run
// server-side apply of the manifest's object: the answer is the live object with the
// chart's fields put back, normalised and defaulted by the server itself (quantities,
// int-or-string, defaults), so comparing it with the live object finds exactly the fields
// the chart sets that someone changed — never status, never fields the chart leaves to
// others (an HPA's replicas, once ignored). Reads and dry runs only; nothing is written.
// The manifest comes from Helm's own release Secret, so no helm process runs either.
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

class ReleaseDrift final {
 public:
  ReleaseDrift(kube::ClientPtr client, helm::HelmDriver& helm);

  // "Service pro/gateway: /spec/ports/0/port changed", "DaemonSet pro/agent was deleted";
  // empty when every object is in step (or could not be looked at: drift is only ever
  // reported on evidence).
  std::vector<std::string> drifted(const std::string& release, const std::string& ns, int revision,
                                   const DriftDetection& detection);

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
