// spec.monitoring as the parts read it: defaults, the typed targets and alerts, and errors that
// name the field.
#include "controller/environment/monitoring_spec.h"

#include <gtest/gtest.h>

#include "controller/environment/spec.h"

namespace envop::environment {
namespace {

MonitoringSpec parsed(const Json& monitoring) {
  auto result = parseMonitoring(monitoring);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<MonitoringSpec>(result);
}

std::string errorOf(const Json& monitoring) {
  auto result = parseMonitoring(monitoring);
  if (auto* error = std::get_if<std::string>(&result)) return *error;
  return "";
}

TEST(MonitoringSpecTest, ApiMdExampleIsReadWithDefaults) {
  const MonitoringSpec m = parsed(Json::parse(R"({
    "prometheus": {"labels": {"release": "kube-prometheus-stack"},
      "targets": [{"name": "gateway", "selector": {"matchLabels": {"app": "gateway"}},
                   "port": "http", "path": "/actuator/prometheus", "interval": "30s"},
                  {"name": "jobs", "kind": "Pod", "selector": {}, "port": "metrics"}]},
    "alerts": {"overrides": [{"name": "QuotaNearlyFull", "threshold": "0.9", "for": "15m",
                              "severity": "critical"}],
               "rules": [{"name": "OrdersFailing", "expr": "rate(x[5m]) > 1", "for": "10m",
                          "severity": "warning", "summary": "orders are failing"}]}
  })"));
  EXPECT_EQ(m.mode, MonitoringMode::kAuto);
  EXPECT_EQ(m.labels, Json({{"release", "kube-prometheus-stack"}}));
  ASSERT_EQ(m.targets.size(), 2u);
  EXPECT_EQ(m.targets[0].kind, TargetKind::kService);
  EXPECT_EQ(m.targets[0].path, "/actuator/prometheus");
  EXPECT_EQ(m.targets[0].interval, "30s");
  EXPECT_EQ(m.targets[1].kind, TargetKind::kPod);
  EXPECT_EQ(m.targets[1].path, "/metrics");
  EXPECT_EQ(m.targets[1].interval, "");
  ASSERT_TRUE(m.alerts.has_value());
  EXPECT_TRUE(m.alerts->systemEnabled);
  ASSERT_EQ(m.alerts->overrides.size(), 1u);
  EXPECT_EQ(m.alerts->overrides[0].threshold, "0.9");
  EXPECT_EQ(m.alerts->overrides[0].for_, "15m");
  EXPECT_EQ(m.alerts->overrides[0].severity, "critical");
  ASSERT_EQ(m.alerts->rules.size(), 1u);
  EXPECT_EQ(m.alerts->rules[0].expr, "rate(x[5m]) > 1");
  EXPECT_EQ(m.alerts->rules[0].summary, "orders are failing");
}

TEST(MonitoringSpecTest, ModesAreRead) {
  EXPECT_EQ(parsed({{"prometheus", {{"mode", "ServiceMonitor"}}}}).mode,
            MonitoringMode::kServiceMonitor);
  EXPECT_EQ(parsed({{"prometheus", {{"mode", "HTTPSD"}}}}).mode, MonitoringMode::kHttpSd);
  EXPECT_EQ(parsed({{"prometheus", {{"mode", "None"}}}}).mode, MonitoringMode::kNone);
  EXPECT_FALSE(parsed(Json::object()).alerts.has_value()) << "no alerts block: no alerts";
}

TEST(MonitoringSpecTest, ErrorsNameTheField) {
  EXPECT_EQ(errorOf({{"prometheus", {{"mode", "Prometheus"}}}}),
            "spec.monitoring.prometheus.mode: must be Auto, ServiceMonitor, HTTPSD or None");
  EXPECT_EQ(errorOf({{"alerts", {{"rules", {{{"name", "A"}, {"expr", " "}}}}}}}),
            "spec.monitoring.alerts.rules[0].expr: required");
  EXPECT_EQ(
      errorOf({{"alerts", {{"rules", {{{"name", "A"}, {"expr", "up"}, {"for", "10 min"}}}}}}}),
      "spec.monitoring.alerts.rules[0].for: must be a duration such as 10m");
  EXPECT_EQ(
      errorOf({{"alerts", {{"rules", {{{"name", "A"}, {"expr", "up"}, {"severity", "page"}}}}}}}),
      "spec.monitoring.alerts.rules[0].severity: must be critical, warning or info");
  EXPECT_EQ(errorOf({{"alerts", {{"overrides", {{{"name", "PodRestarting"}, {"for", "x"}}}}}}}),
            "spec.monitoring.alerts.overrides[0].for: must be a duration such as 5m");
  EXPECT_EQ(errorOf({{"prometheus",
                      {{"targets", {{{"name", "a"}, {"port", "http"}, {"interval", "30"}}}}}}}),
            "spec.monitoring.prometheus.targets[0].interval: must be a duration such as 30s");
}

TEST(MonitoringSpecTest, PrometheusDurationsFollowItsGrammar) {
  for (const char* good : {"0", "5m", "1h30m", "500ms", "1d", "2w", "1y", "1h0m0s", "90s"}) {
    EXPECT_TRUE(isPrometheusDuration(good)) << good;
  }
  for (const char* bad : {"", "5", "m", "5 m", "1m1h", "5min", "1.5h", "-5m", "5M"}) {
    EXPECT_FALSE(isPrometheusDuration(bad)) << bad;
  }
}

TEST(MonitoringSpecTest, TheEnvironmentCarriesItsMonitoring) {
  auto env = parseEnvironment(
      {{"metadata", {{"name", "pro"}}},
       {"spec",
        {{"stage", "production"}, {"monitoring", {{"prometheus", {{"mode", "HTTPSD"}}}}}}}});
  ASSERT_TRUE(std::holds_alternative<EnvironmentSpec>(env));
  ASSERT_TRUE(std::get<EnvironmentSpec>(env).monitoring.has_value());
  EXPECT_EQ(std::get<EnvironmentSpec>(env).monitoring->mode, MonitoringMode::kHttpSd);

  auto bad = parseEnvironment(
      {{"metadata", {{"name", "pro"}}},
       {"spec", {{"stage", "production"}, {"monitoring", {{"prometheus", {{"mode", 1}}}}}}}});
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_EQ(std::get<std::string>(bad), "spec.monitoring.prometheus.mode: must be a string");
}

}  // namespace
}  // namespace envop::environment
