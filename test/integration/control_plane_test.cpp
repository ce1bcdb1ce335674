// The local control plane is the ground every later test stands on: these tests
// hold it to what a real cluster does.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

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

}  // namespace
}  // namespace envop::testing
