// The local control plane is the ground every later test stands on: these tests
// hold it to what a real cluster does.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using namespace std::chrono_literals;

TEST(ControlPlaneTest, ServerReportsItsRealVersion) {
  const LocalCluster& cluster = LocalCluster::get();
  const CommandResult r = cluster.kubectl({"version", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto version = nlohmann::json::parse(r.out);
  const std::string server = version.at("serverVersion").at("gitVersion");
  EXPECT_EQ(server.rfind("v1.", 0), 0u) << server;
  EXPECT_GE(std::stoi(version.at("serverVersion").at("minor").get<std::string>()), 34) << server;
  EXPECT_EQ(version.at("clientVersion").at("gitVersion"), server);
}

TEST(ControlPlaneTest, RbacIsEnforced) {
  const LocalCluster& cluster = LocalCluster::get();
  // An unprivileged identity must be refused, or RBAC tests later would prove nothing.
  const CommandResult r = cluster.kubectl(
      {"auth", "can-i", "create", "namespaces", "--as", "system:serviceaccount:default:default"});
  EXPECT_EQ(r.exitCode, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "no\n");
}

TEST(ControlPlaneTest, NamespaceLifecycleIsDrivenByTheControllerManager) {
  const LocalCluster& cluster = LocalCluster::get();
  const std::string ns = uniqueName("envop-it");

  CommandResult r = cluster.kubectl({"create", "namespace", ns});
  ASSERT_EQ(r.exitCode, 0) << r.err;

  // The serviceaccount controller gives every namespace its default ServiceAccount.
  r = cluster.kubectl(
      {"wait", "--for=create", "serviceaccount/default", "-n", ns, "--timeout=60s"});
  ASSERT_EQ(r.exitCode, 0) << r.err;

  // Content the namespace controller must clean up before the namespace can go.
  r = cluster.kubectl({"create", "configmap", "leftover", "-n", ns, "--from-literal=k=v"});
  ASSERT_EQ(r.exitCode, 0) << r.err;

  r = cluster.kubectl({"delete", "namespace", ns, "--wait=false"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = cluster.kubectl({"wait", "--for=delete", "namespace/" + ns, "--timeout=90s"});
  ASSERT_EQ(r.exitCode, 0) << r.err;

  r = cluster.kubectl({"get", "namespace", ns});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("NotFound"), std::string::npos) << r.err;
}

// What a real cluster does to envop's objects: the resourcequota controller (one of
// kube-controller-manager's default set) computes a quota's usage and follows it as objects
// come and go.
TEST(ControlPlaneTest, AResourceQuotasUsageIsFilledInByTheQuotaController) {
  const LocalCluster& cluster = LocalCluster::get();
  const std::string ns = uniqueName("envop-quota");
  ASSERT_EQ(cluster.kubectl({"create", "namespace", ns}).exitCode, 0);
  CommandResult r =
      cluster.kubectl({"create", "quota", "q", "-n", ns, "--hard=services=5,configmaps=50"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto used = [&](const std::string& resource) {
    const CommandResult got = cluster.kubectl(
        {"get", "resourcequota", "q", "-n", ns, "-o", "jsonpath={.status.used." + resource + "}"});
    return got.exitCode == 0 ? got.out : std::string();
  };
  // Only the controller computes the first usage; admission alone leaves status empty.
  EXPECT_TRUE(within(60s, [&] { return used("services") == "0"; })) << used("services");

  r = cluster.kubectl({"create", "service", "clusterip", "web", "-n", ns, "--tcp=80:8080"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(within(60s, [&] { return used("services") == "1"; })) << used("services");
  // A delete is seen by the controller's replenishment, not by admission.
  ASSERT_EQ(cluster.kubectl({"delete", "service", "web", "-n", ns}).exitCode, 0);
  EXPECT_TRUE(within(60s, [&] { return used("services") == "0"; })) << used("services");

  cluster.kubectl({"delete", "namespace", ns, "--wait=false"});
}

}  // namespace
}  // namespace envop::testing
