// The Environment's Helm releases end to end: a control plane with kwok's data plane, a
// registry of the test's own holding test/charts/ as OCI artifacts, real helm, and the
// controller as a process with its default flags. Each test has its own cluster, registry and
// controller, so that the helm revisions and the helm operations it counts are its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/process.hpp>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test/support/charts.h"
#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kEnv = "sc";
constexpr const char* kNs = "sc";

// Seconds since the epoch of an RFC 3339 time ("2026-01-02T03:04:05.123456789Z", or with a
// "+08:00" offset), as helm history and the API server write them; NaN when unparsable.
double epochSeconds(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nan("");
  double seconds = static_cast<double>(timegm(&tm));
  std::string rest;
  std::getline(in, rest);
  size_t i = 0;
  if (i < rest.size() && rest[i] == '.') {
    size_t j = i + 1;
    while (j < rest.size() && std::isdigit(static_cast<unsigned char>(rest[j]))) ++j;
    seconds += std::stod("0" + rest.substr(i, j - i));
    i = j;
  }
  if (i < rest.size() && (rest[i] == '+' || rest[i] == '-') && rest.size() >= i + 6) {
    const int sign = rest[i] == '+' ? 1 : -1;
    const int hours = std::stoi(rest.substr(i + 1, 2));
    const int minutes = std::stoi(rest.substr(i + 4, 2));
    seconds -= sign * (hours * 3600 + minutes * 60);
  }
  return seconds;
}

// The four-service stage of test (1) and (2). The spec lists the dependents first, so a
// controller that installs in list order rather than dependency order is caught.
constexpr const char* kStageReleases = R"(
    - name: gateway
      chart: gateway
      version: 1.0.0
      dependsOn: [config-server]
    - name: orders
      chart: orders
      version: 1.0.0
      dependsOn: [config-server]
      values: {replicaCount: 2}
    - name: registry
      chart: registry
      version: 1.0.0
    - name: config-server
      chart: config-server
      version: 1.0.0
)";

class ReleasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    registry_ = std::make_unique<TestRegistry>();
    helm_ = cluster_->value("HELM");
    if (helm_.empty()) {
      helm_ = std::filesystem::path(cluster_->value("KUBECTL")).parent_path().string() + "/helm";
    }
    pushTestCharts(*registry_, helm_);
    // The controller runs `helm` by its default name: give it the cluster's.
    const std::string helmDir = std::filesystem::path(helm_).parent_path().string();
    const char* path = std::getenv("PATH");
    const std::string current = path == nullptr ? "" : path;
    if (current.rfind(helmDir + ":", 0) != 0) {
      ::setenv("PATH", (helmDir + ":" + current).c_str(), 1);
    }
    startController();
  }
  void TearDown() override {
    controller_.reset();
    cluster_.reset();
    registry_.reset();
  }

  void startController() {
    controller_.reset();
    controller_ = std::make_unique<ControllerProcess>("envop-releases", cluster_->kubeconfig());
    ASSERT_TRUE(within(60s, [&] { return controller_->probe("/readyz") == 200; }))
        << controller_->log();
  }

  CommandResult kubectl(const std::vector<std::string>& args) { return cluster_->kubectl(args); }
  Json get(const std::vector<std::string>& what) { return cluster_->get(what); }
  CommandResult apply(const std::string& manifest) { return cluster_->apply(manifest); }
  // The Environment `sc` with the given spec.releases (YAML list items, indented 4).
  CommandResult applyEnvironment(const std::string& releases) {
    return apply(std::string(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: )") +
                 kEnv + R"(}
spec:
  stage: test
  namespace: {name: )" +
                 kNs + R"(}
  charts:
    repository: )" +
                 registry_->repository() +
                 R"(
    plainHTTP: true
  values:
    global: {env: test}
  releases:)" + releases);
  }
  CommandResult patchEnvironment(const std::string& jsonPatch) {
    return kubectl({"patch", "environment", kEnv, "--type=json", "-p", jsonPatch});
  }
  // A failure message with what a human needs to see why.
  std::string diagnostics() {
    return "\nEnvironment: " + get({"environment", kEnv}).dump() +
           "\nhelm list: " + helm({"list", "-a", "-n", kNs, "-o", "json"}).out +
           "\ncontroller log: " + controller_->log();
  }

  // helm against the test's cluster, with helm's own state isolated in the cluster's dir.
  CommandResult helm(std::vector<std::string> args) {
    args.insert(args.begin(), helm_);
    args.insert(args.end(), {"--kubeconfig", cluster_->kubeconfig()});
    return runCommand(args, isolatedHelmEnv(cluster_->dir()));
  }
  // `helm history -o json`, oldest first; an empty array when the release does not exist.
  Json history(const std::string& release) {
    const CommandResult r = helm({"history", release, "-n", kNs, "-o", "json", "--max", "256"});
    if (r.exitCode != 0) return Json::array();
    return Json::parse(r.out);
  }
  // The newest revision's entry; an empty object when the release does not exist.
  Json latest(const std::string& release) {
    const Json h = history(release);
    return h.empty() ? Json::object() : h.back();
  }
  int latestRevision(const std::string& release) { return latest(release).value("revision", 0); }
  // release -> revision, from `helm list -a`.
  std::map<std::string, int> revisions() {
    std::map<std::string, int> out;
    const CommandResult r = helm({"list", "-a", "-n", kNs, "-o", "json"});
    if (r.exitCode != 0) return out;
    for (const Json& rel : Json::parse(r.out)) {
      const Json& rev = rel.at("revision");
      out[rel.at("name")] = rev.is_string() ? std::stoi(rev.get<std::string>()) : rev.get<int>();
    }
    return out;
  }

  // A key of the ConfigMap <release>-settings the charts render their effective values into.
  std::string setting(const std::string& release, const std::string& key) {
    const CommandResult r = kubectl({"get", "configmap", release + "-settings", "-n", kNs, "-o",
                                     "jsonpath={.data." + key + "}"});
    return r.exitCode == 0 ? r.out : "";
  }

  Json environment() { return get({"environment", kEnv}); }
  static Json conditionOf(const Json& env, const std::string& type) {
    if (!env.is_object() || !env.contains("status")) return Json();
    for (const Json& c : env["status"].value("conditions", Json::array())) {
      if (c.value("type", "") == type) return c;
    }
    return Json();
  }
  // The condition, only once it speaks of the Environment's current generation.
  Json currentCondition(const std::string& type) {
    const Json env = environment();
    const Json c = conditionOf(env, type);
    if (!c.is_object() || c.value("observedGeneration", -1) != env["metadata"]["generation"]) {
      return Json();
    }
    return c;
  }
  bool releasesReady() {
    const Json c = currentCondition("ReleasesReady");
    return c.is_object() && c["status"] == "True";
  }
  // The release's entry in status.releases; an empty object when there is none.
  static Json releaseStatusOf(const Json& env, const std::string& name) {
    if (!env.is_object() || !env.contains("status")) return Json::object();
    for (const Json& r : env["status"].value("releases", Json::array())) {
      if (r.value("name", "") == name) return r;
    }
    return Json::object();
  }
  Json releaseStatus(const std::string& name) { return releaseStatusOf(environment(), name); }

  double helmOps(const std::string& op) {
    return sumSamples(controller_->metrics(), "envop_helm_operations_total", {"op=\"" + op + "\""});
  }
  // Every helm command that changes a release.
  double stateChangingHelmOps() {
    double n = 0;
    for (const char* op : {"install", "upgrade", "rollback", "uninstall"}) n += helmOps(op);
    return n;
  }
  std::unique_ptr<ScopedCluster> cluster_;
  std::unique_ptr<TestRegistry> registry_;
  std::unique_ptr<ControllerProcess> controller_;
  std::string helm_;
};

