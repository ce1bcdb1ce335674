// The operator's own chart, installed for real: `helm install` of helm/envop into a control
// plane of the test's own creates every object, its ServiceAccount may do what the controller
// needs and no more, `helm upgrade` changes it in place, and `helm uninstall` leaves nothing
// but the CRD (kept, as every operator's chart keeps its CRDs).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kNamespace = "envop-system";
constexpr const char* kServiceAccount = "system:serviceaccount:envop-system:envop-controller";

class ChartInstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    helm_ = cluster_->helm();
  }
  CommandResult helm(std::vector<std::string> args) {
    args.insert(args.begin(), helm_);
    args.insert(args.end(), {"--kubeconfig", cluster_->kubeconfig()});
    return runCommand(args, {{"HELM_CONFIG_HOME", cluster_->dir() + "/helm/config"},
                             {"HELM_CACHE_HOME", cluster_->dir() + "/helm/cache"},
                             {"HELM_DATA_HOME", cluster_->dir() + "/helm/data"}});
  }
  // `kubectl auth can-i VERB RESOURCE [-n NS]` as the chart's ServiceAccount.
  bool can(const std::string& verb, const std::string& resource, const std::string& ns = "",
           const std::string& subresource = "") {
    return cluster_->can(kServiceAccount, verb, resource, ns, subresource);
  }
  // Objects of the release, found by the chart's own instance label.
  std::vector<std::string> objectsOfTheRelease() {
    std::vector<std::string> found;
    for (const char* kind :
         {"deployments", "services", "serviceaccounts", "roles", "rolebindings", "clusterroles",
          "clusterrolebindings", "poddisruptionbudgets", "configmaps"}) {
      const Json list = cluster_->get({kind, "-A", "-l", "app.kubernetes.io/instance=envop"});
      if (!list.is_object()) continue;
      for (const Json& item : list.value("items", Json::array())) {
        found.push_back(std::string(kind) + "/" + item["metadata"].value("name", ""));
      }
    }
    return found;
  }

  std::unique_ptr<ScopedCluster> cluster_;
  std::string helm_;
};

