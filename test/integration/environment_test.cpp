// The Environment as users drive it: kubectl apply, wait for Ready, edit, delete.
// Each test has a control plane and a controller of its own, so that what it counts
// (writes, reconciles, events) is its own.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test/support/charts.h"
#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// The samples name Harbor's repository; the test serves their charts from a registry
// of its own, as `make demo` does.
constexpr const char* kSampleRepository = "oci://harbor.example.com/springcloud";

class EnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    registry_ = std::make_unique<TestRegistry>();
    pushTestCharts(*registry_, cluster_->value("HELM"));
    controller_ = std::make_unique<ControllerProcess>(
        "envop", cluster_->kubeconfig(),
        std::vector<std::string>{"--helm-binary", cluster_->value("HELM"), "--helm-state-dir",
                                 cluster_->dir() + "/helm-state"});
    ASSERT_TRUE(within(60s, [&] { return controller_->probe("/readyz") == 200; }))
        << controller_->log();
  }
  void TearDown() override {
    controller_.reset();
    registry_.reset();
    cluster_.reset();
  }

  // A sample as shipped, its charts repository pointed at the test's registry.
  std::string sample(const std::string& name) {
    std::ifstream in(std::string(ENVOP_SOURCE_DIR) + "/samples/" + name + ".yaml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string from = kSampleRepository;
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
      text.replace(at, from.size(), registry_->repository());
    }
    const std::string file = cluster_->dir() + "/sample-" + name + ".yaml";
    std::ofstream(file) << text;
    return file;
  }

  CommandResult kubectl(const std::vector<std::string>& args) { return cluster_->kubectl(args); }
  Json get(const std::vector<std::string>& what) { return cluster_->get(what); }
  CommandResult apply(const std::string& manifest) { return cluster_->apply(manifest); }
  CommandResult waitFor(const std::string& condition, const std::string& object,
                        const std::string& timeout = "60s") {
    return kubectl({"wait", "--for=" + condition, object, "--timeout=" + timeout});
  }
  // DriftRepaired occurrences about Environment `env` (an Event's series counts its repeats),
  // as "note" lines.
  std::vector<std::string> driftRepairs(const std::string& env) {
    std::vector<std::string> notes;
    const Json events =
        get({"events.events.k8s.io", "-n", "default", "--field-selector", "reason=DriftRepaired"});
    for (const Json& e : events.value("items", Json::array())) {
      if (e["regarding"].value("name", "") != env) continue;
      const int count = e.contains("series") ? e["series"].value("count", 1) : 1;
      for (int i = 0; i < count; ++i) notes.push_back(e.value("note", ""));
    }
    return notes;
  }
  // Notes of the Events about Environment `env` with this reason, wherever they were written.
  std::vector<std::string> eventNotes(const std::string& env, const std::string& reason) {
    std::vector<std::string> notes;
    const Json events = get({"events.events.k8s.io", "-A", "--field-selector", "reason=" + reason});
    if (!events.is_object()) return notes;
    for (const Json& e : events.value("items", Json::array())) {
      if (e["regarding"].value("name", "") == env) notes.push_back(e.value("note", ""));
    }
    return notes;
  }
  // The condition of that type in the Environment's status; null when absent.
  Json condition(const std::string& env, const std::string& type) {
    const Json object = get({"environment", env});
    if (!object.is_object() || !object.contains("status")) return nullptr;
    for (const Json& c : object["status"].value("conditions", Json::array())) {
      if (c["type"] == type) return c;
    }
    return nullptr;
  }

  std::unique_ptr<ScopedCluster> cluster_;
  std::unique_ptr<TestRegistry> registry_;
  std::unique_ptr<ControllerProcess> controller_;
};