// (1) dependsOn orders the installs; a values change upgrades that release and no other.
TEST_F(ReleasesTest, InstallsInDependencyOrderAndUpgradesOnlyTheChangedRelease) {
  ASSERT_EQ(applyEnvironment(kStageReleases).exitCode, 0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();

  const Json env = environment();
  ASSERT_EQ(env["status"].value("releases", Json::array()).size(), 4u) << env.dump();
  for (const char* name : {"config-server", "registry", "gateway", "orders"}) {
    const Json r = releaseStatusOf(env, name);
    ASSERT_FALSE(r.empty()) << name << " missing from status.releases: " << env.dump();
    EXPECT_EQ(r.value("chart", ""), name) << r.dump();
    EXPECT_EQ(r.value("version", ""), "1.0.0") << r.dump();
    EXPECT_EQ(r.value("revision", 0), 1) << r.dump();
    EXPECT_EQ(r.value("status", ""), "deployed") << r.dump();
    EXPECT_EQ(r.value("digest", "").rfind("sha256:", 0), 0u) << r.dump();
    EXPECT_EQ(r.value("message", ""), "") << r.dump();
  }
  const std::map<std::string, int> installed = {
      {"config-server", 1}, {"registry", 1}, {"gateway", 1}, {"orders", 1}};
  EXPECT_EQ(revisions(), installed) << diagnostics();
  EXPECT_EQ(helmOps("install"), 4) << controller_->metrics();
  // Values reach the charts: spec.values under each release, the release's own on top.
  EXPECT_EQ(setting("orders", "env"), "test");
  EXPECT_EQ(setting("orders", "greeting"), "hello from orders");
  EXPECT_EQ(get({"deployment", "orders", "-n", kNs})["spec"]["replicas"], 2);

  // config-server was installed and Ready before gateway and orders were installed: its
  // Deployment turned Available (second resolution) no later than they started.
  const Json cs = get({"deployment", "config-server", "-n", kNs});
  ASSERT_TRUE(cs.is_object());
  double csAvailable = std::nan("");
  for (const Json& c : cs["status"].value("conditions", Json::array())) {
    if (c["type"] == "Available" && c["status"] == "True") {
      csAvailable = epochSeconds(c.value("lastTransitionTime", ""));
    }
  }
  ASSERT_FALSE(std::isnan(csAvailable)) << cs.dump();
  const Json csHistory = history("config-server");
  ASSERT_FALSE(csHistory.empty());
  const double csInstalled = epochSeconds(csHistory.front().value("updated", ""));
  for (const char* dependent : {"gateway", "orders"}) {
    const Json h = history(dependent);
    ASSERT_FALSE(h.empty()) << dependent;
    const double installedAt = epochSeconds(h.front().value("updated", ""));
    EXPECT_LT(csInstalled, installedAt) << dependent << " was installed before config-server";
    EXPECT_GE(std::floor(installedAt), csAvailable)
        << dependent << " was installed before config-server was Ready";
    const Json d = get({"deployment", dependent, "-n", kNs});
    ASSERT_TRUE(d.is_object()) << dependent;
    EXPECT_GE(epochSeconds(d["metadata"].value("creationTimestamp", "")), csAvailable) << dependent;
  }

  // One release's values change: that release is upgraded, and only it.
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  const double installsBefore = helmOps("install");
  const double upgradesBefore = helmOps("upgrade");
  ASSERT_EQ(patchEnvironment(
                R"([{"op":"add","path":"/spec/releases/2/values","value":{"greeting":"changed"}}])")
                .exitCode,
            0);
  ASSERT_TRUE(within(90s, [&] {
    return releasesReady() && releaseStatus("registry").value("revision", 0) == 2;
  })) << diagnostics();
  EXPECT_EQ(setting("registry", "greeting"), "changed");
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  const std::map<std::string, int> upgraded = {
      {"config-server", 1}, {"registry", 2}, {"gateway", 1}, {"orders", 1}};
  EXPECT_EQ(revisions(), upgraded) << diagnostics();
  EXPECT_EQ(latest("registry").value("status", ""), "deployed");
  EXPECT_EQ(helmOps("upgrade") - upgradesBefore, 1) << controller_->metrics();
  EXPECT_EQ(helmOps("install") - installsBefore, 0) << controller_->metrics();
  const Json after = environment();
  for (const char* other : {"config-server", "gateway", "orders"}) {
    EXPECT_EQ(releaseStatusOf(after, other).value("revision", 0), 1) << other;
  }
}

// (2) A resync with nothing changed runs no helm command that changes state, in the running
// controller and in a fresh one that has nothing cached.
TEST_F(ReleasesTest, AResyncWithNothingChangedRunsNoHelmInstallOrUpgrade) {
  ASSERT_EQ(applyEnvironment(kStageReleases).exitCode, 0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  ASSERT_NE(controller_->metrics().find("envop_helm_operations_total"), std::string::npos)
      << "the controller does not export envop_helm_operations_total";
  ASSERT_EQ(helmOps("install"), 4) << controller_->metrics();

  const std::map<std::string, int> before = revisions();
  ASSERT_EQ(before.size(), 4u) << diagnostics();
  const double opsBefore = stateChangingHelmOps();
  const double reconcilesBefore = controller_->reconciles();

  // A metadata-only change wakes the controller without changing what it must do.
  ASSERT_EQ(kubectl({"annotate", "environment", kEnv, "touched=1"}).exitCode, 0);
  ASSERT_TRUE(within(30s, [&] { return controller_->reconciles() > reconcilesBefore; }));
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  EXPECT_EQ(stateChangingHelmOps(), opsBefore) << controller_->metrics();
  EXPECT_EQ(revisions(), before) << diagnostics();

  // A controller that starts from nothing finds every release as desired.
  startController();
  ASSERT_TRUE(within(60s, [&] { return controller_->reconciles() > 0; })) << controller_->log();
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  for (const char* op : {"install", "upgrade", "rollback", "uninstall"}) {
    EXPECT_EQ(helmOps(op), 0) << "a fresh controller ran helm " << op << "\n"
                              << controller_->metrics();
  }
  EXPECT_EQ(revisions(), before) << diagnostics();
  EXPECT_TRUE(releasesReady()) << diagnostics();
  const Json env = environment();
  for (const auto& [name, revision] : before) {
    EXPECT_EQ(releaseStatusOf(env, name).value("revision", 0), revision) << name;
  }
}

// (3) A ConfigMap in valuesFrom is watched: changing it upgrades its release within seconds.
TEST_F(ReleasesTest, ValuesFromConfigMapChangeUpgradesThatReleaseWithinSeconds) {
  ASSERT_EQ(kubectl({"create", "namespace", kNs}).exitCode, 0);
  ASSERT_EQ(kubectl({"create", "configmap", "orders-values", "-n", kNs,
                     "--from-literal=values.yaml=greeting: from the configmap\nreplicaCount: 2\n"})
                .exitCode,
            0);
  ASSERT_EQ(applyEnvironment(R"(
    - name: registry
      chart: registry
      version: 1.0.0
    - name: orders
      chart: orders
      version: 1.0.0
      valuesFrom:
        - {kind: ConfigMap, name: orders-values, key: values.yaml}
      values: {replicaCount: 1}
)")
                .exitCode,
            0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  EXPECT_EQ(setting("orders", "greeting"), "from the configmap");
  EXPECT_EQ(setting("orders", "env"), "test");
  EXPECT_EQ(get({"deployment", "orders", "-n", kNs})["spec"]["replicas"], 1)
      << "the release's values go on top of valuesFrom";
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  ASSERT_EQ(latestRevision("orders"), 1) << diagnostics();

  ASSERT_EQ(
      kubectl(
          {"patch", "configmap", "orders-values", "-n", kNs, "--type=merge", "-p",
           R"({"data":{"values.yaml":"greeting: changed in the configmap\nreplicaCount: 2\n"}})"})
          .exitCode,
      0);
  EXPECT_TRUE(
      within(15s, [&] { return setting("orders", "greeting") == "changed in the configmap"; }))
      << "the release was not upgraded within 15s of its valuesFrom ConfigMap changing"
      << diagnostics();
  EXPECT_TRUE(within(30s, [&] {
    return releasesReady() && releaseStatus("orders").value("revision", 0) == 2;
  })) << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  EXPECT_EQ(latestRevision("orders"), 2) << diagnostics();
  EXPECT_EQ(latestRevision("registry"), 1) << "a ConfigMap of orders upgraded registry";
  EXPECT_EQ(get({"deployment", "orders", "-n", kNs})["spec"]["replicas"], 1);
}

// (4) A chart version that fails: ReleasesReady=False naming the release, Rollback brings the
// previous revision back, and fixing the spec recovers with no manual step.
TEST_F(ReleasesTest, BrokenChartVersionRollsBackAndFixingTheSpecRecovers) {
  ASSERT_EQ(applyEnvironment(R"(
    - name: registry
      chart: registry
      version: 1.0.0
    - name: orders
      chart: orders
      version: 1.0.0
      timeout: 20s
      remediation: {retries: 0, onFailure: Rollback}
)")
                .exitCode,
            0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_EQ(latestRevision("orders"), 1);

  ASSERT_EQ(patchEnvironment(R"([{"op":"replace","path":"/spec/releases/1/version","value":")" +
                             kBrokenVersion + R"("}])")
                .exitCode,
            0);
  // Rollback: the failed 1.1.0 revision is in the history and 1.0.0 is deployed again.
  EXPECT_TRUE(
      within(150s,
             [&] {
               const Json h = history("orders");
               const bool failedRevision = std::any_of(h.begin(), h.end(), [](const Json& r) {
                 return r.value("status", "") == "failed" && r.value("chart", "") == "orders-1.1.0";
               });
               return failedRevision && h.back().value("status", "") == "deployed" &&
                      h.back().value("chart", "") == "orders-1.0.0";
             }))
      << history("orders").dump() << diagnostics();
  // ReleasesReady=False, naming the release.
  Json failed;
  EXPECT_TRUE(within(30s, [&] {
    failed = currentCondition("ReleasesReady");
    return failed.is_object() && failed["status"] == "False";
  })) << diagnostics();
  const std::string failure = failed.is_object() ? failed.value("message", "") : "";
  EXPECT_NE(failure.find("orders"), std::string::npos) << failed.dump();
  EXPECT_FALSE(releaseStatus("orders").value("message", "").empty()) << diagnostics();
  const Json ready = currentCondition("Ready");
  EXPECT_TRUE(ready.is_object() && ready["status"] == "False") << diagnostics();
  EXPECT_EQ(setting("orders", "chartVersion"), "1.0.0");
  const Json deployment = get({"deployment", "orders", "-n", kNs});
  ASSERT_TRUE(deployment.is_object());
  EXPECT_FALSE(deployment["spec"]["template"]["spec"].contains("nodeSelector"))
      << "the broken revision's Deployment is still in place";
  // Degraded, not dead: the other release is left alone.
  EXPECT_EQ(latestRevision("registry"), 1);
  EXPECT_EQ(releaseStatus("registry").value("status", ""), "deployed");

  // Fixing the spec is all it takes.
  ASSERT_EQ(
      patchEnvironment(R"([{"op":"replace","path":"/spec/releases/1/version","value":"1.0.1"}])")
          .exitCode,
      0);
  ASSERT_TRUE(within(120s, [&] { return releasesReady(); })) << diagnostics();
  const Json orders = releaseStatus("orders");
  EXPECT_EQ(orders.value("version", ""), "1.0.1") << orders.dump();
  EXPECT_EQ(orders.value("status", ""), "deployed") << orders.dump();
  EXPECT_EQ(orders.value("message", ""), "") << orders.dump();
  EXPECT_EQ(orders.value("revision", 0), latestRevision("orders")) << orders.dump();
  const Json newest = latest("orders");
  EXPECT_EQ(newest.value("chart", ""), "orders-1.0.1") << history("orders").dump();
  EXPECT_EQ(newest.value("status", ""), "deployed") << history("orders").dump();
  EXPECT_EQ(setting("orders", "chartVersion"), "1.0.1");
  EXPECT_TRUE(within(60s, [&] {
    const Json c = currentCondition("Ready");
    return c.is_object() && c["status"] == "True";
  })) << diagnostics();
}

// (5) Drift: a Deployment of a release deleted by hand comes back, and an event says so.
TEST_F(ReleasesTest, DeploymentDeletedFromAReleaseComesBackWithAnEvent) {
  ASSERT_EQ(applyEnvironment(R"(
    - name: config-server
      chart: config-server
      version: 1.0.0
    - name: gateway
      chart: gateway
      version: 1.0.0
      dependsOn: [config-server]
)")
                .exitCode,
            0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  const Json original = get({"deployment", "gateway", "-n", kNs});
  ASSERT_TRUE(original.is_object());
  const std::string uid = original["metadata"].value("uid", "");

  ASSERT_EQ(kubectl({"delete", "deployment", "gateway", "-n", kNs, "--wait=true"}).exitCode, 0);
  EXPECT_TRUE(within(60s,
                     [&] {
                       const Json d = get({"deployment", "gateway", "-n", kNs});
                       return d.is_object() && d["metadata"]["uid"] != uid;
                     }))
      << "the deleted Deployment was not put back within a minute" << diagnostics();
  const CommandResult rollout =
      kubectl({"rollout", "status", "deployment/gateway", "-n", kNs, "--timeout=60s"});
  EXPECT_EQ(rollout.exitCode, 0) << rollout.out << rollout.err;
  EXPECT_EQ(setting("gateway", "greeting"), "hello from gateway");

  EXPECT_TRUE(within(30s,
                     [&] {
                       const Json events = get({"events.events.k8s.io", "-A", "--field-selector",
                                                "reason=DriftRepaired"});
                       if (!events.is_object()) return false;
                       for (const Json& e : events.value("items", Json::array())) {
                         if (e.value("regarding", Json::object()).value("name", "") == kEnv &&
                             e.value("note", "").find("gateway") != std::string::npos) {
                           return true;
                         }
                       }
                       return false;
                     }))
      << "no DriftRepaired event on environment/" << kEnv << " naming gateway"
      << kubectl({"get", "events.events.k8s.io", "-A"}).out;
  EXPECT_TRUE(within(60s, [&] { return releasesReady(); })) << diagnostics();

  // A human's edit of the release's Deployment is undone the same way.
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  ASSERT_EQ(kubectl({"scale", "deployment", "gateway", "-n", kNs, "--replicas=5"}).exitCode, 0);
  EXPECT_TRUE(within(60s,
                     [&] {
                       const Json d = get({"deployment", "gateway", "-n", kNs});
                       return d.is_object() && d["spec"].value("replicas", 0) == 1;
                     }))
      << "the scaled Deployment was not put back" << diagnostics();
}

}  // namespace
}  // namespace envop::testing

