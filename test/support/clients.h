// Kubernetes clients for integration tests, built the way the controller builds its
// own: from a kubeconfig, through the real transport.
#pragma once

#include <string>

#include "controller/kube/client.h"

namespace envop::testing {

// A client for the given kubeconfig; throws with the config error when it is unusable.
kube::ClientPtr clientFor(const std::string& kubeconfig);

// A cluster-admin client for the suite's shared control plane.
kube::ClientPtr adminClient();

}  // namespace envop::testing