TEST_F(EnvironmentTest, EverySampleReachesReadyWithItsNamespaceFencedAndWired) {
  // The shared namespace of external services may be there before envop.
  ASSERT_EQ(kubectl({"create", "namespace", "ext"}).exitCode, 0);
  for (const char* name : {"pro", "pre", "test", "dev"}) {
    const CommandResult r = kubectl({"apply", "-f", sample(name)});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  for (const char* name : {"pro", "pre", "test", "dev"}) {
    const CommandResult r = waitFor("condition=Ready", std::string("environment/") + name);
    ASSERT_EQ(r.exitCode, 0) << name << ": " << r.err << "\n" << controller_->log();
  }

  const Json pro = get({"environment", "pro"});
  EXPECT_EQ(pro["status"]["phase"], "Ready");
  EXPECT_EQ(pro["status"]["namespace"], "pro");
  EXPECT_EQ(pro["status"]["observedGeneration"], pro["metadata"]["generation"]);
  EXPECT_EQ(pro["metadata"]["finalizers"], Json::array({"envop.io/finalizer"}));

  const Json ns = get({"namespace", "pro"});
  EXPECT_EQ(ns["metadata"]["labels"]["team"], "springcloud");
  EXPECT_EQ(ns["metadata"]["labels"]["app.kubernetes.io/managed-by"], "envop");
  EXPECT_EQ(ns["metadata"]["labels"]["envop.io/environment"], "pro");

  const Json quota = get({"resourcequota", "envop-quota", "-n", "pro"});
  EXPECT_EQ(quota["spec"]["hard"]["pods"], "200");
  const Json limits = get({"limitrange", "envop-limits", "-n", "pro"});
  EXPECT_EQ(limits["spec"]["limits"][0]["default"]["memory"], "512Mi");
  const Json netpol = get({"networkpolicy", "envop-isolation", "-n", "pro"});
  EXPECT_EQ(netpol["spec"]["policyTypes"], Json::array({"Ingress"}));
  EXPECT_TRUE(get({"networkpolicy", "envop-isolation", "-n", "dev"}).is_null())
      << "dev is not isolated";

  // ext is envop's (so its informers see it), but no one Environment's.
  const Json ext = get({"namespace", "ext"});
  EXPECT_EQ(ext["metadata"]["labels"].value("app.kubernetes.io/managed-by", ""), "envop")
      << ext.dump();
  EXPECT_FALSE(ext["metadata"]["labels"].contains("envop.io/environment")) << ext.dump();

  // Production middleware reachable by name from ext.
  const Json pg = get({"service", "postgresql", "-n", "ext"});
  EXPECT_FALSE(pg["spec"].contains("selector"));
  EXPECT_EQ(pg["spec"]["ports"][0]["port"], 5432);
  const Json slice = get({"endpointslice", "postgresql-ipv4", "-n", "ext"});
  EXPECT_EQ(slice["metadata"]["labels"]["kubernetes.io/service-name"], "postgresql");
  ASSERT_EQ(slice["endpoints"].size(), 2u);
  EXPECT_EQ(slice["endpoints"][0]["addresses"][0], "10.20.0.11");

  // Each stage's services, installed from the registry in dependsOn order.
  EXPECT_EQ(pro["status"]["releaseSummary"], "4/4");
  for (const Json& release : pro["status"]["releases"]) {
    EXPECT_EQ(release["status"], "deployed") << release.dump();
  }
  EXPECT_EQ(get({"deployment", "gateway", "-n", "pro"})["status"]["readyReplicas"], 3);
  const CommandResult table = kubectl({"get", "environments"});
  for (const char* column : {"STAGE", "NAMESPACE", "READY", "RELEASES", "AGE"}) {
    EXPECT_NE(table.out.find(column), std::string::npos) << table.out;
  }
  EXPECT_NE(table.out.find("production"), std::string::npos) << table.out;
}

TEST_F(EnvironmentTest, AResyncWithNothingChangedWritesNothing) {
  ASSERT_EQ(kubectl({"apply", "-f", sample("pro")}).exitCode, 0);
  ASSERT_EQ(waitFor("condition=Ready", "environment/pro").exitCode, 0) << controller_->log();
  // Let what the first reconciles set off play out — watch events of the objects they
  // wrote, and the event recorder's coalesced writes (up to a second late).
  ASSERT_TRUE(controller_->waitUntilIdle(3s)) << controller_->metrics();
  const double writesBefore = controller_->writes();
  const double reconcilesBefore = controller_->reconciles();
  // A metadata-only change wakes the controller without changing what it must do.
  ASSERT_EQ(kubectl({"annotate", "environment", "pro", "touched=1"}).exitCode, 0);
  ASSERT_TRUE(within(30s, [&] { return controller_->reconciles() > reconcilesBefore; }));
  // Whatever the resync wrote, the event recorder included (up to a second late), is counted
  // only once it has played out.
  ASSERT_TRUE(controller_->waitUntilIdle(3s)) << controller_->metrics();
  EXPECT_EQ(controller_->writes(), writesBefore) << "a resync wrote to the API server";
}

TEST_F(EnvironmentTest, DriftIsRepairedFromWatchesWithAnEvent) {
  ASSERT_EQ(kubectl({"apply", "-f", sample("test")}).exitCode, 0);
  ASSERT_EQ(waitFor("condition=Ready", "environment/test").exitCode, 0) << controller_->log();

  ASSERT_EQ(kubectl({"delete", "resourcequota", "envop-quota", "-n", "test"}).exitCode, 0);
  EXPECT_EQ(
      kubectl({"wait", "--for=create", "resourcequota/envop-quota", "-n", "test", "--timeout=30s"})
          .exitCode,
      0)
      << controller_->log();

  ASSERT_EQ(kubectl({"patch", "networkpolicy", "envop-isolation", "-n", "test", "--type=merge",
                     "-p", R"({"spec":{"podSelector":{"matchLabels":{"opened":"by-hand"}}}})"})
                .exitCode,
            0);
  EXPECT_TRUE(within(30s, [&] {
    const Json netpol = get({"networkpolicy", "envop-isolation", "-n", "test"});
    return netpol.is_object() && netpol["spec"]["podSelector"] == Json::object();
  })) << controller_->log();

  // The quota's repair made an event already: this one must be the NetworkPolicy's own.
  EXPECT_TRUE(within(30s, [&] {
    for (const std::string& note : driftRepairs("test")) {
      if (note.find("NetworkPolicy test/envop-isolation") != std::string::npos) return true;
    }
    return false;
  })) << "no DriftRepaired event for the NetworkPolicy";
}

TEST_F(EnvironmentTest, PodsComingAndGoingUnderAQuotaAreNoDriftAndAQuotaEditIs) {
  ASSERT_EQ(apply(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: busy}
spec:
  stage: development
  namespace:
    name: busy
    resourceQuota:
      hard: {pods: "20", requests.cpu: "4"}
    limitRange:
      default: {cpu: 100m, memory: 64Mi}
      defaultRequest: {cpu: 10m, memory: 16Mi}
)")
                .exitCode,
            0);
  ASSERT_EQ(waitFor("condition=Ready", "environment/busy").exitCode, 0) << controller_->log();
  auto podsUsed = [&] {
    const Json quota = get({"resourcequota", "envop-quota", "-n", "busy"});
    return quota.is_object() ? quota["status"]["used"].value("pods", "") : std::string();
  };
  // The quota controller fills in what the namespace uses.
  ASSERT_TRUE(within(60s, [&] { return podsUsed() == "0"; })) << podsUsed();
  // No image is ever pulled: kwok plays the kubelet.
  ASSERT_EQ(kubectl({"create", "deployment", "web", "-n", "busy", "--image=registry.invalid/web:1",
                     "--replicas=5"})
                .exitCode,
            0);
  ASSERT_TRUE(within(90s, [&] { return podsUsed() == "5"; })) << podsUsed();
  ASSERT_TRUE(controller_->waitUntilIdle(3s)) << controller_->metrics();
  const double writesBefore = controller_->writes();
  const double reconcilesBefore = controller_->reconciles();

  for (const char* replicas : {"1", "5"}) {
    ASSERT_EQ(
        kubectl({"scale", "deployment", "web", "-n", "busy", std::string("--replicas=") + replicas})
            .exitCode,
        0);
    ASSERT_TRUE(within(90s, [&] { return podsUsed() == replicas; })) << podsUsed();
  }
  ASSERT_TRUE(controller_->waitUntilIdle(3s)) << controller_->metrics();
  EXPECT_GT(controller_->reconciles(), reconcilesBefore)
      << "the quota's status changes never reached the controller";
  EXPECT_EQ(controller_->writes(), writesBefore) << "a quota's status is not envop's to write";
  EXPECT_EQ(driftRepairs("busy"), std::vector<std::string>{});

  // A field envop applied, edited by hand: drift, repaired once.
  ASSERT_EQ(kubectl({"patch", "resourcequota", "envop-quota", "-n", "busy", "--type=merge", "-p",
                     R"({"spec":{"hard":{"pods":"7"}}})"})
                .exitCode,
            0);
  EXPECT_TRUE(within(30s, [&] {
    const Json quota = get({"resourcequota", "envop-quota", "-n", "busy"});
    return quota.is_object() && quota["spec"]["hard"].value("pods", "") == "20";
  })) << controller_->log();
  ASSERT_TRUE(controller_->waitUntilIdle(3s)) << controller_->metrics();
  const std::vector<std::string> repairs = driftRepairs("busy");
  ASSERT_EQ(repairs.size(), 1u) << ::testing::PrintToString(repairs);
  EXPECT_NE(repairs[0].find("ResourceQuota busy/envop-quota"), std::string::npos) << repairs[0];
}

