// The typed view of an Environment and the objects envop derives from it: what the
// namespace part will apply, checked without a cluster.
#include <gtest/gtest.h>

#include "controller/environment/external_services_part.h"
#include "controller/environment/namespace_part.h"
#include "controller/environment/spec.h"

namespace envop::environment {
namespace {

Json environment(Json spec, Json metadata = {{"name", "pro"}, {"generation", 3}}) {
  return {{"apiVersion", "envop.io/v1alpha1"},
          {"kind", "Environment"},
          {"metadata", metadata},
          {"spec", spec}};
}

EnvironmentSpec parsed(const Json& object) {
  auto result = parseEnvironment(object);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<EnvironmentSpec>(result);
}

TEST(EnvironmentSpecTest, DefaultsFollowTheContract) {
  const EnvironmentSpec env = parsed(environment({{"stage", "production"}}));
  EXPECT_EQ(env.name, "pro");
  EXPECT_EQ(env.generation, 3);
  EXPECT_EQ(env.namespace_.name, "pro") << "namespace defaults to metadata.name";
  EXPECT_EQ(env.namespace_.creationPolicy, CreationPolicy::kCreateOrAdopt);
  EXPECT_FALSE(env.namespace_.isolated);
  EXPECT_FALSE(env.externalServices.has_value());
  EXPECT_FALSE(env.hasFinalizer);
  EXPECT_FALSE(env.deleting);
}

TEST(EnvironmentSpecTest, DeletionPolicyDefaultsByStage) {
  for (const auto& [stage, policy] : std::vector<std::pair<std::string, DeletionPolicy>>{
           {"production", DeletionPolicy::kRetain},
           {"gray", DeletionPolicy::kRetain},
           {"test", DeletionPolicy::kDelete},
           {"development", DeletionPolicy::kDelete}}) {
    const EnvironmentSpec env = parsed(environment({{"stage", stage}}));
    EXPECT_EQ(env.namespace_.deletionPolicy, policy) << stage;
    EXPECT_FALSE(env.namespace_.deletionPolicyExplicit);
  }
  const EnvironmentSpec explicitDelete =
      parsed(environment({{"stage", "production"}, {"namespace", {{"deletionPolicy", "Delete"}}}}));
  EXPECT_EQ(explicitDelete.namespace_.deletionPolicy, DeletionPolicy::kDelete);
  EXPECT_TRUE(explicitDelete.namespace_.deletionPolicyExplicit);
}

TEST(EnvironmentSpecTest, FinalizerAndDeletionAreRead) {
  const EnvironmentSpec env = parsed(
      environment({{"stage", "test"}}, {{"name", "t"},
                                        {"finalizers", {"other.io/keep", "envop.io/finalizer"}},
                                        {"deletionTimestamp", "2026-11-26T10:00:00Z"}}));
  EXPECT_TRUE(env.hasFinalizer);
  EXPECT_TRUE(env.deleting);
}

TEST(EnvironmentSpecTest, ErrorsNameTheField) {
  struct Case {
    Json object;
    std::string field;
  };
  const std::vector<Case> cases = {
      {environment({{"stage", "prod"}}), "spec.stage"},
      {environment({{"stage", "test"}, {"suspend", "yes"}}), "spec.suspend"},
      {environment({{"stage", "test"}, {"namespace", {{"creationPolicy", "Maybe"}}}}),
       "spec.namespace.creationPolicy"},
      {environment({{"stage", "test"}, {"namespace", {{"networkIsolation", "Total"}}}}),
       "spec.namespace.networkIsolation"},
      {environment({{"stage", "test"},
                    {"externalServices",
                     {{"services", {{{"name", "pg"}, {"ports", {{{"port", 5432}}}}}}}}}}),
       "spec.externalServices.services[0]"},
      {environment(
           {{"stage", "test"},
            {"externalServices",
             {{"services", {{{"name", "pg"}, {"hostname", "db"}, {"ports", {{{"port", 0}}}}}}}}}}),
       "spec.externalServices.services[0].ports[0].port"},
      // Found by test/fuzz/environment_spec_fuzzer in CI: 2.7e260 was converted to int (UBSan).
      {environment(
           {{"stage", "test"},
            {"externalServices",
             {{"services",
               {{{"name", "pg"}, {"hostname", "db"}, {"ports", {{{"port", 2.7e260}}}}}}}}}}),
       "spec.externalServices.services[0].ports[0].port"},
      {environment({{"stage", "test"}}, {{"generation", 1}}), "metadata.name"},
      // Found by the fuzzer in CI: each of these threw nlohmann's type_error out of the parser.
      {environment({{"stage", "test"}}, {{"name", "pro"}, {"generation", "3"}}),
       "metadata.generation"},
      {environment({{"stage", "test"}, {"externalServices", {{"services", {1}}}}}),
       "spec.externalServices.services[0]: must be an object"},
      {environment({{"stage", "test"},
                    {"externalServices",
                     {{"services", {{{"name", "pg"}, {"hostname", "db"}, {"ports", "5432"}}}}}}}),
       "spec.externalServices.services[0].ports: must be a list"},
      {environment({{"stage", "test"},
                    {"externalServices",
                     {{"services", {{{"name", "pg"}, {"hostname", "db"}, {"ports", {5432}}}}}}}}),
       "spec.externalServices.services[0].ports[0]: must be an object"},
      {environment({{"stage", "test"},
                    {"externalServices",
                     {{"services", {{{"name", "pg"}, {"addresses", {{{"ip", "10.0.0.1"}}}}}}}}}}),
       "spec.externalServices.services[0].addresses"},
      {environment(
           {{"stage", "test"},
            {"externalServices",
             {{"services", {{{"name", "pg"}, {"hostname", "db"}, {"metricsPort", 70000}}}}}}}),
       "spec.externalServices.services[0].metricsPort"},
  };
  for (const Case& c : cases) {
    auto result = parseEnvironment(c.object);
    ASSERT_TRUE(std::holds_alternative<std::string>(result)) << c.object.dump();
    EXPECT_NE(std::get<std::string>(result).find(c.field), std::string::npos)
        << std::get<std::string>(result);
  }
}

TEST(DesiredObjectsTest, EverythingCarriesTheOwnershipLabels) {
  const EnvironmentSpec env = parsed(environment(
      {{"stage", "production"},
       {"namespace",
        {{"labels", {{"team", "springcloud"}, {"app.kubernetes.io/managed-by", "helm"}}},
         {"resourceQuota", {{"hard", {{"pods", "200"}}}}},
         {"limitRange", {{"default", {{"cpu", "500m"}}}}},
         {"networkIsolation", "Isolated"}}},
       {"externalServices",
        {{"namespace", "ext"},
         {"services",
          {{{"name", "pg"},
            {"addresses", {"10.0.0.1", "fd00::1"}},
            {"ports", {{{"name", "pg"}, {"port", 5432}}}}},
           {{"name", "cache"}, {"hostname", "redis.example.com"}}}}}}}));
  std::vector<Json> objects = {desiredNamespace(env, false),
                               desiredQuota(env),
                               desiredLimitRange(env),
                               desiredNetworkPolicy(env),
                               desiredExternalService(env, env.externalServices->services[0]),
                               desiredExternalService(env, env.externalServices->services[1])};
  for (const Json& slice : desiredEndpointSlices(env, env.externalServices->services[0])) {
    objects.push_back(slice);
  }
  for (const Json& o : objects) {
    EXPECT_EQ(o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "envop") << o.dump();
    EXPECT_EQ(o["metadata"]["labels"]["envop.io/environment"], "pro") << o.dump();
  }
  // The user's own labels ride along, but never override envop's claim.
  EXPECT_EQ(objects[0]["metadata"]["labels"]["team"], "springcloud");
  // Retain on deletion is not an object without labels (production never renders one): it
  // is Applier::disown, tested in applier_test (RetainLetsGoByRemovingOnlyEnvopsOwnershipLabels).
}

TEST(DesiredObjectsTest, IsolationAdmitsTheNamespaceItselfAndMonitoring) {
  const EnvironmentSpec env =
      parsed(environment({{"stage", "test"}, {"namespace", {{"networkIsolation", "Isolated"}}}}));
  const Json policy = desiredNetworkPolicy(env);
  EXPECT_EQ(policy["spec"]["podSelector"], Json::object()) << "applies to every pod";
  EXPECT_EQ(policy["spec"]["policyTypes"], Json::array({"Ingress"})) << "egress stays open";
  const Json from = policy["spec"]["ingress"][0]["from"];
  ASSERT_EQ(from.size(), 2u);
  EXPECT_EQ(from[0]["podSelector"], Json::object());
  EXPECT_EQ(from[1]["namespaceSelector"]["matchLabels"]["envop.io/monitoring"], "true");
}

TEST(DesiredObjectsTest, ExternalServicesBecomeEndpointsOrExternalNames) {
  const EnvironmentSpec env =
      parsed(environment({{"stage", "production"},
                          {"externalServices",
                           {{"namespace", "ext"},
                            {"services",
                             {{{"name", "pg"},
                               {"addresses", {"10.0.0.1", "10.0.0.2", "fd00::1"}},
                               {"ports", {{{"name", "pg"}, {"port", 5432}}}}},
                              {{"name", "cache"}, {"hostname", "redis.example.com"}}}}}}}));
  const ExternalService& pg = env.externalServices->services[0];
  const Json service = desiredExternalService(env, pg);
  EXPECT_EQ(service["metadata"]["namespace"], "ext");
  EXPECT_FALSE(service["spec"].contains("selector")) << "endpoints come from the slices";
  const auto slices = desiredEndpointSlices(env, pg);
  ASSERT_EQ(slices.size(), 2u) << "one slice per address family";
  EXPECT_EQ(slices[0]["addressType"], "IPv4");
  EXPECT_EQ(slices[0]["endpoints"].size(), 2u);
  EXPECT_EQ(slices[1]["addressType"], "IPv6");
  EXPECT_EQ(slices[0]["metadata"]["labels"]["kubernetes.io/service-name"], "pg");
  EXPECT_NE(slices[0]["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io");

  const Json cache = desiredExternalService(env, env.externalServices->services[1]);
  EXPECT_EQ(cache["spec"]["type"], "ExternalName");
  EXPECT_EQ(cache["spec"]["externalName"], "redis.example.com");
  EXPECT_TRUE(desiredEndpointSlices(env, env.externalServices->services[1]).empty());
}

TEST(DesiredObjectsTest, AnAdoptedNamespaceIsMarked) {
  const EnvironmentSpec env = parsed(environment({{"stage", "test"}}));
  EXPECT_EQ(desiredNamespace(env, true)["metadata"]["annotations"]["envop.io/adopted"], "true");
  EXPECT_FALSE(
      desiredNamespace(env, false)["metadata"]["annotations"].contains("envop.io/adopted"));
}

}  // namespace
}  // namespace envop::environment
