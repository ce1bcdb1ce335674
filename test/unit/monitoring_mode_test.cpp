// Which way an Environment's monitoring is published, from the CRDs the cache holds.
#include "controller/environment/monitoring_mode.h"

#include <gtest/gtest.h>

#include "controller/environment/monitoring_metrics.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;

runtime::ObjectPtr crd(const std::string& plural, bool established = true, bool v1 = true) {
  Json object = {
      {"metadata", {{"name", plural + ".monitoring.coreos.com"}, {"resourceVersion", "3"}}},
      {"spec",
       {{"group", "monitoring.coreos.com"},
        {"versions", {{{"name", "v1"}, {"served", v1}, {"schema", {{"big", "schema"}}}}}}}},
      {"status",
       {{"conditions", {{{"type", "Established"}, {"status", established ? "True" : "False"}}}}}}};
  slimCrd(object);
  return std::make_shared<const Json>(object);
}

TEST(MonitoringModeTest, AKindCountsOnceItsCrdIsEstablishedAndServesV1) {
  EXPECT_EQ(operatorApisFrom({}), OperatorApis{});
  EXPECT_EQ(operatorApisFrom({crd("servicemonitors"), crd("podmonitors", false),
                              crd("prometheusrules", true, false)}),
            (OperatorApis{.serviceMonitors = true}));
  EXPECT_EQ(operatorApisFrom({crd("servicemonitors"), crd("podmonitors"), crd("prometheusrules")}),
            (OperatorApis{.serviceMonitors = true, .podMonitors = true, .prometheusRules = true}));
}

TEST(MonitoringModeTest, OnlyTheThreeCrdsAreKeptAndWithoutTheirSchemas) {
  EXPECT_TRUE(
      isPrometheusOperatorCrd({{"metadata", {{"name", "podmonitors.monitoring.coreos.com"}}}}));
  EXPECT_FALSE(isPrometheusOperatorCrd({{"metadata", {{"name", "probes.monitoring.coreos.com"}}}}));
  EXPECT_FALSE(isPrometheusOperatorCrd({{"metadata", {{"name", "environments.envop.io"}}}}));
  EXPECT_FALSE(crd("servicemonitors")->dump().find("schema") != std::string::npos);
}

TEST(MonitoringModeTest, AutoFollowsTheCrdsAndServiceMonitorWithoutThemIsMissing) {
  const OperatorApis served{.serviceMonitors = true, .podMonitors = true};
  const OperatorApis absent{};
  EXPECT_EQ(decideMode(MonitoringMode::kAuto, served).publish, Publish::kOperator);
  EXPECT_EQ(decideMode(MonitoringMode::kAuto, absent).publish, Publish::kHttpSd);
  EXPECT_EQ(decideMode(MonitoringMode::kAuto, {.serviceMonitors = true}).publish, Publish::kHttpSd)
      << "PodMonitor targets need their CRD too";
  EXPECT_EQ(decideMode(MonitoringMode::kHttpSd, served).publish, Publish::kHttpSd);
  EXPECT_EQ(decideMode(MonitoringMode::kNone, served).publish, Publish::kNone);
  EXPECT_EQ(decideMode(MonitoringMode::kServiceMonitor, served).publish, Publish::kOperator);
  const ModeDecision missing = decideMode(MonitoringMode::kServiceMonitor, absent);
  EXPECT_TRUE(missing.crdMissing);
  EXPECT_EQ(missing.publish, Publish::kNone);
}

TEST(MonitoringSignalsTest, FailedReleasesAndThePullSecretExpiryAreReadFromTheStatus) {
  const Json status = {
      {"releases",
       {{{"name", "gateway"}, {"status", "deployed"}}, {{"name", "orders"}, {"status", "failed"}}}},
      {"registry", {{"secretExpiresAt", "2026-12-01T12:00:00Z"}}}};
  const EnvironmentSignals s = signalsFrom(status);
  EXPECT_EQ(s.releaseFailed,
            (std::vector<std::pair<std::string, bool>>{{"gateway", false}, {"orders", true}}));
  ASSERT_TRUE(s.pullSecretExpiresAt.has_value());
  EXPECT_DOUBLE_EQ(*s.pullSecretExpiresAt, 1796126400.0);
  EXPECT_EQ(signalsFrom(nullptr), EnvironmentSignals{});
  EXPECT_FALSE(signalsFrom({{"registry", {{"secretExpiresAt", "soon"}}}}).pullSecretExpiresAt);
}

}  // namespace
}  // namespace envop::environment
