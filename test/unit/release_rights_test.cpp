// Release rights (release_rights.h): the RoleBinding envop makes for itself in each namespace it
// writes in, and that it comes before any other write into that namespace.
#include "controller/environment/release_rights.h"

#include <gtest/gtest.h>

#include "controller/environment/external_services_part.h"
#include "controller/environment/namespace_part.h"
#include "test/fakes/fake_transport.h"

namespace envop::environment {
namespace {

using kube::Json;

const ReleaseRights kRights{.clusterRole = "envop-releases",
                            .serviceAccountNamespace = "envop-system",
                            .serviceAccountName = "envop-controller"};

EnvironmentSpec parsed(const Json& spec) {
  auto result = parseEnvironment({{"apiVersion", "envop.io/v1alpha1"},
                                  {"kind", "Environment"},
                                  {"metadata", {{"name", "pro"}, {"generation", 1}}},
                                  {"spec", spec}});
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<EnvironmentSpec>(result);
}

// An API server with nothing in it: GETs are 404, an apply answers with what it was sent.
std::shared_ptr<fakes::FakeTransport> emptyServer() {
  return std::make_shared<fakes::FakeTransport>([](const kube::HttpRequest& request) {
    if (request.method == "PATCH") return kube::HttpResponse{.status = 200, .body = request.body};
    return kube::HttpResponse{
        .status = 404,
        .body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound",)"
                R"("code":404})"};
  });
}

// Paths of the writes sent, in order, without the query.
std::vector<std::string> writes(const fakes::FakeTransport& transport) {
  std::vector<std::string> out;
  for (const kube::HttpRequest& r : transport.requests()) {
    if (r.method == "GET") continue;
    out.push_back(r.method + " " + r.pathAndQuery.substr(0, r.pathAndQuery.find('?')));
  }
  return out;
}

TEST(ReleaseRightsTest, TheBindingGrantsTheClusterRoleToEnvopsServiceAccountInOneNamespace) {
  const Json binding = desiredReleaseRightsBinding(kRights, "pro", "pro");
  EXPECT_EQ(binding["kind"], "RoleBinding");
  EXPECT_EQ(binding["metadata"]["namespace"], "pro");
  EXPECT_EQ(binding["metadata"]["name"], kReleaseRightsBinding);
  EXPECT_EQ(binding["metadata"]["labels"], ownershipLabels("pro"));
  EXPECT_EQ(binding["roleRef"], (Json{{"apiGroup", "rbac.authorization.k8s.io"},
                                      {"kind", "ClusterRole"},
                                      {"name", "envop-releases"}}));
  EXPECT_EQ(binding["subjects"], Json::array({{{"kind", "ServiceAccount"},
                                               {"name", "envop-controller"},
                                               {"namespace", "envop-system"}}}));
  // The shared ext namespace's binding is envop's, but no one Environment's.
  const Json ext = desiredReleaseRightsBinding(kRights, "ext", "");
  EXPECT_EQ(ext["metadata"]["labels"], (Json{{kManagedByLabel, kManagedByValue}}));
}

TEST(ReleaseRightsTest, TheStageNamespaceIsBoundRightAfterItIsAppliedAndBeforeItsGuardrails) {
  auto transport = emptyServer();
  Applier applier(std::make_shared<kube::Client>(transport), {});
  NamespacePart part(applier, kRights);
  const NamespaceReport report =
      part.reconcile(parsed({{"stage", "test"},
                             {"namespace",
                              {{"resourceQuota", {{"hard", {{"pods", "10"}}}}},
                               {"limitRange", {{"default", {{"cpu", "500m"}}}}},
                               {"networkIsolation", "Isolated"}}}}));
  EXPECT_EQ(report.state, PartOutcome::State::kReady) << report.message;
  const std::vector<std::string> expected = {
      "PATCH /api/v1/namespaces/pro",
      "PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/pro/rolebindings/envop-release-rights",
      "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
      "PATCH /api/v1/namespaces/pro/resourcequotas/envop-quota",
      "PATCH /api/v1/namespaces/pro/limitranges/envop-limits",
      "PATCH /apis/networking.k8s.io/v1/namespaces/pro/networkpolicies/envop-isolation"};
  EXPECT_EQ(writes(*transport), expected);
}

TEST(ReleaseRightsTest, WritesIntoTheNamespaceWaitForTheAuthorizerToKnowTheNewBinding) {
  int reviews = 0;
  auto transport = std::make_shared<fakes::FakeTransport>([&reviews](const kube::HttpRequest& r) {
    if (r.method == "PATCH") return kube::HttpResponse{.status = 200, .body = r.body};
    if (r.method == "POST") {
      // Not allowed yet twice (the authorizer's cache behind the new binding), then allowed.
      const bool allowed = ++reviews > 2;
      return kube::HttpResponse{.status = 201,
                                .body = Json{{"status", {{"allowed", allowed}}}}.dump()};
    }
    return kube::HttpResponse{.status = 404, .body = R"({"kind":"Status","code":404})"};
  });
  Applier applier(std::make_shared<kube::Client>(transport), {});
  NamespacePart part(applier, kRights);
  (void)part.reconcile(
      parsed({{"stage", "test"}, {"namespace", {{"resourceQuota", {{"hard", {{"pods", "1"}}}}}}}}));
  const std::vector<std::string> w = writes(*transport);
  ASSERT_EQ(w.size(), 6u) << ::testing::PrintToString(w);
  for (int i = 2; i < 5; ++i) EXPECT_EQ(w[i].rfind("POST ", 0), 0u) << w[i];
  EXPECT_EQ(w[5], "PATCH /api/v1/namespaces/pro/resourcequotas/envop-quota");
}

TEST(ReleaseRightsTest, ABindingThatFailsHoldsTheReleasesBack) {
  auto transport = std::make_shared<fakes::FakeTransport>([](const kube::HttpRequest& request) {
    const bool binding = request.pathAndQuery.find("/rolebindings/") != std::string::npos;
    if (request.method == "PATCH" && !binding) {
      return kube::HttpResponse{.status = 200, .body = request.body};
    }
    const int code = binding ? 403 : 404;
    return kube::HttpResponse{.status = code,
                              .body = Json{
                                  {"kind", "Status"},
                                  {"apiVersion", "v1"},
                                  {"status", "Failure"},
                                  {"reason", binding ? "Forbidden" : "NotFound"},
                                  {"code",
                                   code}}.dump()};
  });
  Applier applier(std::make_shared<kube::Client>(transport), {});
  NamespacePart part(applier, kRights);
  const NamespaceReport report = part.reconcile(parsed(
      {{"stage", "test"}, {"namespace", {{"resourceQuota", {{"hard", {{"pods", "10"}}}}}}}}));
  // Refused (403): not retried blindly, reported until someone fixes the RBAC.
  EXPECT_GE(report.state, PartOutcome::State::kFailed);
  EXPECT_NE(report.message.find("RoleBinding pro/envop-release-rights"), std::string::npos)
      << report.message;
  EXPECT_FALSE(report.usable) << "helm would run without its rights in the namespace";
  for (const std::string& w : writes(*transport)) {
    EXPECT_EQ(w.find("resourcequotas"), std::string::npos) << "wrote on without rights: " << w;
  }
}

TEST(ReleaseRightsTest, WithoutAClusterRoleNothingIsBound) {
  auto transport = emptyServer();
  Applier applier(std::make_shared<kube::Client>(transport), {});
  NamespacePart part(applier);
  EXPECT_EQ(part.reconcile(parsed({{"stage", "test"}})).state, PartOutcome::State::kReady);
  EXPECT_EQ(writes(*transport), std::vector<std::string>{"PATCH /api/v1/namespaces/pro"});
  ExternalServicesPart ext(applier);
  (void)ext.reconcile(
      parsed({{"stage", "test"},
              {"externalServices", {{"services", {{{"name", "cache"}, {"hostname", "redis"}}}}}}}));
  for (const std::string& w : writes(*transport)) {
    EXPECT_EQ(w.find("rolebindings"), std::string::npos) << w;
  }
}

TEST(ReleaseRightsTest, TheExtNamespaceIsBoundBeforeAServiceIsWrittenThere) {
  auto transport = emptyServer();
  Applier applier(std::make_shared<kube::Client>(transport), {});
  ExternalServicesPart part(applier, kRights);
  const PartReport report = part.reconcile(
      parsed({{"stage", "test"},
              {"externalServices", {{"services", {{{"name", "cache"}, {"hostname", "redis"}}}}}}}));
  EXPECT_EQ(report.state, PartOutcome::State::kReady) << report.message;
  const std::vector<std::string> w = writes(*transport);
  ASSERT_GE(w.size(), 4u);
  EXPECT_EQ(w[0], "PATCH /api/v1/namespaces/ext");
  EXPECT_EQ(w[1],
            "PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/ext/rolebindings/"
            "envop-release-rights");
  EXPECT_EQ(w[2], "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
  EXPECT_EQ(w[3], "PATCH /api/v1/namespaces/ext/services/cache");
}

TEST(ReleaseRightsTest, ARetainedNamespaceLosesOnlyItsOwnEnvironmentsBinding) {
  auto transport = std::make_shared<fakes::FakeTransport>([](const kube::HttpRequest&) {
    return kube::HttpResponse{.status = 200, .body = R"({"kind":"Status","status":"Success"})"};
  });
  auto bindings = std::make_shared<runtime::Store>();
  Applier applier(std::make_shared<kube::Client>(transport), {{"rolebindings", bindings}});
  NamespacePart part(applier, kRights);
  const EnvironmentSpec env = parsed({{"stage", "production"}});
  // None cached: nothing to remove, and nothing read.
  EXPECT_EQ(part.dropReleaseRights(env), "");
  EXPECT_TRUE(transport->requests().empty());
  // Another Environment's binding (the namespace is its): it stays.
  Json other = desiredReleaseRightsBinding(kRights, "pro", "other");
  other["metadata"]["resourceVersion"] = "1";
  bindings->upsert(other);
  EXPECT_EQ(part.dropReleaseRights(env), "");
  EXPECT_TRUE(transport->requests().empty());
  // Its own: deleted.
  Json own = desiredReleaseRightsBinding(kRights, "pro", "pro");
  own["metadata"]["resourceVersion"] = "2";
  bindings->upsert(own);
  EXPECT_EQ(part.dropReleaseRights(env), "");
  EXPECT_EQ(writes(*transport),
            std::vector<std::string>{"DELETE /apis/rbac.authorization.k8s.io/v1/namespaces/pro/"
                                     "rolebindings/envop-release-rights"});
}

}  // namespace
}  // namespace envop::environment
