// Least privilege, enforced: the controller runs with the chart's ServiceAccount token and only
// the chart's RBAC, and still takes an Environment with a release and external services to
// Ready and deletes it again; the release rights it used are the ones it bound to itself in the
// stage and ext namespaces, and nowhere else (`kubectl auth can-i`).
//
// test/privilege/verbs-needed runs this test once per verb of the envop-controller ClusterRole,
// with that verb removed (ENVOP_PRIVILEGE_RBAC names the edited manifest), and expects it to
// fail each time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test/support/charts.h"
#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"
#include "test/support/prometheus_operator.h"

namespace envop::testing {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kSystem = "envop-system";
constexpr const char* kAccount = "system:serviceaccount:envop-system:envop-controller";
constexpr const char* kEnv = "lp";

class LeastPrivilegeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    // The Prometheus Operator's CRDs: envop watches and writes its kinds (a PrometheusRule).
    applyPrometheusOperatorCrds(*cluster_);
    registry_ = std::make_unique<TestRegistry>();
    helm_ = cluster_->helm();
    pushTestCharts(*registry_, helm_);
    const std::string helmDir = std::filesystem::path(helm_).parent_path().string();
    const char* path = std::getenv("PATH");
    ::setenv("PATH", (helmDir + ":" + (path == nullptr ? "" : path)).c_str(), 1);

    // The chart's RBAC and ServiceAccount, as helm renders them (or an edited copy).
    ASSERT_EQ(cluster_->kubectl({"create", "namespace", kSystem}).exitCode, 0);
    std::string rbac;
    if (const char* edited = std::getenv("ENVOP_PRIVILEGE_RBAC"); edited && *edited) {
      rbac = edited;
    } else {
      const CommandResult rendered =
          runCommand({helm_, "template", "envop", std::string(ENVOP_SOURCE_DIR) + "/helm/envop",
                      "--namespace", kSystem, "--show-only", "templates/rbac.yaml", "--show-only",
                      "templates/serviceaccount.yaml"},
                     isolatedHelmEnv(cluster_->dir()));
      ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
      rbac = cluster_->dir() + "/rbac.yaml";
      std::ofstream(rbac) << rendered.out;
    }
    const CommandResult applied = cluster_->kubectl({"apply", "-f", rbac});
    ASSERT_EQ(applied.exitCode, 0) << applied.out << applied.err;

    // A kubeconfig with nothing but the ServiceAccount's token, as the Pod would have.
    const CommandResult token =
        cluster_->kubectl({"create", "token", "envop-controller", "-n", kSystem, "--duration=2h"});
    ASSERT_EQ(token.exitCode, 0) << token.err;
    kubeconfig_ = cluster_->dir() + "/envop-controller.kubeconfig";
    std::ofstream(kubeconfig_) << "apiVersion: v1\nkind: Config\n"
                               << "clusters: [{name: c, cluster: {server: "
                               << cluster_->value("APISERVER_URL")
                               << ", certificate-authority: " << cluster_->dir()
                               << "/pki/ca.crt}}]\n"
                               << "users: [{name: u, user: {token: " << token.out << "}}]\n"
                               << "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                               << "current-context: x\n";
    controller_ = std::make_unique<ControllerProcess>(
        "envop-least-privilege", kubeconfig_,
        std::vector<std::string>{"--namespace", kSystem, "--release-cluster-role=envop-releases",
                                 "--service-account-name=envop-controller"});
    ASSERT_TRUE(within(bound(60s), [&] { return controller_->probe("/readyz") == 200; }))
        << "the controller's caches never synced with the chart's RBAC\n"
        << controller_->log();
  }
  void TearDown() override {
    controller_.reset();
    cluster_.reset();
    registry_.reset();
  }

  // How long a step may take: `normal`, or ENVOP_PRIVILEGE_BOUND seconds when that is shorter
  // (verbs-needed shortens it, since there every run is expected to fail).
  static std::chrono::milliseconds bound(std::chrono::seconds normal) {
    const char* s = std::getenv("ENVOP_PRIVILEGE_BOUND");
    if (s == nullptr || *s == '\0') return normal;
    return std::min<std::chrono::milliseconds>(normal, std::chrono::seconds(std::atoi(s)));
  }
  // `kubectl auth can-i` as the chart's ServiceAccount.
  bool can(const std::string& verb, const std::string& resource, const std::string& ns) {
    return cluster_->can(kAccount, verb, resource, ns);
  }
  Json condition(const std::string& type, const std::string& name = kEnv) {
    const Json env = cluster_->get({"environment", name});
    if (!env.is_object()) return Json();
    for (const Json& c : env.value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == type) return c;
    }
    return Json();
  }
  // Requests the API server refused envop (403), by rest_client_requests_total.
  double forbidden() {
    return sumSamples(controller_->metrics(), "rest_client_requests_total", {"code=\"403\""});
  }
  // The items of a `kubectl get` list; none when it failed.
  Json items(const std::vector<std::string>& what) {
    const Json list = cluster_->get(what);
    return list.is_object() ? list.value("items", Json::array()) : Json::array();
  }
  bool isTrue(const std::string& type, const std::string& name = kEnv) {
    const Json c = condition(type, name);
    return c.is_object() && c.value("status", "") == "True";
  }
  std::string diagnostics() {
    return "\nEnvironment: " + cluster_->get({"environment", kEnv}).dump() +
           "\ncontroller log: " + controller_->log();
  }

  std::unique_ptr<ScopedCluster> cluster_;
  std::unique_ptr<TestRegistry> registry_;
  std::unique_ptr<ControllerProcess> controller_;
  std::string helm_;
  std::string kubeconfig_;
};

