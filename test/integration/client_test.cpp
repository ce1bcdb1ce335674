// The REST client against a real kube-apiserver: what the reconcilers rely on.
#include "controller/kube/client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "controller/kube/config.h"
#include "test/support/clients.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using kube::Json;
namespace res = kube::resources;

Json configMap(const std::string& ns, const std::string& name, const Json& data) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"data", data}};
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = adminClient();
    ns_ = uniqueName("client");
    auto created = client_->create(
        res::namespaces(),
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created) << created.error().describe();
  }
  void TearDown() override { (void)client_->remove(res::namespaces(), "", ns_); }

  kube::ClientPtr client_;
  std::string ns_;
};

TEST_F(ClientTest, ServerSideApplyTwiceChangesNothingTheSecondTime) {
  const Json desired = configMap(ns_, "settings", {{"stage", "pro"}});
  auto first = client_->apply(res::configMaps(), desired);
  ASSERT_TRUE(first) << first.error().describe();
  auto second = client_->apply(res::configMaps(), desired);
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_EQ(first.value()["metadata"]["resourceVersion"],
            second.value()["metadata"]["resourceVersion"]);
  const Json managers = second.value()["metadata"]["managedFields"];
  ASSERT_EQ(managers.size(), 1u);
  EXPECT_EQ(managers[0]["manager"], "envop");
  EXPECT_EQ(managers[0]["operation"], "Apply");

  auto third = client_->apply(res::configMaps(), configMap(ns_, "settings", {{"stage", "pre"}}));
  ASSERT_TRUE(third) << third.error().describe();
  EXPECT_NE(third.value()["metadata"]["resourceVersion"],
            second.value()["metadata"]["resourceVersion"]);
  EXPECT_EQ(third.value()["data"]["stage"], "pre");
}

TEST_F(ClientTest, ListFollowsContinueTokensAcrossPages) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(client_->create(res::configMaps(),
                                configMap(ns_, "cm-" + std::to_string(i), {{"i", "x"}})));
  }
  auto page = client_->listPage(res::configMaps(), ns_, {.limit = 3});
  ASSERT_TRUE(page) << page.error().describe();
  EXPECT_EQ(page.value().items.size(), 3u);
  EXPECT_FALSE(page.value().continueToken.empty());

  auto all = client_->list(res::configMaps(), ns_, {.limit = 3});
  ASSERT_TRUE(all) << all.error().describe();
  // 7 of ours plus kube-root-ca.crt, published by the controller-manager.
  size_t ours = 0;
  for (const Json& item : all.value().items) {
    EXPECT_EQ(item["kind"], "ConfigMap");
    ours += kube::nameOf(item).rfind("cm-", 0) == 0;
  }
  EXPECT_EQ(ours, 7u);
  EXPECT_FALSE(all.value().resourceVersion.empty());
}

TEST_F(ClientTest, FailuresAreTypedWithTheServersReasons) {
  auto missing = client_->get(res::configMaps(), ns_, "nope");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().isNotFound());
  EXPECT_FALSE(missing.error().isRetryable());

  ASSERT_TRUE(client_->create(res::configMaps(), configMap(ns_, "dup", {})));
  auto dup = client_->create(res::configMaps(), configMap(ns_, "dup", {}));
  ASSERT_FALSE(dup);
  EXPECT_TRUE(dup.error().isAlreadyExists());

  Json bad = configMap(ns_, "Not_A_DNS_Name", {});
  auto invalid = client_->create(res::configMaps(), bad);
  ASSERT_FALSE(invalid);
  EXPECT_TRUE(invalid.error().isInvalid());
  ASSERT_FALSE(invalid.error().causes.empty());
  EXPECT_EQ(invalid.error().causes[0].field, "metadata.name");
  EXPECT_NE(invalid.error().describe().find("metadata.name"), std::string::npos);

  auto stale = client_->remove(res::configMaps(), ns_, "dup",
                               {.preconditionUid = "00000000-0000-0000-0000-000000000000"});
  ASSERT_FALSE(stale);
  EXPECT_TRUE(stale.error().isConflict());
}

TEST_F(ClientTest, DiscoveryTellsWhetherAResourceIsServed) {
  auto leases = client_->serves("coordination.k8s.io/v1", "leases");
  ASSERT_TRUE(leases) << leases.error().describe();
  EXPECT_TRUE(leases.value());
  auto monitors = client_->serves("monitoring.coreos.com/v1", "servicemonitors");
  ASSERT_TRUE(monitors) << monitors.error().describe();
  EXPECT_FALSE(monitors.value());
}

// A kubeconfig that names the server by IP and gives the name its certificate must carry in
// tls-server-name, as the kubeconfigs of clusters behind a load balancer do.
std::string kubeconfigWithServerName(const std::string& serverName) {
  const LocalCluster& cluster = LocalCluster::get();
  const std::string dir = std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("sni");
  std::filesystem::create_directories(dir);
  const std::string pki = cluster.dir() + "/pki";
  std::ofstream(dir + "/kubeconfig")
      << "apiVersion: v1\nkind: Config\n"
      << "clusters: [{name: c, cluster: {server: " << cluster.value("APISERVER_URL")
      << ", certificate-authority: " << pki << "/ca.crt, tls-server-name: " << serverName << "}}]\n"
      << "users: [{name: u, user: {client-certificate: " << pki << "/admin.crt, client-key: " << pki
      << "/admin.key}}]\n"
      << "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      << "current-context: x\n";
  return dir + "/kubeconfig";
}

TEST(TlsServerNameTest, TheCertificateMustCarryTheServerNameNotTheUrlsHost) {
  // test/cluster/up's serving certificate: IP:127.0.0.1, localhost, kubernetes.default.svc, ...
  ASSERT_EQ(LocalCluster::get().value("APISERVER_URL").rfind("https://127.0.0.1:", 0), 0u);
  auto named = clientFor(kubeconfigWithServerName("kubernetes.default.svc"));
  auto version = named->getRaw("/version");
  ASSERT_TRUE(version) << version.error().describe();
  EXPECT_TRUE(version.value().contains("gitVersion"));

  // The certificate is valid for 127.0.0.1, the URL's host, but not for this name: refused.
  auto wrong = clientFor(kubeconfigWithServerName("api.envop-wrong.example"));
  auto refused = wrong->getRaw("/version");
  ASSERT_FALSE(refused) << "a certificate without the tls-server-name was accepted";
  EXPECT_EQ(refused.error().httpStatus, 0) << refused.error().describe();
}

}  // namespace
}  // namespace envop::testing