TEST_F(ChartInstallTest, InstallsGrantsWhatTheControllerNeedsUpgradesAndUninstallsClean) {
  const std::string chart = std::string(ENVOP_SOURCE_DIR) + "/helm/envop";
  const CommandResult lint = helm({"lint", chart});
  ASSERT_EQ(lint.exitCode, 0) << lint.out << lint.err;
  // The server accepts every object the chart renders.
  const CommandResult rendered = helm({"template", "envop", chart, "--namespace", kNamespace});
  ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
  const std::string file = cluster_->dir() + "/rendered.yaml";
  std::ofstream(file) << rendered.out;
  ASSERT_EQ(cluster_->kubectl({"create", "namespace", kNamespace}).exitCode, 0);
  const CommandResult dryRun = cluster_->kubectl({"apply", "--dry-run=server", "-f", file});
  ASSERT_EQ(dryRun.exitCode, 0) << dryRun.out << dryRun.err;

  const CommandResult installed =
      helm({"install", "envop", chart, "--namespace", kNamespace, "--wait=false"});
  ASSERT_EQ(installed.exitCode, 0) << installed.out << installed.err;
  EXPECT_TRUE(cluster_->get({"crd", "environments.envop.io"}).is_object())
      << "the chart did not install its CRD";
  const Json deployment = cluster_->get({"deployment", "envop-controller", "-n", kNamespace});
  ASSERT_TRUE(deployment.is_object()) << cluster_->kubectl({"get", "all", "-A"}).out;
  EXPECT_EQ(deployment["spec"].value("replicas", 0), 2);
  const Json pod = deployment["spec"]["template"]["spec"];
  EXPECT_EQ(pod.value("serviceAccountName", ""), "envop-controller");
  EXPECT_GT(pod.value("terminationGracePeriodSeconds", 0), 330)
      << "the grace period must outlast the longest helm run";
  for (const char* object : {"serviceaccount/envop-controller", "service/envop-controller-metrics",
                             "role/envop-controller", "rolebinding/envop-controller"}) {
    EXPECT_EQ(cluster_->kubectl({"get", object, "-n", kNamespace}).exitCode, 0) << object;
  }
  for (const char* object : {"clusterrole/envop-controller", "clusterrole/envop-releases",
                             "clusterrolebinding/envop-controller"}) {
    EXPECT_EQ(cluster_->kubectl({"get", object}).exitCode, 0) << object;
  }
  // The release rights are bound by envop itself, per stage namespace, never by the chart.
  EXPECT_NE(cluster_->kubectl({"get", "clusterrolebinding/envop-releases"}).exitCode, 0);

  // What the controller does cluster-wide, it may do.
  EXPECT_TRUE(can("watch", "environments.envop.io"));
  EXPECT_TRUE(can("update", "environments.envop.io", "", "status"));
  EXPECT_FALSE(can("update", "environments.envop.io"));  // the status only
  EXPECT_TRUE(can("create", "namespaces"));
  EXPECT_TRUE(can("create", "events.events.k8s.io", "default"));
  EXPECT_TRUE(can("update", "leases.coordination.k8s.io", kNamespace));
  EXPECT_TRUE(can("watch", "secrets", "pro"));  // Helm's storage, metadata only
  EXPECT_TRUE(can("create", "rolebindings.rbac.authorization.k8s.io", "pro"));
  EXPECT_TRUE(can("bind", "clusterroles.rbac.authorization.k8s.io/envop-releases"));
  // The release rights are not its own until it binds them in a stage namespace
  // (LeastPrivilegeTest shows them there once it has).
  EXPECT_FALSE(can("create", "deployments.apps", "pro"));
  EXPECT_FALSE(can("create", "resourcequotas", "pro"));
  EXPECT_FALSE(can("create", "endpointslices.discovery.k8s.io", "ext"));
  // What it does not do, it may not.
  EXPECT_FALSE(can("delete", "secrets", "kube-system"));
  EXPECT_FALSE(can("create", "deployments.apps", "kube-system"));
  EXPECT_FALSE(can("get", "secrets", "kube-system"));
  EXPECT_FALSE(can("bind", "clusterroles.rbac.authorization.k8s.io/cluster-admin"));
  EXPECT_FALSE(can("delete", "rolebindings.rbac.authorization.k8s.io/someone-elses", "pro"));
  EXPECT_FALSE(can("delete", "nodes"));
  EXPECT_FALSE(can("create", "clusterroles.rbac.authorization.k8s.io"));
  EXPECT_FALSE(can("create", "clusterrolebindings.rbac.authorization.k8s.io"));
  EXPECT_FALSE(can("delete", "customresourcedefinitions.apiextensions.k8s.io"));
  EXPECT_FALSE(can("update", "leases.coordination.k8s.io", "kube-system"));
  EXPECT_FALSE(can("impersonate", "users"));

  // Upgrade in place: a changed value reaches the Deployment, nothing else is recreated.
  const std::string uid = deployment["metadata"].value("uid", "");
  const CommandResult upgraded = helm({"upgrade", "envop", chart, "--namespace", kNamespace,
                                       "--set", "replicaCount=1", "--wait=false"});
  ASSERT_EQ(upgraded.exitCode, 0) << upgraded.out << upgraded.err;
  const Json after = cluster_->get({"deployment", "envop-controller", "-n", kNamespace});
  ASSERT_TRUE(after.is_object());
  EXPECT_EQ(after["spec"].value("replicas", 0), 1);
  EXPECT_EQ(after["metadata"].value("uid", ""), uid);

  // A grace period too short to drain a helm run is refused at render time.
  const CommandResult bad = helm({"upgrade", "envop", chart, "--namespace", kNamespace, "--set",
                                  "terminationGracePeriodSeconds=10", "--wait=false"});
  EXPECT_NE(bad.exitCode, 0) << "a grace period below helm's timeout was accepted";
  // A typo in the values is refused by the chart's schema, not ignored.
  const CommandResult typo = helm({"upgrade", "envop", chart, "--namespace", kNamespace, "--set",
                                   "replicaCont=3", "--wait=false"});
  EXPECT_NE(typo.exitCode, 0) << "a misspelt value was accepted";
  EXPECT_NE((typo.out + typo.err).find("replicaCont"), std::string::npos) << typo.err;

  const CommandResult removed = helm({"uninstall", "envop", "--namespace", kNamespace, "--wait"});
  ASSERT_EQ(removed.exitCode, 0) << removed.out << removed.err;
  EXPECT_TRUE(within(60s, [&] { return objectsOfTheRelease().empty(); }))
      << "left behind: " << [&] {
           std::string s;
           for (const std::string& o : objectsOfTheRelease()) s += o + " ";
           return s;
         }();
  EXPECT_TRUE(cluster_->get({"crd", "environments.envop.io"}).is_object())
      << "uninstall removed the CRD (and every Environment with it)";
}

}  // namespace
}  // namespace envop::testing
