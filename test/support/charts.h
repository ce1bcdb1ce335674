// Helm charts for release tests: a registry of the test's own (test/cluster/registry-up) and
// the charts of test/charts/ packaged and pushed to it as OCI artifacts, so that envop installs
// them the way it would from Harbor.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace envop::testing {

// The charts under test/charts/, in the order they are pushed.
inline const std::vector<std::string> kTestCharts = {"config-server", "registry", "gateway",
                                                     "orders", "agent"};
// Every chart is pushed at these versions...
inline const std::vector<std::string> kTestChartVersions = {"1.0.0", "1.0.1"};
// ...and `orders` also at 1.1.0, built from test/charts/broken/: its pods never become Ready,
// so an install or upgrade with --wait fails when the release's timeout runs out.
inline const std::string kBrokenChart = "orders";
inline const std::string kBrokenVersion = "1.1.0";

// The repository's test/charts directory.
std::string testChartsDir();

struct RegistryAccount {
  std::string username;
  std::string password;
};

// An OCI registry on loopback (plain HTTP), started with test/cluster/registry-up into a fresh
// directory under ENVOP_BINARY_DIR and stopped (registry-down) in the destructor.
struct TestRegistry {
  TestRegistry();  // throws std::runtime_error with registry-up's output on failure
  // A private registry: every request needs HTTP basic auth as `account` (htpasswd, bcrypt).
  explicit TestRegistry(RegistryAccount account);
  ~TestRegistry();
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;

  // registry-down: the registry stops answering (a registry outage); the storage stays.
  void stop();
  // After the process is gone (stop(), or killed): docker-registry again on the same address
  // and storage, its PID written to registry.env so that registry-down stops it. Returns the
  // PID once /v2/ answers, or 0 when it did not within 30 s.
  int serveAgain();

  std::string dir;                         // registry-up's DIR: registry.env, registry.log, storage
  std::string host;                        // 127.0.0.1:PORT
  std::optional<RegistryAccount> account;  // set for a private registry

  // Where pushTestCharts puts the charts: oci://HOST/springcloud.
  std::string repository() const { return "oci://" + host + "/springcloud"; }
};

// HELM_CONFIG_HOME, HELM_CACHE_HOME, HELM_DATA_HOME and HELM_REGISTRY_CONFIG under `dir`, so a
// helm run by a test sees neither the host's helm setup nor another test's.
std::map<std::string, std::string> isolatedHelmEnv(const std::string& dir);

// `helm package`s every chart of kTestCharts at kTestChartVersions (version and appVersion)
// and kBrokenChart at kBrokenVersion into a temporary directory, and `helm push --plain-http`es
// them to registry.repository(), with helm's state isolated in that directory, which is removed
// afterwards. Returns the pushed references ("oci://HOST/springcloud/orders:1.1.0"); throws
// std::runtime_error with helm's output when a step fails.
std::vector<std::string> pushTestCharts(const TestRegistry& registry,
                                        const std::string& helmBinary);

// `helm package`s the chart directory `chart` at `version` and `helm push`es it to
// oci://HOST/<project>; for a private registry helm is first logged in (`helm registry login`,
// the password on stdin) into a registry config of the push's own, so neither the host's nor
// the controller's helm state learns the login.
struct PushedChart {
  std::string reference;  // oci://HOST/<project>/<name>:<version>
  std::string digest;     // the manifest digest helm push reported
};
PushedChart pushChart(const TestRegistry& registry, const std::string& helmBinary,
                      const std::string& chart, const std::string& version,
                      const std::string& project = "springcloud");

}  // namespace envop::testing