TEST_F(EnvironmentTest, TheLastReleaseRemovedLeavesNoReleasesInStatusAndThenNoWrites) {
  const std::string head = R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: lean}
spec:
  stage: development
  namespace: {name: lean}
  charts: {repository: )" + registry_->repository() +
                           R"(, plainHTTP: true}
)";
  ASSERT_EQ(apply(head + R"(  releases:
    - {name: config-server, chart: config-server, version: 1.0.0}
)")
                .exitCode,
            0);
  ASSERT_EQ(waitFor("condition=Ready", "environment/lean", "120s").exitCode, 0)
      << controller_->log();
  ASSERT_EQ(get({"environment", "lean"})["status"].value("releases", Json::array()).size(), 1u);

  ASSERT_EQ(apply(head).exitCode, 0);
  EXPECT_TRUE(within(60s,
                     [&] {
                       const Json status = get({"environment", "lean"})["status"];
                       return !status.contains("releases") && !status.contains("releaseSummary");
                     }))
      << get({"environment", "lean"})["status"].dump() << controller_->log();

  ASSERT_TRUE(controller_->waitUntilIdle(3s)) << controller_->metrics();
  const double writesBefore = controller_->writes();
  const double reconcilesBefore = controller_->reconciles();
  ASSERT_EQ(kubectl({"annotate", "environment", "lean", "touched=1"}).exitCode, 0);
  ASSERT_TRUE(within(30s, [&] { return controller_->reconciles() > reconcilesBefore; }));
  ASSERT_TRUE(controller_->waitUntilIdle(3s)) << controller_->metrics();
  EXPECT_EQ(controller_->writes(), writesBefore) << "the resync rewrote the status";
}

