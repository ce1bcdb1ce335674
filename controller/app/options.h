// Options are the controller's command-line flags, named as kubebuilder-made
// operators name them so that cluster admins feel at home (api.md, "The
// controller's command line"). Parsing is pure: it reads no file and exits nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "controller/util/logging.h"

namespace envop::app {

struct Options {
  std::string kubeconfig;  // empty: in-cluster, then $KUBECONFIG, then ~/.kube/config
  std::string metricsBindAddress = ":8080";
  std::string healthProbeBindAddress = ":8081";
  bool leaderElect = false;
  std::string leaderElectionNamespace;  // empty: the controller's own namespace
  std::string leaderElectionId = "envop-controller-leader";
  // 4 on the project's 2-core machine: a reconcile spends most of its time waiting on the
  // API server, so two workers per core keep both busy (issue 13's runs use 4 for both
  // operators); helm no longer holds a worker, so more would only add contention.
  int maxConcurrentReconciles = 4;
  // Helm children at once (each a Go process of some 50 MB that mostly waits on --wait); the
  // rest queue, reported in status. Separate from the workers so that no helm holds one.
  int maxConcurrentHelm = 8;
  util::LogFormat logFormat = util::LogFormat::kJson;
  int logLevel = 2;                 // info
  std::string namespace_;           // empty: the in-cluster namespace file, else envop-system
  std::string helmBinary = "helm";  // a path, or a name looked up on PATH
  std::string helmStateDir = "/tmp/envop-helm";  // helm's cache, config and data, 0700
  // How long a resolved chart (an OCI tag's digest) is trusted before it is looked up again.
  std::chrono::seconds chartRecheckInterval{300};
  std::chrono::seconds harborRecheckInterval{300};
  // On SIGTERM, how long running reconciles (and their helm children) may take to finish
  // before the children are killed and the process exits. Long enough for a helm run at its
  // default deadline (helm's 300 s timeout plus the driver's 30 s kill grace), so that a
  // rolling update of envop does not cut an upgrade short; the Pod's grace period must be
  // longer still (the chart's terminationGracePeriodSeconds).
  std::chrono::milliseconds gracefulShutdownTimeout = std::chrono::seconds(330);
  // The ClusterRole of release rights envop binds to its own ServiceAccount (namespace_, name
  // serviceAccountName) in each namespace it writes in; empty: none is bound (a cluster-admin
  // kubeconfig needs none).
  std::string releaseClusterRole;
  std::string serviceAccountName;
};

// A Go-style duration: "330s", "5m30s", "1h", "1500ms", "0"; nullopt when it is not one
// (or negative).
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);

struct ParsedOptions {
  enum class Outcome { kRun, kHelp, kError };
  Outcome outcome = Outcome::kRun;
  Options options;
  std::string error;  // one line naming the bad flag, for kError
};

// Accepts --flag=value, --flag value, and the single-dash spellings Go's flag package takes.
ParsedOptions parseOptions(const std::vector<std::string>& args);

// The --help text.
std::string usage(const std::string& program);

}  // namespace envop::app
