// A bound service-account token that the kubelet rotates on disk is picked up
// without a restart: on the periodic re-read, and at once when the old token
// stops working (a 401). The same for an exec credential plugin's token: run again
// when it expires and when the API server stops accepting it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "controller/kube/client.h"
#include "controller/kube/config.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using kube::Json;

const kube::Resource& selfSubjectReviews() {
  static const kube::Resource r{"authentication.k8s.io", "v1", "selfsubjectreviews",
                                "SelfSubjectReview", false};
  return r;
}

std::string whoAmI(kube::Client& client) {
  auto review = client.create(selfSubjectReviews(), {{"apiVersion", "authentication.k8s.io/v1"},
                                                     {"kind", "SelfSubjectReview"}});
  if (!review) return "error: " + review.error().describe();
  return review.value()["status"]["userInfo"]["username"];
}

std::string tokenFor(const std::string& ns, const std::string& sa) {
  const CommandResult r =
      LocalCluster::get().kubectl({"create", "token", sa, "-n", ns, "--duration=10m"});
  if (r.exitCode != 0) throw std::runtime_error("kubectl create token: " + r.err);
  return r.out;
}

TEST(TokenRotationTest, ARotatedTokenFileIsUsedWithoutARestart) {
  const LocalCluster& cluster = LocalCluster::get();
  const std::string ns = uniqueName("tokens");
  ASSERT_EQ(cluster.kubectl({"create", "namespace", ns}).exitCode, 0);
  ASSERT_EQ(cluster.kubectl({"create", "serviceaccount", "first", "-n", ns}).exitCode, 0);
  ASSERT_EQ(cluster.kubectl({"create", "serviceaccount", "second", "-n", ns}).exitCode, 0);

  const std::string dir = std::string(ENVOP_BINARY_DIR) + "/" + ns;
  std::filesystem::create_directories(dir);
  const std::string tokenFile = dir + "/token";
  // The client starts with a token the API server will refuse.
  std::ofstream(tokenFile) << "not-a-valid-token";
  std::ofstream(dir + "/kubeconfig")
      << "apiVersion: v1\nkind: Config\n"
      << "clusters: [{name: c, cluster: {server: " << cluster.value("APISERVER_URL")
      << ", certificate-authority: " << cluster.dir() << "/pki/ca.crt}}]\n"
      << "users: [{name: u, user: {tokenFile: token}}]\n"
      << "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      << "current-context: x\n";
  auto clock = std::make_shared<util::FakeClock>();
  auto config = kube::loadKubeconfig(dir + "/kubeconfig", "", clock);
  ASSERT_TRUE(config) << config.error().message;
  kube::Client client(kube::makeTransport(config.value()));

  // A valid token lands on disk: the 401 for the old one makes the client re-read at
  // once, long before the minute is up (the clock has not moved).
  std::ofstream(tokenFile) << tokenFor(ns, "first");
  EXPECT_EQ(whoAmI(client), "system:serviceaccount:" + ns + ":first");

  // Rotation on disk while the old token still works: seen once the cached token is a
  // minute old, not before.
  std::ofstream(tokenFile) << tokenFor(ns, "second");
  EXPECT_EQ(whoAmI(client), "system:serviceaccount:" + ns + ":first") << "re-read too early";
  clock->advance(std::chrono::seconds(61));
  EXPECT_EQ(whoAmI(client), "system:serviceaccount:" + ns + ":second");

  (void)cluster.kubectl({"delete", "namespace", ns, "--wait=false"});
}