TEST_F(EnvironmentTest, AFieldAnotherManagerOwnsOnAnAdoptedNamespaceIsLeftAndNamed) {
  ASSERT_EQ(kubectl({"create", "namespace", "shared"}).exitCode, 0);
  ASSERT_EQ(
      kubectl({"label", "namespace", "shared", "app.kubernetes.io/managed-by=argocd"}).exitCode, 0);
  ASSERT_EQ(apply(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: shared}
spec:
  stage: development
  namespace: {name: shared, creationPolicy: Adopt}
  charts: {repository: )" +
                  registry_->repository() +
                  R"(, plainHTTP: true}
  releases:
    - {name: config-server, chart: config-server, version: 1.0.0}
)")
                .exitCode,
            0);
  ASSERT_EQ(waitFor("condition=Stalled", "environment/shared").exitCode, 0) << controller_->log();
  // The namespace is there: a label envop may not set on it holds back no release.
  EXPECT_TRUE(within(120s,
                     [&] {
                       const Json releases = condition("shared", "ReleasesReady");
                       return releases.is_object() && releases["status"] == "True";
                     }))
      << get({"environment", "shared"}).dump() << controller_->log();
  EXPECT_TRUE(get({"configmap", "config-server-settings", "-n", "shared"}).is_object());
  const Json ns = get({"namespace", "shared"});
  EXPECT_EQ(ns["metadata"]["labels"].value("app.kubernetes.io/managed-by", ""), "argocd")
      << "envop took a field another manager owns";
  EXPECT_FALSE(ns["metadata"]["labels"].contains("envop.io/environment")) << ns.dump();
  const Json nsReady = condition("shared", "NamespaceReady");
  ASSERT_TRUE(nsReady.is_object());
  EXPECT_EQ(nsReady["status"], "False");
  EXPECT_EQ(nsReady["reason"], "FieldConflict");
  const std::string message = nsReady.value("message", "");
  EXPECT_NE(message.find(".metadata.labels.app.kubernetes.io/managed-by"), std::string::npos)
      << message;
  EXPECT_NE(message.find("\"kubectl-label\""), std::string::npos) << message;
  const Json stalled = condition("shared", "Stalled");
  ASSERT_TRUE(stalled.is_object());
  EXPECT_NE(stalled.value("message", "").find("kubectl-label"), std::string::npos) << stalled;
}

