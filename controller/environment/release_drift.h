// ReleaseDrift tells whether a deployed Helm release still matches the cluster: an
// object of its manifest that someone deleted, or a workload whose spec someone changed
// (its metadata.generation moved since the revision was first seen). Only reads: the
// manifest once per revision from helm, then one GET per object.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "controller/helm/helm_driver.h"
#include "controller/kube/client.h"

namespace envop::environment {

class ReleaseDrift final {
 public:
  ReleaseDrift(kube::ClientPtr client, helm::HelmDriver& helm);

  // "Deployment ns/name was deleted", "... was changed"; empty when in step.
  std::vector<std::string> drifted(const std::string& release, const std::string& ns, int revision);

 private:
  kube::ClientPtr client_;
  helm::HelmDriver& helm_;
  std::mutex mu_;
  std::map<std::string, std::string> manifests_;  // ns/release@revision -> manifest
  // ns/release@revision/Kind/name -> the workload's generation when first seen
  std::map<std::string, std::int64_t> generations_;
};

}  // namespace envop::environment
