// deploy/ as a cluster admin installs it: the controller, running with nothing but the
// ServiceAccount and RBAC those manifests grant, takes a production sample (namespace,
// guardrails, external endpoints, Helm releases) all the way to Ready.
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

TEST(DeployManifestsTest, TheControllerNeedsNoMoreThanItsOwnRbac) {
  ScopedCluster cluster;
  cluster.applyCrds();
  const std::string deploy = std::string(ENVOP_SOURCE_DIR) + "/deploy/";
  // Everything but the Deployment, whose image this machine cannot run.
  for (const char* file :
       {"00-namespace.yaml", "10-serviceaccount.yaml", "20-rbac.yaml", "40-service.yaml"}) {
    const CommandResult r = cluster.kubectl({"apply", "-f", deploy + file});
    ASSERT_EQ(r.exitCode, 0) << file << ": " << r.err;
  }
  const CommandResult dryRun =
      cluster.kubectl({"apply", "--dry-run=server", "-f", deploy + "30-deployment.yaml"});
  ASSERT_EQ(dryRun.exitCode, 0) << dryRun.err;

  // A kubeconfig holding only the ServiceAccount's token.
  const CommandResult token = cluster.kubectl(
      {"create", "token", "envop-controller", "-n", "envop-system", "--duration=1h"});
  ASSERT_EQ(token.exitCode, 0) << token.err;
  const std::string kubeconfig = cluster.dir() + "/envop-controller.kubeconfig";
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\n"
                            << "clusters: [{name: c, cluster: {server: "
                            << cluster.value("APISERVER_URL")
                            << ", certificate-authority: " << cluster.dir() << "/pki/ca.crt}}]\n"
                            << "users: [{name: u, user: {token: " << token.out << "}}]\n"
                            << "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                            << "current-context: x\n";

  TestRegistry registry;
  pushTestCharts(registry, cluster.value("HELM"));
  ControllerProcess controller(
      "envop-rbac", kubeconfig,
      {"--leader-elect", "--leader-election-namespace", "envop-system", "--helm-binary",
       cluster.value("HELM"), "--helm-state-dir", cluster.dir() + "/helm-state"});
  ASSERT_TRUE(within(60s, [&] { return controller.probe("/readyz") == 200; })) << controller.log();

  std::ifstream in(std::string(ENVOP_SOURCE_DIR) + "/samples/pro.yaml");
  std::string sample((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string harbor = "oci://harbor.example.com/springcloud";
  sample.replace(sample.find(harbor), harbor.size(), registry.repository());
  const std::string file = cluster.dir() + "/pro.yaml";
  std::ofstream(file) << sample;
  ASSERT_EQ(cluster.kubectl({"apply", "-f", file}).exitCode, 0);

  const CommandResult ready =
      cluster.kubectl({"wait", "--for=condition=Ready", "environment/pro", "--timeout=180s"});
  EXPECT_EQ(ready.exitCode, 0) << ready.err << "\n"
                               << cluster.kubectl({"get", "environment", "pro", "-o", "yaml"}).out
                               << "\n"
                               << controller.log();
  std::ifstream log(controller.log());
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("forbidden"), std::string::npos) << text;
  EXPECT_EQ(text.find("Forbidden"), std::string::npos) << text;
}

}  // namespace
}  // namespace envop::testing
