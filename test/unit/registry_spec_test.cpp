// spec.registry.harbor read into a RegistrySpec: the contract's defaults, quantities in bytes,
// durations, and errors that name the field.
#include "controller/environment/registry_spec.h"

#include <gtest/gtest.h>

#include "controller/environment/release_spec.h"
#include "controller/environment/spec.h"

namespace envop::environment {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json withHarbor(json harbor) {
  return {{"apiVersion", "envop.io/v1alpha1"},
          {"kind", "Environment"},
          {"metadata", {{"name", "pro"}, {"uid", "u-1"}}},
          {"spec", {{"stage", "production"}, {"registry", {{"harbor", harbor}}}}}};
}

json minimal() {
  return {{"url", "https://Harbor.Example.com/"},
          {"credentialsSecretRef", {{"name", "harbor-admin"}}},
          {"project", {{"name", "springcloud"}}}};
}

std::string errorOf(const json& object) {
  auto parsed = parseRegistrySpec(object);
  const auto* error = std::get_if<std::string>(&parsed);
  return error ? *error : "";
}

RegistrySpec parsed(const json& object) {
  auto result = parseRegistrySpec(object);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return {};
  }
  auto spec = std::get<std::optional<RegistrySpec>>(result);
  if (!spec) {
    ADD_FAILURE() << "no registry";
    return {};
  }
  return *spec;
}

TEST(RegistrySpecTest, AbsentIsNoRegistry) {
  json env = withHarbor(minimal());
  env["spec"].erase("registry");
  auto result = parseRegistrySpec(env);
  ASSERT_TRUE(std::holds_alternative<std::optional<RegistrySpec>>(result));
  EXPECT_FALSE(std::get<std::optional<RegistrySpec>>(result).has_value());
}

TEST(RegistrySpecTest, DefaultsFollowTheContract) {
  const RegistrySpec r = parsed(withHarbor(minimal()));
  EXPECT_EQ(r.url, "https://Harbor.Example.com");
  EXPECT_EQ(r.host, "harbor.example.com");
  EXPECT_TRUE(r.https);
  EXPECT_EQ(r.credentialsSecret, "harbor-admin");
  EXPECT_EQ(r.caSecret, "");
  EXPECT_EQ(r.project.name, "springcloud");
  EXPECT_FALSE(r.project.isPublic);
  EXPECT_EQ(r.project.storageQuota, -1);
  EXPECT_FALSE(r.project.autoScan);
  EXPECT_EQ(r.project.preventSeverity, "");
  EXPECT_TRUE(r.project.immutableTagPatterns.empty());
  EXPECT_FALSE(r.project.keepLatestPushed.has_value());
  EXPECT_EQ(r.project.deletionPolicy, ProjectDeletionPolicy::kRetain);
  EXPECT_FALSE(r.pullSecret.has_value());
}

TEST(RegistrySpecTest, ReadsEveryField) {
  json h = minimal();
  h["caSecretRef"] = {{"name", "harbor-ca"}};
  h["project"] = {{"name", "springcloud"},
                  {"public", true},
                  {"storageQuota", "50Gi"},
                  {"autoScan", true},
                  {"preventVulnerable", {{"severity", "high"}}},
                  {"immutableTagPatterns", {"v*", "release-*"}},
                  {"retention", {{"keepLatestPushed", 20}}},
                  {"deletionPolicy", "Delete"}};
  h["pullSecret"] = {{"name", "harbor-pull"},
                     {"serviceAccounts", {"default", "builder"}},
                     {"rotation", {{"every", "720h"}, {"overlap", "24h"}}}};
  const RegistrySpec r = parsed(withHarbor(h));
  EXPECT_EQ(r.caSecret, "harbor-ca");
  EXPECT_TRUE(r.project.isPublic);
  EXPECT_EQ(r.project.storageQuota, 50LL * 1024 * 1024 * 1024);
  EXPECT_TRUE(r.project.autoScan);
  EXPECT_EQ(r.project.preventSeverity, "high");
  EXPECT_EQ(r.project.immutableTagPatterns, (std::vector<std::string>{"v*", "release-*"}));
  EXPECT_EQ(r.project.keepLatestPushed, 20);
  EXPECT_EQ(r.project.deletionPolicy, ProjectDeletionPolicy::kDelete);
  ASSERT_TRUE(r.pullSecret.has_value());
  EXPECT_EQ(r.pullSecret->name, "harbor-pull");
  EXPECT_EQ(r.pullSecret->serviceAccounts, (std::vector<std::string>{"default", "builder"}));
  ASSERT_TRUE(r.pullSecret->rotation.has_value());
  EXPECT_EQ(r.pullSecret->rotation->every, 720h);
  EXPECT_EQ(r.pullSecret->rotation->overlap, 24h);
}

TEST(RegistrySpecTest, PullSecretServiceAccountsDefaultToDefault) {
  json h = minimal();
  h["pullSecret"] = {{"name", "harbor-pull"}};
  const RegistrySpec r = parsed(withHarbor(h));
  ASSERT_TRUE(r.pullSecret.has_value());
  EXPECT_EQ(r.pullSecret->serviceAccounts, std::vector<std::string>{"default"});
  EXPECT_FALSE(r.pullSecret->rotation.has_value());
}

