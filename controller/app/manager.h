// Manager wires the controller process together and owns its lifetime: the API
// client, the informers, the Environment controller, leader election, and the
// probe and metrics servers; it runs until SIGTERM or SIGINT and then shuts down in
// order (stop handing out work, drain reconciles for up to --graceful-shutdown-timeout,
// stop watches, release the Lease, stop serving); a drain that runs out kills the helm
// children and exits at once. A lost Lease exits at once, killing the helm children.
#pragma once

#include "controller/app/options.h"
#include "controller/kube/config.h"

namespace envop::app {

// Blocks until a termination signal; returns the process's exit code. The caller must
// have blocked SIGTERM and SIGINT in every thread (blockTerminationSignals) first.
// kubeconfigPath: the file the config came from ("" in-cluster), for helm.
int runManager(const Options& options, const kube::Config& config,
               const std::string& kubeconfigPath);

// Blocks SIGTERM and SIGINT for this thread and every thread it starts later, so that
// runManager can wait for them with sigwait.
void blockTerminationSignals();

// The controller's namespace: --namespace, else the in-cluster namespace file, else
// envop-system.
std::string controllerNamespace(const Options& options);

}  // namespace envop::app