TEST_F(EnvironmentTest, DeletionFollowsDeletionPolicy) {
  ASSERT_EQ(kubectl({"apply", "-f", sample("pro")}).exitCode, 0);
  ASSERT_EQ(kubectl({"apply", "-f", sample("dev")}).exitCode, 0);
  ASSERT_EQ(waitFor("condition=Ready", "environment/pro").exitCode, 0) << controller_->log();
  ASSERT_EQ(waitFor("condition=Ready", "environment/dev").exitCode, 0) << controller_->log();

  // pro: Retain keeps the namespace and its guardrails, without envop's labels.
  CommandResult r = kubectl({"delete", "environment", "pro", "--timeout=60s"});
  ASSERT_EQ(r.exitCode, 0) << r.err << controller_->log();
  const Json ns = get({"namespace", "pro"});
  ASSERT_TRUE(ns.is_object()) << "a Retain namespace was deleted";
  EXPECT_EQ(ns["status"]["phase"], "Active");
  EXPECT_FALSE(ns["metadata"]["labels"].contains("app.kubernetes.io/managed-by"));
  EXPECT_FALSE(ns["metadata"]["labels"].contains("envop.io/environment"));
  EXPECT_EQ(ns["metadata"]["labels"]["team"], "springcloud");
  const Json quota = get({"resourcequota", "envop-quota", "-n", "pro"});
  ASSERT_TRUE(quota.is_object());
  EXPECT_FALSE(quota["metadata"].value("labels", Json::object()).contains("envop.io/environment"));
  EXPECT_TRUE(get({"service", "postgresql", "-n", "ext"}).is_object())
      << "retained production's middleware endpoints";

  // dev: Delete removes the namespace for real (the namespace controller empties it).
  r = kubectl({"delete", "environment", "dev", "--timeout=90s"});
  ASSERT_EQ(r.exitCode, 0) << r.err << controller_->log();
  EXPECT_EQ(kubectl({"get", "namespace", "dev"}).exitCode, 1) << "dev namespace still there";
}

TEST_F(EnvironmentTest, AdoptionFollowsCreationPolicy) {
  ASSERT_EQ(kubectl({"create", "namespace", "legacy"}).exitCode, 0);
  ASSERT_EQ(kubectl({"create", "configmap", "keep-me", "-n", "legacy"}).exitCode, 0);
  const std::string manifest = R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: legacy}
spec:
  stage: test
  namespace: {name: legacy, creationPolicy: Create}
)";
  ASSERT_EQ(apply(manifest).exitCode, 0);
  ASSERT_EQ(waitFor("condition=Stalled", "environment/legacy").exitCode, 0) << controller_->log();
  Json env = get({"environment", "legacy"});
  Json ready;
  for (const Json& c : env["status"]["conditions"]) {
    if (c["type"] == "Ready") ready = c;
  }
  EXPECT_EQ(ready["status"], "False");
  EXPECT_NE(ready["message"].get<std::string>().find("creationPolicy is Create"), std::string::npos)
      << ready.dump();
  EXPECT_FALSE(get({"namespace", "legacy"})["metadata"]["labels"].contains("envop.io/environment"))
      << "Create must not touch a namespace it did not create";

  ASSERT_EQ(kubectl({"patch", "environment", "legacy", "--type=merge", "-p",
                     R"({"spec":{"namespace":{"creationPolicy":"CreateOrAdopt"}}})"})
                .exitCode,
            0);
  ASSERT_EQ(waitFor("condition=Ready", "environment/legacy").exitCode, 0) << controller_->log();
  const Json ns = get({"namespace", "legacy"});
  EXPECT_EQ(ns["metadata"]["labels"]["envop.io/environment"], "legacy");
  EXPECT_EQ(ns["metadata"]["annotations"]["envop.io/adopted"], "true");

  // A test stage deletes its namespace by default, but never one it adopted unless told.
  ASSERT_EQ(kubectl({"delete", "environment", "legacy", "--timeout=60s"}).exitCode, 0);
  EXPECT_TRUE(get({"configmap", "keep-me", "-n", "legacy"}).is_object());

  const std::string adoptMissing = R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: ghost}