TEST(RegistrySpecTest, QuantitiesAreBytes) {
  EXPECT_EQ(parseQuantityBytes("-1"), -1);
  EXPECT_EQ(parseQuantityBytes("1024"), 1024);
  EXPECT_EQ(parseQuantityBytes("1Ki"), 1024);
  EXPECT_EQ(parseQuantityBytes("1.5Gi"), 1610612736);
  EXPECT_EQ(parseQuantityBytes("1G"), 1000000000);
  EXPECT_EQ(parseQuantityBytes("500M"), 500000000);
  EXPECT_EQ(parseQuantityBytes("1e9"), 1000000000);
  EXPECT_EQ(parseQuantityBytes("2Ti"), 2LL * 1024 * 1024 * 1024 * 1024);
  EXPECT_FALSE(parseQuantityBytes("").has_value());
  EXPECT_FALSE(parseQuantityBytes("Gi").has_value());
  EXPECT_FALSE(parseQuantityBytes("-2").has_value());
  EXPECT_FALSE(parseQuantityBytes("5 Gi").has_value());
  EXPECT_FALSE(parseQuantityBytes("10Xi").has_value());
  EXPECT_FALSE(parseQuantityBytes("100Ei").has_value()) << "past int64";
}

TEST(RegistrySpecTest, ErrorsNameTheField) {
  json h = minimal();
  h["project"]["storageQuota"] = "lots";
  EXPECT_NE(errorOf(withHarbor(h)).find("spec.registry.harbor.project.storageQuota"),
            std::string::npos);
  h = minimal();
  h["project"]["preventVulnerable"] = {{"severity", "severe"}};
  EXPECT_NE(errorOf(withHarbor(h)).find("spec.registry.harbor.project.preventVulnerable.severity"),
            std::string::npos);
  h = minimal();
  h["url"] = "ftp://harbor";
  EXPECT_NE(errorOf(withHarbor(h)).find("spec.registry.harbor.url"), std::string::npos);
  h = minimal();
  h["pullSecret"] = {{"name", "harbor-pull"}, {"rotation", {{"every", "1h"}, {"overlap", "2h"}}}};
  EXPECT_NE(errorOf(withHarbor(h)).find("spec.registry.harbor.pullSecret.rotation.overlap"),
            std::string::npos);
  h = minimal();
  h["pullSecret"] = {{"name", "harbor-pull"}, {"rotation", {{"every", "soon"}}}};
  EXPECT_NE(errorOf(withHarbor(h)).find("spec.registry.harbor.pullSecret.rotation.every"),
            std::string::npos);
  h = minimal();
  h["project"]["retention"] = {{"keepLatestPushed", 0}};
  EXPECT_NE(errorOf(withHarbor(h)).find("retention.keepLatestPushed"), std::string::npos);
  h = minimal();
  h["project"]["name"] = "Spring Cloud";
  EXPECT_NE(errorOf(withHarbor(h)).find("spec.registry.harbor.project.name"), std::string::npos);
}

TEST(RegistrySpecTest, ParseEnvironmentCarriesIt) {
  auto parsedEnv = parseEnvironment(withHarbor(minimal()));
  ASSERT_TRUE(std::holds_alternative<EnvironmentSpec>(parsedEnv));
  const EnvironmentSpec& env = std::get<EnvironmentSpec>(parsedEnv);
  ASSERT_TRUE(env.registry.has_value());
  EXPECT_EQ(env.registry->project.name, "springcloud");

  json bad = minimal();
  bad["project"]["deletionPolicy"] = "Purge";
  auto failed = parseEnvironment(withHarbor(bad));
  ASSERT_TRUE(std::holds_alternative<std::string>(failed));
  EXPECT_NE(std::get<std::string>(failed).find("spec.registry.harbor.project.deletionPolicy"),
            std::string::npos);
}

TEST(RegistrySpecTest, SharedProjectSettingsCompareWithoutTheDeletionPolicy) {
  ProjectSpec a{.name = "springcloud", .autoScan = true};
  ProjectSpec b = a;
  b.deletionPolicy = ProjectDeletionPolicy::kDelete;
  EXPECT_TRUE(a.sameSettings(b));
  b.isPublic = true;
  EXPECT_FALSE(a.sameSettings(b));
}

}  // namespace
}  // namespace envop::environment

namespace envop::environment {
namespace {

TEST(RegistrySpecTest, ChartsOnTheHarborHostArePulledWithThePullSecret) {
  json h = minimal();
  h["pullSecret"] = {{"name", "harbor-pull"}};
  json env = withHarbor(h);
  env["spec"]["charts"] = {{"repository", "oci://harbor.example.com/springcloud"}};
  auto parsed = parseReleasesSpec(env);
  ASSERT_TRUE(std::holds_alternative<ReleasesSpec>(parsed));
  EXPECT_EQ(std::get<ReleasesSpec>(parsed).charts.credentialsSecret, "harbor-pull");
  EXPECT_EQ(std::get<ReleasesSpec>(parsed).charts.plainHttp, false) << "an https Harbor: TLS";

  env["spec"]["charts"] = {{"repository", "oci://charts.example.com/springcloud"}};
  parsed = parseReleasesSpec(env);
  ASSERT_TRUE(std::holds_alternative<ReleasesSpec>(parsed));
  EXPECT_EQ(std::get<ReleasesSpec>(parsed).charts.credentialsSecret, "")
      << "another host keeps its own credentials";
}

}  // namespace
}  // namespace envop::environment
