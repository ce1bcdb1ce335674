// The Environment's Helm releases end to end: a control plane with kwok's data plane, a
// registry of the test's own holding test/charts/ as OCI artifacts, real helm, and the
// controller as a process with its default flags. Each test has its own cluster, registry and
// controller, so that the helm revisions and the helm operations it counts are its own.
#include "test/support/releases_fixture.h"

namespace envop::testing {
namespace {

// A kubectl watch of one kind in the stage's namespace, running from construction to
// destruction, each event a line "TYPE NAME RESOURCEVERSION DETAIL" in a file. Every watch
// event carries the object's etcd revision as its resourceVersion, one counter for every kind,
// so two watches' events can be put in the order the API server wrote them, to the write
// rather than to the second a timestamp would give.
class WatchLog {
 public:
  WatchLog(const ScopedCluster& cluster, const std::string& kind, const std::string& detail,
           const std::string& file)
      : file_(file) {
    child_ = boost::process::child(
        cluster.value("KUBECTL"), "--kubeconfig", cluster.kubeconfig(), "get", kind, "-n", kNs,
        "--watch", "--output-watch-events", "-o",
        "jsonpath={.type} {.object.metadata.name} {.object.metadata.resourceVersion} " + detail +
            "{\"\\n\"}",
        boost::process::std_out > file, boost::process::std_err > file + ".err",
        boost::process::std_in < boost::process::null);
  }
  ~WatchLog() {
    if (child_.running()) child_.terminate();
  }
  // The resourceVersion of the first event whose name is `name` and whose line contains
  // `words`; 0 when there is none.
  long long firstRevision(const std::string& name, const std::string& words = "") const {
    std::ifstream in(file_);
    std::string type, n, line;
    long long rv = 0;
    while (in >> type >> n >> rv && std::getline(in, line)) {
      if (n == name && (words.empty() || (type + line).find(words) != std::string::npos)) {
        return rv;
      }
    }
    return 0;
  }
  std::string text() const {
    std::ifstream in(file_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string file_;
  boost::process::child child_;
};

// (1) dependsOn orders the installs; a values change upgrades that release and no other.
TEST_F(ReleasesTest, InstallsInDependencyOrderAndUpgradesOnlyTheChangedRelease) {
  // Helm's release records and the Deployments, watched from before the first install.
  const WatchLog records(*cluster_, "secrets", "{.object.metadata.labels.status}",
                         cluster_->dir() + "/release-records.watch");
  const WatchLog deployments(*cluster_, "deployments",
                             "Available={.object.status.conditions[?(@.type==\"Available\")]"
                             ".status}",
                             cluster_->dir() + "/deployments.watch");
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

  // config-server was installed, and its Deployment Available, before gateway and orders were
  // installed: its release record turned deployed, and its Deployment Available, at an earlier
  // write of the API server than the first record of either dependent (pending-install).
  const long long csDeployed =
      records.firstRevision("sh.helm.release.v1.config-server.v1", "deployed");
  const long long csAvailable = deployments.firstRevision("config-server", "Available=True");
  ASSERT_GT(csDeployed, 0) << records.text();
  ASSERT_GT(csAvailable, 0) << deployments.text();
  for (const char* dependent : {"gateway", "orders"}) {
    const long long installed =
        records.firstRevision(std::string("sh.helm.release.v1.") + dependent + ".v1");
    ASSERT_GT(installed, 0) << dependent << "\n" << records.text();
    EXPECT_LT(csDeployed, installed)
        << dependent << " was installed before config-server was deployed\n"
        << records.text();
    EXPECT_LT(csAvailable, installed) << dependent << " was installed before config-server was "
                                      << "Ready\n"
                                      << deployments.text() << records.text();
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
  ASSERT_EQ(applyEnvironment(kConfigServerAndRegistry).exitCode, 0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_EQ(applyEnvironment(kConfigServerAlone).exitCode, 0);
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
// envop undoes the half-done upgrade instead of staying stuck — but only once no helm can
// still be running it (the release's timeout and helm's kill grace have passed).
TEST_F(ReleasesTest, AReleaseLeftPendingByAKilledHelmIsRecovered) {
  ASSERT_EQ(applyEnvironment(R"(
    - name: orders
      chart: orders
      version: 1.0.0
      timeout: 10s
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
  // A lock this young may be a running helm's: it is waited on, not broken.
  EXPECT_TRUE(within(30s, [&] {
    const Json c = currentCondition("ReleasesReady");
    return c.is_object() && c.value("reason", "") == "ReleaseLocked";
  })) << diagnostics();
  EXPECT_EQ(latest("orders").value("status", ""), "pending-upgrade") << diagnostics();
  EXPECT_EQ(helmOps("rollback"), 0) << controller_->metrics();
  EXPECT_TRUE(within(180s,
                     [&] {
                       const Json last = latest("orders");
                       return last.value("status", "") == "deployed" && releasesReady();
                     }))
      << "the release stayed locked" << diagnostics();
  EXPECT_EQ(setting("orders", "chartVersion"), "1.0.0");
}

}  // namespace
}  // namespace envop::testing
