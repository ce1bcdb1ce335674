// The rule group envop writes per Environment: stage defaults, overrides, business rules, and the
// labels every alert carries.
#include "controller/environment/alert_rules.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace envop::environment {
namespace {

EnvironmentSpec stageEnv(const std::string& name, const std::string& stage) {
  EnvironmentSpec env;
  env.name = name;
  env.stage = stage;
  env.namespace_.name = name + "-ns";
  env.monitoring = MonitoringSpec{};
  env.monitoring->alerts = AlertsSpec{};
  return env;
}

const Json* rule(const Json& groups, const std::string& alert) {
  for (const Json& g : groups["groups"]) {
    for (const Json& r : g["rules"]) {
      if (r["alert"] == alert) return &r;
    }
  }
  return nullptr;
}

TEST(AlertRulesTest, NoAlertsBlockWritesNoGroup) {
  EnvironmentSpec env = stageEnv("pro", "production");
  env.monitoring->alerts.reset();
  EXPECT_EQ(alertRuleGroups(env), Json({{"groups", Json::array()}}));
  env.monitoring.reset();
  EXPECT_EQ(alertRuleGroups(env), Json({{"groups", Json::array()}}));
  env = stageEnv("pro", "production");
  env.monitoring->alerts->systemEnabled = false;
  EXPECT_EQ(alertRuleGroups(env), Json({{"groups", Json::array()}}))
      << "system alerts off and no rules: nothing";
}

TEST(AlertRulesTest, ProductionPagesAndDevelopmentOnlyInforms) {
  const Json pro = alertRuleGroups(stageEnv("pro", "production"));
  const Json dev = alertRuleGroups(stageEnv("dev", "development"));
  ASSERT_EQ(pro["groups"].size(), 1u);
  EXPECT_EQ(pro["groups"][0]["name"], "envop-pro");
  for (const char* alert : {"WorkloadReplicasUnavailable", "PodRestarting", "QuotaNearlyFull",
                            "ReleaseFailed", "PullSecretExpiringSoon"}) {
    SCOPED_TRACE(alert);
    const Json* p = rule(pro, alert);
    const Json* d = rule(dev, alert);
    ASSERT_NE(p, nullptr);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ((*p)["labels"]["severity"], "critical");
    EXPECT_EQ((*d)["labels"]["severity"], "info");
  }
  EXPECT_EQ(rule(pro, "ExternalServiceDown"), nullptr) << "no external metrics: nothing to watch";
  // Thresholds differ by stage: development tolerates more before it says anything.
  EXPECT_NE((*rule(pro, "QuotaNearlyFull"))["expr"].get<std::string>().find("> 0.9"),
            std::string::npos);
  EXPECT_NE((*rule(dev, "QuotaNearlyFull"))["expr"].get<std::string>().find("> 0.98"),
            std::string::npos);
  EXPECT_EQ((*rule(pro, "PodRestarting"))["for"], "5m");
  EXPECT_EQ((*rule(dev, "PodRestarting"))["for"], "30m");
  EXPECT_EQ(systemAlertDefaults("PodRestarting", "gray"),
            systemAlertDefaults("PodRestarting", "production"));
  EXPECT_EQ(systemAlertDefaults("PodRestarting", "test").severity, "warning");
}

TEST(AlertRulesTest, EveryAlertIsLabelledWithItsEnvironmentStageAndNamespace) {
  EnvironmentSpec env = stageEnv("pro", "production");
  env.monitoring->alerts->rules.push_back({.name = "OrdersFailing",
                                           .expr = "rate(orders_failed_total[5m]) > 1",
                                           .for_ = "10m",
                                           .severity = "warning",
                                           .summary = "orders are failing"});
  env.externalServices = ExternalServicesSpec{.namespace_ = "middleware",
                                              .services = {{.name = "pg", .metricsPort = 9187}}};
  const Json groups = alertRuleGroups(env);
  ASSERT_EQ(groups["groups"][0]["rules"].size(), kSystemAlerts.size() + 1);
  for (const Json& r : groups["groups"][0]["rules"]) {
    SCOPED_TRACE(r["alert"].get<std::string>());
    EXPECT_EQ(r["labels"]["environment"], "pro");
    EXPECT_EQ(r["labels"]["stage"], "production");
    EXPECT_EQ(r["labels"]["namespace"], "pro-ns");
    EXPECT_TRUE(r["labels"].contains("severity"));
  }
  // The stage's namespace, and its external services' namespace, narrow the expressions.
  EXPECT_NE((*rule(groups, "PodRestarting"))["expr"].get<std::string>().find(
                "kube_pod_container_status_restarts_total{namespace=\"pro-ns\"}"),
            std::string::npos);
  EXPECT_NE((*rule(groups, "ExternalServiceDown"))["expr"].get<std::string>().find(
                "up{environment=\"pro\", namespace=\"middleware\"}"),
            std::string::npos);
  const Json* business = rule(groups, "OrdersFailing");
  ASSERT_NE(business, nullptr);
  EXPECT_EQ((*business)["expr"], "rate(orders_failed_total[5m]) > 1");
  EXPECT_EQ((*business)["for"], "10m");
  EXPECT_EQ((*business)["labels"]["severity"], "warning");
  EXPECT_EQ((*business)["annotations"]["summary"], "orders are failing");
}

TEST(AlertRulesTest, OverridesChangeOnlyWhatTheySet) {
  EnvironmentSpec env = stageEnv("dev", "development");
  env.monitoring->alerts->overrides.push_back(
      {.name = "QuotaNearlyFull", .threshold = "0.5", .severity = "critical"});
  const Json groups = alertRuleGroups(env);
  const Json& quota = *rule(groups, "QuotaNearlyFull");
  EXPECT_NE(quota["expr"].get<std::string>().find("> 0.5"), std::string::npos) << quota["expr"];
  EXPECT_EQ(quota["labels"]["severity"], "critical");
  EXPECT_EQ(quota["for"], systemAlertDefaults("QuotaNearlyFull", "development").for_);
  EXPECT_EQ((*rule(groups, "PodRestarting"))["labels"]["severity"], "info") << "others untouched";
}

TEST(AlertRulesTest, TheRuleFileIsYamlOfTheSameGroups) {
  EnvironmentSpec env = stageEnv("pro", "production");
  env.monitoring->alerts->rules.push_back(
      {.name = "Zero", .expr = "vector(0) > 1", .severity = "info", .summary = "say \"0\": yes"});
  const Json groups = alertRuleGroups(env);
  const YAML::Node file = YAML::Load(ruleFileYaml(groups));
  ASSERT_TRUE(file["groups"].IsSequence());
  const YAML::Node rules = file["groups"][0]["rules"];
  ASSERT_EQ(rules.size(), groups["groups"][0]["rules"].size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    EXPECT_EQ(rules[i]["expr"].as<std::string>(), groups["groups"][0]["rules"][i]["expr"]);
  }
  EXPECT_EQ(rules[rules.size() - 1]["annotations"]["summary"].as<std::string>(), "say \"0\": yes");
}

}  // namespace
}  // namespace envop::environment
