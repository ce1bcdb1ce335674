// HelmDriver runs the helm CLI (v3.17+ or v4) for the Environment reconciler: one synchronous
// call per helm command, each a child process with argv only, a deadline that kills it, and
// HELM_CACHE_HOME / HELM_CONFIG_HOME / HELM_DATA_HOME / the registry config isolated under the
// controller's own state directory, so neither the host's helm setup nor another controller
// leaks in. It talks to the cluster through the kubeconfig the controller itself uses (none:
// helm's in-cluster config). Output is redacted before it is kept, stderr is cut to a tail fit
// for a condition message, and every call is counted in envop_helm_operations_total{op,result}
// and envop_helm_operation_duration_seconds{op}. No exception crosses this API.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/helm/helm_args.h"
#include "controller/helm/helm_output.h"
#include "controller/helm/helm_process.h"

namespace envop::helm {

struct HelmConfig {
  std::string helmBinary = "helm";  // a path; a bare name is looked up on PATH
  std::string kubeconfig;           // empty: in-cluster
  std::string stateDir;             // HELM_* dirs, registry config and temp files; made 0700
  std::chrono::seconds defaultTimeout{300};
  // Added to helm's own --timeout before the child is killed, so helm can fail cleanly first.
  std::chrono::seconds killGrace{30};
  // What runs a helm child; empty: runProcess. Unit tests put a fake here (test/fakes/
  // fake_helm_runner.h) so code that drives helm is tested without a process.
  std::function<ProcessOutput(const std::string& executable, const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& environment,
                              const std::string& stdinData, std::chrono::milliseconds timeout)>
      runner;
};

struct HelmResult {
  bool ok = false;
  int exitCode = -1;
  std::string stdout_;        // redacted
  std::string stderrTrimmed;  // redacted, last kStderrTailBytes
  bool timedOut = false;
  bool releaseNotFound = false;  // helm said "release: not found"
  std::string error;             // driver-side failure: bad input, spawn, parse
  std::string digest;            // the OCI manifest digest helm pulled, if any
  std::chrono::milliseconds took{0};

  // One line for a condition or an event: the driver's error, else helm's stderr tail.
  std::string message() const;
};

// A HelmResult and, when it is ok, the typed value parsed from helm's output.
template <typename T>
struct HelmOutcome {
  HelmResult result;
  T value{};
  bool ok() const { return result.ok; }
};

class HelmDriver final {
 public:
  explicit HelmDriver(HelmConfig config);

  // A value (registry password, token) that must never appear in kept output.
  void addSecret(const std::string& secret);

  // `helm upgrade --install`; values go through a 0600 file that is removed afterwards.
  HelmOutcome<ReleaseStatus> upgradeInstall(const std::string& release, const std::string& ns,
                                            const ChartRef& chart, const nlohmann::json& values,
                                            const UpgradeOptions& options = {});
  HelmResult uninstall(const std::string& release, const std::string& ns, bool wait = true);
  // revision 0: the previous revision.
  HelmResult rollback(const std::string& release, const std::string& ns, int revision,
                      bool wait = true);
  HelmOutcome<ReleaseStatus> status(const std::string& release, const std::string& ns);
  HelmOutcome<std::vector<ReleaseRevision>> history(const std::string& release,
                                                    const std::string& ns);
  HelmOutcome<std::string> getManifest(const std::string& release, const std::string& ns);
  HelmOutcome<nlohmann::json> getValues(const std::string& release, const std::string& ns);
  HelmOutcome<std::vector<ReleaseSummary>> list(const std::string& ns);
  // The password goes to helm on stdin and is added to the secrets to redact. registryConfig:
  // the file the login is stored in (helm's --registry-config); empty: the driver's default.
  HelmResult registryLogin(const std::string& host, const std::string& username,
                           const std::string& password, bool plainHttp = false,
                           bool insecure = false, const std::string& registryConfig = "",
                           const std::string& caFile = "");
  // Chart.yaml's name/version and, for OCI, the manifest digest helm resolved.
  HelmOutcome<ChartInfo> showChart(const ChartRef& chart);
  // Downloads the chart archive into `destination`.
  HelmResult pull(const ChartRef& chart, const std::string& destination);

  const HelmConfig& config() const { return config_; }
  // The environment every helm child gets (exposed for tests).
  std::map<std::string, std::string> childEnvironment() const;

 private:
  HelmResult run(const char* op, const Args& args, std::chrono::milliseconds timeout,
                 const std::string& stdinData = "");
  std::vector<std::string> secrets() const;
  std::string prepareStateDir();

  HelmConfig config_;
  mutable std::mutex mutex_;  // guards secrets_; calls themselves may run concurrently
  std::vector<std::string> secrets_;
};
using HelmDriverPtr = std::shared_ptr<HelmDriver>;

// Every op label, for zero-initialisation and for tests.
const std::vector<std::string>& helmOperations();

}  // namespace envop::helm