spec:
  stage: development
  namespace: {name: ghost, creationPolicy: Adopt}
)";
  ASSERT_EQ(apply(adoptMissing).exitCode, 0);
  ASSERT_EQ(waitFor("condition=Stalled", "environment/ghost").exitCode, 0) << controller_->log();
  EXPECT_EQ(kubectl({"get", "namespace", "ghost"}).exitCode, 1);
}

TEST_F(EnvironmentTest, SuspendedEnvironmentChangesNothingAndSaysSo) {
  const std::string manifest = R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: frozen}
spec:
  stage: development
  suspend: true
  namespace: {name: frozen}
)";
  ASSERT_EQ(apply(manifest).exitCode, 0);
  EXPECT_TRUE(within(30s, [&] {
    const nlohmann::json env = get({"environment", "frozen"});
    return env.is_object() &&
           env.value("status", nlohmann::json::object()).value("phase", "") == "Suspended";
  })) << controller_->log();
  EXPECT_EQ(kubectl({"get", "namespace", "frozen"}).exitCode, 1) << "suspend created a namespace";
  // What is not there is said, not made.
  const Json nsReady = condition("frozen", "NamespaceReady");
  ASSERT_TRUE(nsReady.is_object()) << get({"environment", "frozen"}).dump();
  EXPECT_EQ(nsReady["status"], "False");
  EXPECT_EQ(nsReady["reason"], "DriftDetected");
  EXPECT_NE(nsReady.value("message", "").find("Namespace frozen is missing"), std::string::npos)
      << nsReady;
}

// Suspended, envop observes and reports: a guardrail deleted by hand is named in
// NamespaceReady and left deleted; the releases keep their last condition; deleting the
// Environment lets go of it and deletes nothing, with an event saying so.
TEST_F(EnvironmentTest, SuspendedReportsDriftRepairsNothingAndIsDeletedWithNothingElse) {
  const std::string head = R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: still}
spec:
  stage: development
  namespace:
    name: still
    resourceQuota:
      hard: {pods: "20"}
    limitRange:
      default: {cpu: 100m, memory: 64Mi}
  charts: {repository: )" + registry_->repository() +
                           R"(, plainHTTP: true}
  releases:
    - {name: config-server, chart: config-server, version: 1.0.0}
)";
  ASSERT_EQ(apply(head).exitCode, 0);
  ASSERT_EQ(waitFor("condition=Ready", "environment/still", "120s").exitCode, 0)
      << controller_->log();

  ASSERT_EQ(kubectl({"patch", "environment", "still", "--type=merge", "-p",
                     R"({"spec":{"suspend":true}})"})
                .exitCode,
            0);
  ASSERT_TRUE(within(30s,
                     [&] {
                       const Json env = get({"environment", "still"});
                       const Json nsReady = condition("still", "NamespaceReady");
                       return env.is_object() && env["status"].value("phase", "") == "Suspended" &&
                              env["status"].value("observedGeneration", 0) ==
                                  env["metadata"]["generation"] &&
                              nsReady.is_object() && nsReady["status"] == "True";
                     }))
      << get({"environment", "still"}).dump() << controller_->log();
  // Not looked at while suspended: as the last reconcile found them.
  const Json releasesReady = condition("still", "ReleasesReady");
  ASSERT_TRUE(releasesReady.is_object()) << get({"environment", "still"}).dump();
  EXPECT_EQ(releasesReady["status"], "True");

  ASSERT_EQ(kubectl({"delete", "resourcequota", "envop-quota", "-n", "still"}).exitCode, 0);
  EXPECT_TRUE(within(
      30s,
      [&] {
        const Json nsReady = condition("still", "NamespaceReady");
        return nsReady.is_object() && nsReady["status"] == "False" &&
               nsReady["reason"] == "DriftDetected" &&
               nsReady.value("message", "").find("ResourceQuota still/envop-quota is missing") !=
                   std::string::npos;
      }))
      << get({"environment", "still"}).dump() << controller_->log();
  ASSERT_TRUE(controller_->waitUntilIdle(3s)) << controller_->metrics();
  EXPECT_EQ(kubectl({"get", "resourcequota", "envop-quota", "-n", "still"}).exitCode, 1)
      << "a suspended Environment restored its quota";
  EXPECT_EQ(driftRepairs("still"), std::vector<std::string>{});

  // development deletes its namespace by default; suspended, nothing goes.
  const CommandResult r = kubectl({"delete", "environment", "still", "--timeout=60s"});
  ASSERT_EQ(r.exitCode, 0) << r.err << controller_->log();
  EXPECT_EQ(kubectl({"get", "environment", "still"}).exitCode, 1);
  const Json ns = get({"namespace", "still"});
  ASSERT_TRUE(ns.is_object()) << "deleting a suspended Environment deleted its namespace";
  EXPECT_EQ(ns["status"]["phase"], "Active");
  EXPECT_TRUE(get({"limitrange", "envop-limits", "-n", "still"}).is_object());
  EXPECT_TRUE(get({"configmap", "config-server-settings", "-n", "still"}).is_object())
      << "a release's objects went";
  EXPECT_TRUE(within(30s, [&] {
    for (const std::string& note : eventNotes("still", "DeletedWhileSuspended")) {
      if (note.find("deleted nothing") != std::string::npos) return true;
    }
    return false;
  })) << "no event says the deletion deleted nothing";
}

