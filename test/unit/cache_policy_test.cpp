// What envop's informers keep of what arrives: a ConfigMap or Secret only in an Environment's
// namespace or when helm made it, and never managedFields or kubectl's last-applied copy
// (which carries a Secret's data) — except envop's own Apply entry, which the Applier reads.
#include "controller/app/cache_policy.h"

#include <gtest/gtest.h>

#include <set>

#include "controller/environment/applier.h"
#include "controller/environment/spec.h"

namespace envop::app {
namespace {

kube::Json secret(const std::string& ns, const std::string& name,
                  const kube::Json& annotations = kube::Json::object()) {
  return {{"metadata", {{"name", name}, {"namespace", ns}, {"annotations", annotations}}}};
}

kube::Json ownedNamespace(const std::string& name, const std::string& environment) {
  kube::Json labels = {{environment::kManagedByLabel, environment::kManagedByValue}};
  if (!environment.empty()) labels[environment::kEnvironmentLabel] = environment;
  return {{"metadata", {{"name", name}, {"labels", labels}, {"resourceVersion", "1"}}}};
}

TEST(CachePolicyTest, KeepsOnlyObjectsOfEnvironmentNamespacesOrMadeByHelm) {
  auto namespaces = std::make_shared<runtime::Store>();
  namespaces->upsert(ownedNamespace("shop-dev", "shop-dev"));
  namespaces->upsert(ownedNamespace("ext", ""));  // envop's, but no single Environment's
  const auto keep = inEnvironmentNamespaceOrMadeByHelm(namespaces);

  EXPECT_TRUE(keep(secret("shop-dev", "gateway-secrets")));
  EXPECT_FALSE(keep(secret("kube-system", "bootstrap-token-abcdef")));
  EXPECT_FALSE(keep(secret("ext", "anything")));
  EXPECT_TRUE(keep(secret("team-a", "chart-made", {{"meta.helm.sh/release-name", "redis"}})));

  // The verdict follows the namespace cache: a namespace that becomes an Environment's.
  EXPECT_FALSE(keep(secret("later", "values")));
  namespaces->upsert(ownedNamespace("later", "later-env"));
  EXPECT_TRUE(keep(secret("later", "values")));
}

TEST(CachePolicyTest, ANamespaceEnvopAppliedIsAnEnvironmentsBeforeTheCacheSeesIt) {
  auto namespaces = std::make_shared<runtime::Store>();
  std::set<std::string> applied = {"new-stage"};
  const auto keep = inEnvironmentNamespace(
      namespaces, [&applied](const std::string& ns) { return applied.count(ns) > 0; });
  // Its kube-root-ca.crt, arriving before the namespace's own event.
  EXPECT_TRUE(keep(secret("new-stage", "kube-root-ca.crt")));
  EXPECT_FALSE(keep(secret("other", "kube-root-ca.crt")));
  // Once cached, the namespace's labels decide, whatever was applied.
  namespaces->upsert(ownedNamespace("new-stage", ""));
  EXPECT_FALSE(keep(secret("new-stage", "kube-root-ca.crt")));
  EXPECT_FALSE(keep(secret("team-a", "chart-made", {{"meta.helm.sh/release-name", "redis"}})))
      << "helm's objects are kept only by the ConfigMap and Secret caches";
}

TEST(CachePolicyTest, ANamespaceOwnerChangeIsWhatCallsForARecheck) {
  const auto a = std::make_shared<const kube::Json>(ownedNamespace("n", "a"));
  const auto b = std::make_shared<const kube::Json>(ownedNamespace("n", "b"));
  kube::Json relabelled = ownedNamespace("n", "a");
  relabelled["metadata"]["labels"]["team"] = "x";
  const auto aAgain = std::make_shared<const kube::Json>(relabelled);
  using T = runtime::Delta::Type;
  EXPECT_TRUE(namespaceOwnerChanged({.type = T::kAdded, .key = "n", .object = a}));
  EXPECT_TRUE(namespaceOwnerChanged({.type = T::kDeleted, .key = "n", .object = a}));
  EXPECT_TRUE(
      namespaceOwnerChanged({.type = T::kUpdated, .key = "n", .object = b, .oldObject = a}));
  EXPECT_FALSE(
      namespaceOwnerChanged({.type = T::kUpdated, .key = "n", .object = aAgain, .oldObject = a}));
}

kube::Json withManagedFields() {
  kube::Json object = secret("shop-dev", "s",
                             {{"kubectl.kubernetes.io/last-applied-configuration",
                               R"({"data":{"password":"aHVudGVyMg=="}})"},
                              {"team", "payments"}});
  object["metadata"]["managedFields"] = {
      {{"manager", "kubectl-client-side-apply"},
       {"operation", "Update"},
       {"fieldsV1", {{"f:data", kube::Json::object()}}}},
      {{"manager", "envop"},
       {"operation", "Apply"},
       {"fieldsV1", {{"f:spec", {{"f:hard", kube::Json::object()}}}}}},
      {{"manager", "envop"},
       {"operation", "Apply"},
       {"subresource", "status"},
       {"fieldsV1", kube::Json::object()}},
      {{"manager", "kube-controller-manager"},
       {"operation", "Update"},
       {"fieldsV1", kube::Json::object()}}};
  return object;
}

TEST(CachePolicyTest, StripsManagedFieldsAndTheLastAppliedCopy) {
  kube::Json object = withManagedFields();
  stripManagedFieldsAndLastApplied(object);
  EXPECT_FALSE(object["metadata"].contains("managedFields"));
  EXPECT_FALSE(object["metadata"]["annotations"].contains(
      "kubectl.kubernetes.io/last-applied-configuration"));
  EXPECT_EQ(object["metadata"]["annotations"]["team"], "payments");  // other annotations stay
  EXPECT_EQ(object.dump().find("aHVudGVyMg=="), std::string::npos);

  kube::Json odd = kube::Json::array();  // not an object: left as it is, no throw
  stripManagedFieldsAndLastApplied(odd);
  EXPECT_TRUE(odd.is_array());
}

TEST(CachePolicyTest, KeepsEnvopsOwnApplyEntryForTheApplier) {
  const kube::Json original = withManagedFields();
  kube::Json object = original;
  keepOnlyEnvopsManagedFields(object);
  ASSERT_EQ(object["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(object["metadata"]["managedFields"][0]["manager"], "envop");
  EXPECT_FALSE(object["metadata"]["managedFields"][0].contains("subresource"));
  EXPECT_FALSE(object["metadata"]["annotations"].contains(
      "kubectl.kubernetes.io/last-applied-configuration"));
  // What the Applier judges drift by is unchanged.
  EXPECT_EQ(environment::appliedFields(object), environment::appliedFields(original));
  EXPECT_FALSE(environment::appliedFields(object).is_null());
}

}  // namespace
}  // namespace envop::app
