#include "test/support/clients.h"

#include <stdexcept>

#include "controller/kube/config.h"
#include "test/support/local_cluster.h"

namespace envop::testing {

kube::ClientPtr clientFor(const std::string& kubeconfig) {
  auto config = kube::loadKubeconfig(kubeconfig);
  if (!config) throw std::runtime_error(config.error().message);
  return std::make_shared<kube::Client>(kube::makeTransport(config.value()));
}

kube::ClientPtr adminClient() { return clientFor(LocalCluster::get().kubeconfig()); }

}  // namespace envop::testing
