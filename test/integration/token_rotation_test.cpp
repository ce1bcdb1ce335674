// A bound service-account token that the kubelet rotates on disk is picked up
// without a restart: on the periodic re-read, and at once when the old token
// stops working (a 401).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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

}  // namespace
}  // namespace envop::testing