// Two Environments declare the same Service in the shared `ext` namespace: the later one's
// ExternalServicesReady names the first, and the clash stops nothing else of its stage.
TEST_F(EnvironmentTest, AnExtClashDegradesOnlyTheLaterEnvironmentsExternalServices) {
  const std::string ext = R"(
  externalServices:
    namespace: ext
    services:
      - {name: pg, addresses: [10.20.0.11], ports: [{name: pg, port: 5432}]}
)";
  ASSERT_EQ(apply(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: first}
spec:
  stage: development
  namespace: {name: first})" +
                  ext)
                .exitCode,
            0);
  ASSERT_EQ(waitFor("condition=Ready", "environment/first").exitCode, 0) << controller_->log();
  const Json firstExt = condition("first", "ExternalServicesReady");
  ASSERT_TRUE(firstExt.is_object()) << get({"environment", "first"}).dump();
  EXPECT_EQ(firstExt["status"], "True");

  ASSERT_EQ(apply(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: later}
spec:
  stage: development
  namespace:
    name: later
    resourceQuota:
      hard: {pods: "20"}
  charts: {repository: )" +
                  registry_->repository() +
                  R"(, plainHTTP: true}
  releases:
    - {name: config-server, chart: config-server, version: 1.0.0}
)" + ext)
                .exitCode,
            0);
  EXPECT_TRUE(within(120s,
                     [&] {
                       const Json releases = condition("later", "ReleasesReady");
                       return releases.is_object() && releases["status"] == "True";
                     }))
      << get({"environment", "later"}).dump() << controller_->log();

  const Json extReady = condition("later", "ExternalServicesReady");
  ASSERT_TRUE(extReady.is_object()) << get({"environment", "later"}).dump();
  EXPECT_EQ(extReady["status"], "False");
  EXPECT_EQ(extReady["reason"], "ExternalServiceConflict");
  EXPECT_NE(extReady.value("message", "").find("Environment first"), std::string::npos) << extReady;
  const Json nsReady = condition("later", "NamespaceReady");
  ASSERT_TRUE(nsReady.is_object());
  EXPECT_EQ(nsReady["status"], "True") << nsReady;
  EXPECT_EQ(get({"resourcequota", "envop-quota", "-n", "later"})["spec"]["hard"]["pods"], "20");
  const Json later = get({"environment", "later"});
  ASSERT_EQ(later["status"].value("releases", Json::array()).size(), 1u) << later.dump();
  EXPECT_EQ(later["status"]["releases"][0]["status"], "deployed");
  EXPECT_TRUE(get({"configmap", "config-server-settings", "-n", "later"}).is_object());
  EXPECT_EQ(condition("later", "Ready")["status"], "False") << "a clash is not Ready";

  // The Service stays the first one's, as it declared it.
  const Json pg = get({"service", "pg", "-n", "ext"});
  EXPECT_EQ(pg["metadata"]["labels"].value("envop.io/environment", ""), "first") << pg.dump();
  EXPECT_EQ(condition("first", "ExternalServicesReady")["status"], "True");
}

}  // namespace
}  // namespace envop::testing
