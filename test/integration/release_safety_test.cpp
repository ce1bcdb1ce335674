// Releases that never hurt a healthy service: a registry outage changes nothing that is
// deployed, a failed uninstall is not reported as Ready, drift of any object a release owns
// is put back (or only reported, or left to its other owner, as driftDetection says), and a
// resync of an unchanged stage runs no helm process at all. Real control plane, real helm,
// real registry; faults are real too (the registry killed, a helm that fails to uninstall).
#include <sys/stat.h>

#include "test/support/releases_fixture.h"

namespace envop::testing {
namespace {

// Every release with the harshest remediation: were a registry outage ever counted as a
// failure, the first one would uninstall the release.
constexpr const char* kFragileStage = R"(
    - name: config-server
      chart: config-server
      version: 1.0.0
      remediation: {retries: 0, onFailure: Uninstall}
    - name: registry
      chart: registry
      version: 1.0.0
      remediation: {retries: 0, onFailure: Uninstall}
    - name: gateway
      chart: gateway
      version: 1.0.0
      dependsOn: [config-server]
      remediation: {retries: 0, onFailure: Uninstall}
    - name: orders
      chart: orders
      version: 1.0.0
      dependsOn: [config-server]
      remediation: {retries: 0, onFailure: Rollback}
)";

TEST_F(ReleasesTest, ARegistryOutageNeverTouchesDeployedReleases) {
  // Digests are looked up again every 2 s (a stage in sync is requeued after the recheck
  // interval), so the outage is seen at once; idle means no reconcile due within a second.
  startController({"--chart-recheck-interval=2s"});
  ASSERT_EQ(applyEnvironment(kFragileStage).exitCode, 0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(1s)) << controller_->metrics();
  const std::map<std::string, int> before = revisions();
  ASSERT_EQ(before.size(), 4u) << diagnostics();
  const double changesBefore = stateChangingHelmOps();

  stopRegistry();
  // Touched, and one release's values changed: the upgrade it needs cannot happen.
  ASSERT_EQ(kubectl({"annotate", "environment", kEnv, "touched=1"}).exitCode, 0);
  ASSERT_EQ(patchEnvironment(
                R"([{"op":"add","path":"/spec/releases/1/values","value":{"greeting":"later"}}])")
                .exitCode,
            0);
  Json unavailable;
  ASSERT_TRUE(within(60s, [&] {
    unavailable = currentCondition("ReleasesReady");
    return unavailable.is_object() && unavailable.value("reason", "") == "ChartUnavailable";
  })) << diagnostics();
  const std::string message = unavailable.value("message", "");
  // It names a release and the repository it could not reach.
  // Which one depends on what was looked at first: the periodic recheck (config-server) or the
  // values change (registry).
  EXPECT_TRUE(message.find("release config-server") != std::string::npos ||
              message.find("release registry") != std::string::npos)
      << message;
  EXPECT_NE(message.find(registry_->host), std::string::npos) << message;

  // Retried with backoff, again and again, and still nothing is written to any release.
  const double reconciles = controller_->reconciles();
  ASSERT_TRUE(within(120s, [&] { return controller_->reconciles() >= reconciles + 6; }))
      << diagnostics();
  EXPECT_EQ(stateChangingHelmOps(), changesBefore) << controller_->metrics();
  EXPECT_EQ(revisions(), before) << diagnostics();
  for (const auto& [name, revision] : before) {
    EXPECT_EQ(latest(name).value("status", ""), "deployed") << name << diagnostics();
    EXPECT_EQ(releaseStatus(name).value("status", ""), "deployed") << name;
  }
  EXPECT_EQ(setting("registry", "greeting"), "hello from registry");

  // Back: the pending change is made, and nothing else.
  restartRegistry();
  ASSERT_TRUE(within(150s, [&] { return releasesReady(); })) << diagnostics();
  EXPECT_EQ(setting("registry", "greeting"), "later");
  std::map<std::string, int> after = before;
  after["registry"] += 1;
  EXPECT_EQ(revisions(), after) << diagnostics();
  EXPECT_EQ(helmOps("rollback") + helmOps("uninstall"), 0) << controller_->metrics();
}

TEST_F(ReleasesTest, AnOutageWithNothingToChangeReportsAndThenRecoversWithoutARevision) {
  startController({"--chart-recheck-interval=2s"});
  ASSERT_EQ(applyEnvironment(kFragileStage).exitCode, 0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(1s)) << controller_->metrics();
  const std::map<std::string, int> before = revisions();
  const double changesBefore = stateChangingHelmOps();

  stopRegistry();
  ASSERT_EQ(kubectl({"annotate", "environment", kEnv, "touched=1"}).exitCode, 0);
  ASSERT_TRUE(within(60s, [&] {
    const Json c = currentCondition("ReleasesReady");
    return c.is_object() && c.value("reason", "") == "ChartUnavailable";
  })) << diagnostics();
  restartRegistry();
  ASSERT_TRUE(within(150s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(1s)) << controller_->metrics();
  EXPECT_EQ(revisions(), before) << diagnostics();
  EXPECT_EQ(stateChangingHelmOps(), changesBefore) << controller_->metrics();
}

// A helm whose uninstall always fails; every other command is the real helm's.
std::string faultyHelm(const std::string& dir, const std::string& realHelm) {
  const std::string path = dir + "/helm-that-cannot-uninstall";
  std::ofstream(path) << "#!/bin/sh\n"
                         "if [ \"$1\" = uninstall ]; then\n"
                         "  echo 'Error: uninstallation completed with 1 error(s): injected' >&2\n"
                         "  exit 1\n"
                         "fi\n"
                         "exec '"
                      << realHelm << "' \"$@\"\n";
  ::chmod(path.c_str(), 0755);
  return path;
}

TEST_F(ReleasesTest, ARemovedReleaseWhoseUninstallFailsKeepsReleasesNotReady) {
  startController({"--helm-binary=" + faultyHelm(cluster_->dir(), helm_)});
  ASSERT_EQ(applyEnvironment(kConfigServerAndRegistry).exitCode, 0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_EQ(applyEnvironment(kConfigServerAlone).exitCode, 0);
  Json failed;
  ASSERT_TRUE(within(60s, [&] {
    failed = currentCondition("ReleasesReady");
    return failed.is_object() && failed["status"] == "False";
  })) << diagnostics();
  EXPECT_EQ(failed.value("reason", ""), "UninstallFailed") << failed.dump();
  EXPECT_NE(failed.value("message", "").find("registry"), std::string::npos) << failed.dump();
  // It stays so: later passes (config-server in step) do not paper over it.
  const double reconciles = controller_->reconciles();
  ASSERT_TRUE(within(90s, [&] { return controller_->reconciles() >= reconciles + 3; }));
  const Json still = currentCondition("ReleasesReady");
  EXPECT_EQ(still.value("status", ""), "False") << diagnostics();
  EXPECT_FALSE(releaseStatus("registry").empty()) << "the release left status before it was gone";
  EXPECT_FALSE(history("registry").empty());
}

TEST_F(ReleasesTest, EditsAndDeletesOfAnyObjectOfAReleaseArePutBackWithAnEvent) {
  ASSERT_EQ(applyEnvironment(R"(
    - name: gateway
      chart: gateway
      version: 1.0.0
    - name: agent
      chart: agent
      version: 1.0.0
)")
                .exitCode,
            0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  const std::map<std::string, int> before = revisions();

  // A Service's port.
  ASSERT_EQ(kubectl({"patch", "service", "gateway", "-n", kNs, "--type=json", "-p",
                     R"([{"op":"replace","path":"/spec/ports/0/port","value":9999}])"})
                .exitCode,
            0);
  EXPECT_TRUE(within(60s,
                     [&] {
                       const Json svc = get({"service", "gateway", "-n", kNs});
                       return svc.is_object() && svc["spec"]["ports"].size() == 1 &&
                              svc["spec"]["ports"][0].value("port", 0) == 8080;
                     }))
      << get({"service", "gateway", "-n", kNs}).dump() << diagnostics();
  EXPECT_TRUE(within(30s, [&] {
    return anEventSays("DriftRepaired",
                       {"Service " + std::string(kNs) + "/gateway", "/spec/ports"});
  })) << kubectl({"get", "events.events.k8s.io", "-A"}).out;

  // A ConfigMap's data.
  ASSERT_EQ(kubectl({"patch", "configmap", "gateway-settings", "-n", kNs, "--type=merge", "-p",
                     R"({"data":{"greeting":"edited by hand"}})"})
                .exitCode,
            0);
  EXPECT_TRUE(within(60s, [&] { return setting("gateway", "greeting") == "hello from gateway"; }))
      << diagnostics();
  EXPECT_TRUE(within(30s, [&] {
    return anEventSays("DriftRepaired",
                       {"ConfigMap " + std::string(kNs) + "/gateway-settings", "/data/greeting"});
  })) << kubectl({"get", "events.events.k8s.io", "-A"}).out;

  // A Secret, deleted.
  ASSERT_EQ(kubectl({"delete", "secret", "agent-token", "-n", kNs}).exitCode, 0);
  EXPECT_TRUE(within(60s, [&] {
    return get({"secret", "agent-token", "-n", kNs}).is_object();
  })) << diagnostics();
  EXPECT_TRUE(within(30s, [&] {
    return anEventSays("DriftRepaired", {"Secret " + std::string(kNs) + "/agent-token", "deleted"});
  })) << kubectl({"get", "events.events.k8s.io", "-A"}).out;

  // A DaemonSet, deleted.
  const std::string uid = get({"daemonset", "agent", "-n", kNs})["metadata"].value("uid", "");
  ASSERT_EQ(kubectl({"delete", "daemonset", "agent", "-n", kNs, "--wait=true"}).exitCode, 0);
  EXPECT_TRUE(within(60s, [&] {
    const Json ds = get({"daemonset", "agent", "-n", kNs});
    return ds.is_object() && ds["metadata"].value("uid", "") != uid;
  })) << diagnostics();
  EXPECT_TRUE(within(30s, [&] {
    return anEventSays("DriftRepaired", {"DaemonSet " + std::string(kNs) + "/agent", "deleted"});
  })) << kubectl({"get", "events.events.k8s.io", "-A"}).out;

  EXPECT_TRUE(within(60s, [&] { return releasesReady(); })) << diagnostics();
  // Edits are put back in place; only the deletes took a helm upgrade of agent.
  EXPECT_EQ(revisions()["gateway"], before.at("gateway")) << diagnostics();
  EXPECT_GT(revisions()["agent"], before.at("agent")) << diagnostics();

  // An edit made while no controller ran is found when one starts: drift is judged against
  // the release's manifest, not against anything remembered.
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  controller_.reset();
  ASSERT_EQ(kubectl({"patch", "configmap", "gateway-settings", "-n", kNs, "--type=merge", "-p",
                     R"({"data":{"greeting":"edited while envop was down"}})"})
                .exitCode,
            0);
  startController();
  EXPECT_TRUE(within(60s, [&] { return setting("gateway", "greeting") == "hello from gateway"; }))
      << diagnostics();
}

TEST_F(ReleasesTest, IgnoredFieldsAreLeftToTheirOwnerAndWarnOnlyReports) {
  ASSERT_EQ(applyEnvironment(R"(
    - name: gateway
      chart: gateway
      version: 1.0.0
      driftDetection:
        ignore: [{paths: [/spec/replicas], target: {kind: Deployment}}]
    - name: orders
      chart: orders
      version: 1.0.0
      driftDetection: {mode: Warn}
)")
                .exitCode,
            0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  const double changesBefore = stateChangingHelmOps();

  // kubectl scale (or an HPA) owns gateway's replicas: kept.
  ASSERT_EQ(kubectl({"scale", "deployment", "gateway", "-n", kNs, "--replicas=3"}).exitCode, 0);
  // orders is Warn: its edit is reported, not repaired.
  ASSERT_EQ(kubectl({"scale", "deployment", "orders", "-n", kNs, "--replicas=4"}).exitCode, 0);
  EXPECT_TRUE(
      within(60s,
             [&] {
               return anEventSays("DriftDetected", {"orders", "/spec/replicas", "not repaired"});
             }))
      << kubectl({"get", "events.events.k8s.io", "-A"}).out << diagnostics();
  EXPECT_NE(releaseStatus("orders").value("message", "").find("/spec/replicas"), std::string::npos)
      << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(3s)) << controller_->metrics();
  EXPECT_EQ(get({"deployment", "gateway", "-n", kNs})["spec"].value("replicas", 0), 3);
  EXPECT_EQ(get({"deployment", "orders", "-n", kNs})["spec"].value("replicas", 0), 4);
  EXPECT_EQ(stateChangingHelmOps(), changesBefore) << controller_->metrics();
  EXPECT_TRUE(eventNotes("DriftRepaired").empty())
      << kubectl({"get", "events.events.k8s.io", "-A"}).out;
  EXPECT_TRUE(releasesReady()) << diagnostics();
}

TEST_F(ReleasesTest, AResyncOfAnUnchangedStageRunsNoHelmProcessAndWritesNothing) {
  ASSERT_EQ(applyEnvironment(kStageReleases).exitCode, 0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  const double helmBefore = allHelmOps();
  ASSERT_GT(helmBefore, 0) << controller_->metrics();
  const double writesBefore = controller_->writes();
  const double reconciles = controller_->reconciles();

  ASSERT_EQ(kubectl({"annotate", "environment", kEnv, "touched=1"}).exitCode, 0);
  ASSERT_TRUE(within(30s, [&] { return controller_->reconciles() > reconciles; }));
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  EXPECT_EQ(allHelmOps(), helmBefore) << "a resync ran helm\n" << controller_->metrics();
  EXPECT_EQ(controller_->writes(), writesBefore) << controller_->metrics();
}

}  // namespace
}  // namespace envop::testing

namespace envop::testing {
namespace {

std::string base64(const std::string& in) {
  return runCommand({"sh", "-c", "printf '%s' \"$0\" | base64 -w0", in}).out;
}

// Charts from a password-protected registry; the password and a valuesFrom Secret's value
// reach no log line, no event and no status, and a wrong password is the registry's 401,
// never a remediation.
TEST_F(ReleasesTest, ChartsFromAPrivateRegistryInstallAndNoSecretLeaks) {
  const RegistryAccount account{"deployer", "pw-7f3a9c1e-not-in-any-log"};
  const std::string token = "token-5d2b8e44-not-in-any-log";
  registry_ = std::make_unique<TestRegistry>(account);
  pushTestCharts(*registry_, helm_);
  startController({"--log-level=debug"});

  ASSERT_EQ(kubectl({"create", "namespace", kNs}).exitCode, 0);
  auto dockerConfig = [&](const std::string& password) {
    return Json{{"auths",
                 {{registry_->host,
                   {{"username", account.username},
                    {"password", password},
                    {"auth", base64(account.username + ":" + password)}}}}}}
        .dump();
  };
  ASSERT_EQ(apply(R"(apiVersion: v1
kind: Secret
metadata: {name: charts, namespace: )" +
                  std::string(kNs) + R"(}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: )" +
                  base64(dockerConfig(account.password)) + R"(
---
apiVersion: v1
kind: Secret
metadata: {name: orders-secrets, namespace: )" +
                  std::string(kNs) + R"(}
stringData:
  values.yaml: "apiToken: )" +
                  token + R"("
)")
                .exitCode,
            0);
  const std::string manifest = std::string(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: )") + kEnv + R"(}
spec:
  stage: test
  namespace: {name: )" + kNs + R"(}
  charts:
    repository: )" + registry_->repository() +
                               R"(
    plainHTTP: true
    credentialsSecretRef: {name: charts}
  releases:
    - name: config-server
      chart: config-server
      version: 1.0.0
    - name: orders
      chart: orders
      version: 1.0.0
      valuesFrom: [{kind: Secret, name: orders-secrets}]
      remediation: {retries: 0, onFailure: Uninstall}
)";
  ASSERT_EQ(apply(manifest).exitCode, 0);
  ASSERT_TRUE(within(180s, [&] { return releasesReady(); })) << diagnostics();
  const Json settings = get({"configmap", "orders-settings", "-n", kNs});
  ASSERT_TRUE(settings.is_object()) << diagnostics();
  EXPECT_NE(settings["data"].value("values.json", "").find(token), std::string::npos)
      << "the valuesFrom Secret did not reach the chart: " << settings.dump();

  // A wrong password: the registry's 401, named; nothing deployed is touched.
  const std::map<std::string, int> before = revisions();
  ASSERT_EQ(apply(R"(apiVersion: v1
kind: Secret
metadata: {name: charts, namespace: )" +
                  std::string(kNs) + R"(}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: )" +
                  base64(dockerConfig("wrong-password")) + R"(
)")
                .exitCode,
            0);
  ASSERT_EQ(patchEnvironment(
                R"([{"op":"add","path":"/spec/releases/1/values","value":{"greeting":"new"}}])")
                .exitCode,
            0);
  Json refused;
  EXPECT_TRUE(within(90s, [&] {
    refused = currentCondition("ReleasesReady");
    return refused.is_object() && refused.value("reason", "") == "ChartUnavailable";
  })) << diagnostics();
  const std::string why = refused.is_object() ? refused.value("message", "") : "";
  EXPECT_TRUE(why.find("401") != std::string::npos || why.find("nauthorized") != std::string::npos)
      << why;
  EXPECT_EQ(revisions(), before) << diagnostics();
  EXPECT_EQ(helmOps("rollback") + helmOps("uninstall"), 0) << controller_->metrics();

  // Nothing anywhere holds either secret.
  const std::string events = kubectl({"get", "events.events.k8s.io", "-A", "-o", "json"}).out;
  const std::string status = environment().dump();
  for (const std::string& secret : {account.password, token, std::string("wrong-password")}) {
    EXPECT_EQ(controller_->log().find(secret), std::string::npos) << "the log holds " << secret;
    EXPECT_EQ(events.find(secret), std::string::npos) << "an event holds " << secret;
    EXPECT_EQ(status.find(secret), std::string::npos) << "the status holds " << secret;
  }
}

}  // namespace
}  // namespace envop::testing

namespace envop::testing {
namespace {

std::string stageWithQuota(const std::string& repository, const std::string& pods,
                           const std::string& releases) {
  return std::string(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: )") +
         kEnv + R"(}
spec:
  stage: test
  namespace:
    name: )" +
         kNs + R"(
    resourceQuota: {hard: {pods: ")" +
         pods + R"("}}
  charts: {repository: )" +
         repository + R"(, plainHTTP: true}
  releases:)" +
         releases;
}

// A spec that cannot be carried out as a whole changes nothing: not the quota edited in
// the same apply, not a release.
TEST_F(ReleasesTest, ACycleAddedWithAQuotaChangeChangesNothing) {
  ASSERT_EQ(apply(stageWithQuota(registry_->repository(), "10", R"(
    - {name: config-server, chart: config-server, version: 1.0.0}
    - {name: registry, chart: registry, version: 1.0.0}
)"))
                .exitCode,
            0);
  ASSERT_TRUE(within(180s, [&] {
    const Json c = currentCondition("Ready");
    return c.is_object() && c["status"] == "True";
  })) << diagnostics();
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  const double changes = stateChangingHelmOps();

  ASSERT_EQ(apply(stageWithQuota(registry_->repository(), "20", R"(
    - {name: config-server, chart: config-server, version: 1.0.1, dependsOn: [registry]}
    - {name: registry, chart: registry, version: 1.0.1, dependsOn: [config-server]}
)"))
                .exitCode,
            0);
  Json stalled;
  ASSERT_TRUE(within(60s, [&] {
    stalled = currentCondition("Stalled");
    return stalled.is_object() && stalled["status"] == "True";
  })) << diagnostics();
  EXPECT_NE(stalled.value("message", "").find("->"), std::string::npos) << stalled.dump();
  ASSERT_TRUE(controller_->waitUntilIdle(2s)) << controller_->metrics();
  const Json quota = get({"resourcequota", "envop-quota", "-n", kNs});
  ASSERT_TRUE(quota.is_object()) << diagnostics();
  EXPECT_EQ(quota["spec"]["hard"].value("pods", ""), "10") << "the quota was applied";
  EXPECT_EQ(stateChangingHelmOps(), changes) << controller_->metrics();
  EXPECT_EQ(latest("config-server").value("chart", ""), "config-server-1.0.0");
}

}  // namespace
}  // namespace envop::testing