namespace envop::testing {
namespace {

// A release taken out of the spec is uninstalled, and no other release is touched.
TEST_F(ReleasesTest, RemovingAReleaseFromTheSpecUninstallsOnlyIt) {
  ASSERT_EQ(applyEnvironment(R"(
    - name: config-server
      chart: config-server
      version: 1.0.0
    - name: registry
      chart: registry
      version: 1.0.0
)")
                .exitCode,
            0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_EQ(applyEnvironment(R"(
    - name: config-server
      chart: config-server
      version: 1.0.0
)")
                .exitCode,
            0);
  EXPECT_TRUE(within(60s, [&] { return history("registry").empty(); }))
      << "registry was not uninstalled" << diagnostics();
  EXPECT_TRUE(within(30s, [&] { return !get({"deployment", "registry", "-n", kNs}).is_object(); }));
  EXPECT_EQ(latestRevision("config-server"), 1) << "the remaining release was touched";
  EXPECT_TRUE(within(30s, [&] {
    const Json releases = environment()["status"].value("releases", Json::array());
    return releases.size() == 1 && environment()["status"].value("releaseSummary", "") == "1/1";
  })) << diagnostics();
}

// A helm killed in the middle of an upgrade leaves the release locked in pending-upgrade;
// envop undoes the half-done upgrade instead of staying stuck.
TEST_F(ReleasesTest, AReleaseLeftPendingByAKilledHelmIsRecovered) {
  ASSERT_EQ(applyEnvironment(R"(
    - name: orders
      chart: orders
      version: 1.0.0
)")
                .exitCode,
            0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  // Stop the controller so that only the helm below touches the release.
  controller_.reset();

  // An upgrade to a version that never becomes ready, killed while it waits.
  std::vector<std::string> argv = {helm_,
                                   "upgrade",
                                   "orders",
                                   "--namespace",
                                   kNs,
                                   registry_->repository() + "/orders",
                                   "--version",
                                   kBrokenVersion,
                                   "--plain-http",
                                   "--wait",
                                   "--timeout",
                                   "10m",
                                   "--kubeconfig",
                                   cluster_->kubeconfig()};
  boost::process::environment env = boost::this_process::environment();
  for (const auto& [k, v] : isolatedHelmEnv(cluster_->dir())) env.set(k, v);
  boost::process::child upgrade(argv, env, boost::process::std_out > boost::process::null,
                                boost::process::std_err > boost::process::null);
  ASSERT_TRUE(within(60s, [&] {
    return latest("orders").value("status", "") == "pending-upgrade";
  })) << diagnostics();
  upgrade.terminate();  // SIGKILL: helm gets no chance to clean up
  upgrade.wait();
  ASSERT_EQ(latest("orders").value("status", ""), "pending-upgrade");

  startController();
  ASSERT_EQ(kubectl({"annotate", "environment", kEnv, "nudge=1", "--overwrite"}).exitCode, 0);
  EXPECT_TRUE(within(120s,
                     [&] {
                       const Json last = latest("orders");
                       return last.value("status", "") == "deployed" && releasesReady();
                     }))
      << "the release stayed locked" << diagnostics();
  EXPECT_EQ(setting("orders", "chartVersion"), "1.0.0");
}

}  // namespace
}  // namespace envop::testing