TEST_F(LeastPrivilegeTest, TheChartsServiceAccountRunsAStageAndMayWriteOnlyWhereStagesLive) {
  // Before any stage: the release rights are nowhere, the controller's own namespace included.
  EXPECT_FALSE(can("create", "deployments.apps", kSystem));
  EXPECT_FALSE(can("delete", "secrets", "kube-system"));

  ASSERT_EQ(cluster_
                ->apply(std::string(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: lp}
spec:
  stage: test
  namespace:
    name: lp
    resourceQuota: {hard: {pods: "20"}}
    limitRange: {default: {cpu: 500m}}
    networkIsolation: Isolated
  externalServices:
    namespace: ext
    services:
      - {name: pg, addresses: [10.20.0.11], ports: [{name: pg, port: 5432}]}
      - {name: cache, hostname: redis.example.com, ports: [{port: 6379}]}
  charts:
    repository: )") + registry_->repository() +
                        R"(
    plainHTTP: true
  releases:
    - {name: config-server, chart: config-server, version: 1.0.0}
  monitoring:
    prometheus: {mode: Auto}
    alerts:
      system: {enabled: true}
)")
                .exitCode,
            0);
  // A production stage keeps its namespace when deleted (deletionPolicy Retain).
  ASSERT_EQ(cluster_
                ->apply(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: lpk}
spec:
  stage: production
  namespace: {name: lpk, resourceQuota: {hard: {pods: "5"}}}
)")
                .exitCode,
            0);
  ASSERT_TRUE(within(bound(120s), [&] { return isTrue("Ready"); })) << diagnostics();
  ASSERT_TRUE(within(bound(60s), [&] { return isTrue("Ready", "lpk"); }))
      << cluster_->get({"environment", "lpk"}).dump() << diagnostics();
  for (const char* type :
       {"NamespaceReady", "ExternalServicesReady", "ReleasesReady", "MonitoringReady"}) {
    EXPECT_TRUE(isTrue(type)) << type << diagnostics();
  }
  // What envop and helm wrote is there.
  EXPECT_TRUE(cluster_->get({"resourcequota", "envop-quota", "-n", "lp"}).is_object());
  EXPECT_TRUE(cluster_->get({"networkpolicy", "envop-isolation", "-n", "lp"}).is_object());
  EXPECT_TRUE(cluster_->get({"service", "pg", "-n", "ext"}).is_object());
  EXPECT_EQ(items({"prometheusrules.monitoring.coreos.com", "-n", "lp"}).size(), 1u)
      << cluster_->kubectl({"get", "prometheusrules.monitoring.coreos.com", "-A"}).out;
  EXPECT_EQ(
      items({"deployment", "-n", "lp", "-l", "app.kubernetes.io/instance=config-server"}).size(),
      1u)
      << cluster_->kubectl({"get", "all", "-n", "lp"}).out;

  // An event that recurs is one Event whose series counts it (the recorder PATCHes the series):
  // the quota deleted twice is put back twice, with the same DriftRepaired note.
  for (int i = 0; i < 2; ++i) {
    const Json before = cluster_->get({"resourcequota", "envop-quota", "-n", "lp"});
    ASSERT_TRUE(before.is_object());
    ASSERT_EQ(cluster_->kubectl({"delete", "resourcequota", "envop-quota", "-n", "lp"}).exitCode,
              0);
    ASSERT_TRUE(
        within(bound(60s),
               [&] {
                 const Json back = cluster_->get({"resourcequota", "envop-quota", "-n", "lp"});
                 return back.is_object() &&
                        back["metadata"].value("uid", "") != before["metadata"].value("uid", "");
               }))
        << "the deleted quota was not put back" << diagnostics();
  }
  EXPECT_TRUE(within(bound(30s),
                     [&] {
                       for (const Json& e : items({"events.events.k8s.io", "-n", "default",
                                                   "--field-selector", "reason=DriftRepaired"})) {
                         if (e.value("regarding", Json::object()).value("name", "") == kEnv &&
                             e.value("series", Json::object()).value("count", 1) >= 2) {
                           return true;
                         }
                       }
                       return false;
                     }))
      << "the repeated DriftRepaired event has no series of 2\n"
      << cluster_->kubectl({"get", "events.events.k8s.io", "-n", "default", "-o", "yaml"}).out
      << diagnostics();

  // Nothing envop asked for was refused: every verb it uses is in the chart's RBAC (a watch
  // refused would not stop Ready, only drift being seen; a series patch refused would).
  EXPECT_EQ(forbidden(), 0) << controller_->log();

  // The rights came from the bindings envop made for itself, labelled as its own.
  for (const char* ns : {"lp", "ext"}) {
    const Json binding = cluster_->get({"rolebinding", "envop-release-rights", "-n", ns});
    ASSERT_TRUE(binding.is_object()) << ns;
    EXPECT_EQ(binding["roleRef"].value("name", ""), "envop-releases") << ns;
    EXPECT_EQ(binding["subjects"][0].value("name", ""), "envop-controller") << ns;
    EXPECT_EQ(binding["metadata"]["labels"].value("app.kubernetes.io/managed-by", ""), "envop");
  }
  EXPECT_TRUE(can("delete", "secrets", "lp"));
  EXPECT_TRUE(can("create", "deployments.apps", "lp"));
  EXPECT_TRUE(can("create", "endpointslices.discovery.k8s.io", "ext"));
  // ...and nowhere else.
  EXPECT_FALSE(can("delete", "secrets", "kube-system"));
  EXPECT_FALSE(can("create", "deployments.apps", "kube-system"));
  EXPECT_FALSE(can("create", "deployments.apps", "default"));
  EXPECT_FALSE(can("patch", "configmaps", "kube-system"));
  EXPECT_FALSE(can("get", "secrets", "kube-system"));
  EXPECT_FALSE(can("bind", "clusterroles.rbac.authorization.k8s.io/cluster-admin", "default"));
  EXPECT_FALSE(can("escalate", "clusterroles.rbac.authorization.k8s.io", "default"));
  EXPECT_FALSE(can("delete", "rolebindings.rbac.authorization.k8s.io/other", "lp"));
  // envop may bind only the release rights: a RoleBinding of cluster-admin is refused.
  {
    const std::string file = cluster_->dir() + "/escalate.yaml";
    std::ofstream(file) << "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
                        << "metadata: {name: envop-release-rights, namespace: kube-system}\n"
                        << "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, "
                        << "name: cluster-admin}\n"
                        << "subjects: [{kind: ServiceAccount, name: envop-controller, "
                        << "namespace: envop-system}]\n";
    const CommandResult refused =
        runCommand({cluster_->value("KUBECTL"), "--kubeconfig", kubeconfig_, "create", "-f", file});
    EXPECT_NE(refused.exitCode, 0) << "envop could bind cluster-admin: " << refused.out;
    EXPECT_NE(refused.err.find("forbidden"), std::string::npos) << refused.err;
  }

  // Deleted (stage test: deletionPolicy Delete): the finalizer goes once the ext Services are
  // gone and the namespace, with its binding, has been deleted.
  ASSERT_EQ(cluster_->kubectl({"delete", "environment", kEnv, "--wait=false"}).exitCode, 0);
  EXPECT_TRUE(within(bound(60s), [&] {
    return cluster_->kubectl({"get", "environment", kEnv}).exitCode != 0;
  })) << diagnostics();
  EXPECT_FALSE(cluster_->get({"service", "pg", "-n", "ext"}).is_object());
  EXPECT_TRUE(within(bound(60s), [&] {
    return cluster_->kubectl({"get", "namespace", "lp"}).exitCode != 0;
  }));
  EXPECT_FALSE(can("create", "deployments.apps", "lp"));
  // Retained: the namespace and its quota stay, let go of (no envop label), and envop's rights
  // there go with its claim.
  EXPECT_TRUE(can("create", "deployments.apps", "lpk"));
  ASSERT_EQ(cluster_->kubectl({"delete", "environment", "lpk", "--wait=false"}).exitCode, 0);
  EXPECT_TRUE(within(bound(60s),
                     [&] {
                       return cluster_->kubectl({"get", "environment", "lpk"}).exitCode != 0;
                     }))
      << cluster_->get({"environment", "lpk"}).dump() << diagnostics();
  const Json kept = cluster_->get({"namespace", "lpk"});
  ASSERT_TRUE(kept.is_object()) << "a retained namespace was deleted";
  EXPECT_FALSE(kept["metadata"].value("labels", Json::object()).contains("envop.io/environment"))
      << kept.dump();
  const Json keptQuota = cluster_->get({"resourcequota", "envop-quota", "-n", "lpk"});
  ASSERT_TRUE(keptQuota.is_object());
  EXPECT_FALSE(
      keptQuota["metadata"].value("labels", Json::object()).contains("envop.io/environment"));
  EXPECT_FALSE(cluster_->get({"rolebinding", "envop-release-rights", "-n", "lpk"}).is_object());
  EXPECT_FALSE(can("create", "deployments.apps", "lpk"));
  EXPECT_EQ(forbidden(), 0) << controller_->log();
  // An Environment event was written (cluster-scoped object: namespace default).
  EXPECT_TRUE(within(bound(30s), [&] {
    for (const Json& e : items({"events.events.k8s.io", "-n", "default"})) {
      if (e.value("regarding", Json::object()).value("name", "") == kEnv) return true;
    }
    return false;
  }));
}

}  // namespace
}  // namespace envop::testing