int linesIn(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

TEST(TokenRotationTest, AnExecPluginAuthenticatesAndRunsAgainOnExpiryAndOn401) {
  const LocalCluster& cluster = LocalCluster::get();
  const std::string ns = uniqueName("exec");
  ASSERT_EQ(cluster.kubectl({"create", "namespace", ns}).exitCode, 0);
  ASSERT_EQ(cluster.kubectl({"create", "serviceaccount", "first", "-n", ns}).exitCode, 0);
  ASSERT_EQ(cluster.kubectl({"create", "serviceaccount", "second", "-n", ns}).exitCode, 0);

  const std::string dir = std::string(ENVOP_BINARY_DIR) + "/" + ns;
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/token") << tokenFor(ns, "first");
  // What EKS's `aws eks get-token` does, in small: a token that expires in a minute. It counts
  // its runs in a file beside it.
  const std::string plugin = dir + "/get-token";
  std::ofstream(plugin) << R"sh(#!/bin/sh
here=$(dirname "$0")
echo run >>"$here/runs"
expiry=$(date -u -d '+60 seconds' +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
printf '"status":{"token":"%s","expirationTimestamp":"%s"}}' "$(cat "$here/token")" "$expiry"
)sh";
  std::filesystem::permissions(plugin, std::filesystem::perms::owner_all);
  std::ofstream(dir + "/kubeconfig")
      << "apiVersion: v1\nkind: Config\n"
      << "clusters: [{name: c, cluster: {server: " << cluster.value("APISERVER_URL")
      << ", certificate-authority: " << cluster.dir() << "/pki/ca.crt}}]\n"
      << "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
      << "command: ./get-token, interactiveMode: Never}}}]\n"
      << "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      << "current-context: x\n";
  auto clock = std::make_shared<util::FakeClock>();
  auto config = kube::loadKubeconfig(dir + "/kubeconfig", "", clock);
  ASSERT_TRUE(config) << config.error().message;
  kube::Client client(kube::makeTransport(config.value()));
  const std::string runs = dir + "/runs";

  EXPECT_EQ(whoAmI(client), "system:serviceaccount:" + ns + ":first");
  EXPECT_EQ(whoAmI(client), "system:serviceaccount:" + ns + ":first");
  EXPECT_EQ(linesIn(runs), 1) << "the credential is cached while it is valid";

  // Past its expirationTimestamp (on the client's clock) the plugin runs again.
  clock->advance(std::chrono::seconds(61));
  EXPECT_EQ(whoAmI(client), "system:serviceaccount:" + ns + ":first");
  EXPECT_EQ(linesIn(runs), 2);

  // The token is revoked long before it expires (its ServiceAccount is deleted): the 401 runs
  // the plugin again at once, which now hands out another account's token. The apiserver
  // notices the deletion through its cache, so poll (bounded) for the switch.
  std::ofstream(dir + "/token") << tokenFor(ns, "second");
  ASSERT_EQ(cluster.kubectl({"delete", "serviceaccount", "first", "-n", ns}).exitCode, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string who;
  while ((who = whoAmI(client)) != "system:serviceaccount:" + ns + ":second" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(who, "system:serviceaccount:" + ns + ":second");
  EXPECT_EQ(linesIn(runs), 3) << "one run for the 401, none while the old token still worked";

  (void)cluster.kubectl({"delete", "namespace", ns, "--wait=false"});
}

TEST(TokenRotationTest, AnExecPluginsClientCertificateIsPresentedAndReplacedWhenItExpires) {
  const LocalCluster& cluster = LocalCluster::get();
  const std::string dir = std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("exec-cert");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/which") << "admin";
  // Hands out the certificate and key of the user named in `which`, valid for a minute.
  const std::string plugin = dir + "/get-cert";
  std::ofstream(plugin) << R"sh(#!/bin/sh
here=$(dirname "$0")
pem() { awk '{printf "%s\\n", $0}' "$PKI/$(cat "$here/which").$1"; }
expiry=$(date -u -d '+60 seconds' +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",'
printf '"status":{"clientCertificateData":"%s","clientKeyData":"%s","expirationTimestamp":"%s"}}' \
  "$(pem crt)" "$(pem key)" "$expiry"
)sh";
  std::filesystem::permissions(plugin, std::filesystem::perms::owner_all);
  std::ofstream(dir + "/kubeconfig")
      << "apiVersion: v1\nkind: Config\n"
      << "clusters: [{name: c, cluster: {server: " << cluster.value("APISERVER_URL")
      << ", certificate-authority: " << cluster.dir() << "/pki/ca.crt}}]\n"
      << "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
      << "command: " << plugin << ", env: [{name: PKI, value: " << cluster.dir() << "/pki}]}}}]\n"
      << "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      << "current-context: x\n";
  auto clock = std::make_shared<util::FakeClock>();
  auto config = kube::loadKubeconfig(dir + "/kubeconfig", "", clock);
  ASSERT_TRUE(config) << config.error().message;
  kube::Client client(kube::makeTransport(config.value()));

  // A GET goes over the pooled connections, a POST (whoAmI) over one of its own: both must
  // present the plugin's current certificate.
  auto listSecrets = [&] { return client.list(kube::resources::secrets(), "kube-system"); };
  EXPECT_EQ(whoAmI(client), "envop-test-admin");
  ASSERT_TRUE(listSecrets()) << listSecrets().error().describe();
  // The scheduler's certificate once the first expires; the scheduler may not read Secrets.
  std::ofstream(dir + "/which") << "scheduler";
  EXPECT_EQ(whoAmI(client), "envop-test-admin") << "the certificate is cached while valid";
  clock->advance(std::chrono::seconds(61));
  const auto refused = listSecrets();
  ASSERT_FALSE(refused) << "the pooled connections still present the old certificate";
  EXPECT_NE(refused.error().describe().find("system:kube-scheduler"), std::string::npos)
      << refused.error().describe();
  EXPECT_EQ(whoAmI(client), "system:kube-scheduler");
  EXPECT_EQ(config.value().execCredentials->runs(), 2);
}

}  // namespace
}  // namespace envop::testing
