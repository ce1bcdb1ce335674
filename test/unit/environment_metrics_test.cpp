#include "controller/environment/environment_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <map>
#include <string>

#include "controller/util/metrics.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;

// The series of one metric for one Environment: the label named `key` → the value.
std::map<std::string, double> seriesOf(const std::string& metric, const std::string& environment,
                                       const std::string& key) {
  std::map<std::string, double> out;
  for (const prometheus::MetricFamily& f : util::metricsRegistry().Collect()) {
    if (f.name != metric) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["environment"] == environment) out[labels[key]] = m.gauge.value;
    }
  }
  return out;
}

TEST(EnvironmentMetrics, EveryPhaseIsPresentAndOnlyTheCurrentOneIsSet) {
  recordEnvironmentStatus("m-pro", "production",
                          {{"phase", "Degraded"},
                           {"conditions",
                            {{{"type", "Ready"}, {"status", "False"}},
                             {{"type", "RegistryReady"}, {"status", "Unknown"}},
                             {{"type", "NamespaceReady"}, {"status", "True"}}}}});
  const auto phases = seriesOf("envop_environment_phase", "m-pro", "phase");
  ASSERT_EQ(phases.size(), 6u);
  EXPECT_EQ(phases.at("Degraded"), 1);
  EXPECT_EQ(phases.at("Ready"), 0);
  EXPECT_EQ(phases.at("Pending"), 0);
  const auto conditions = seriesOf("envop_environment_condition", "m-pro", "type");
  EXPECT_EQ(conditions.at("Ready"), 0);
  EXPECT_EQ(conditions.at("RegistryReady"), -1);
  EXPECT_EQ(conditions.at("NamespaceReady"), 1);
  forgetEnvironmentStatus("m-pro");
}

TEST(EnvironmentMetrics, AConditionGoneAndAnEnvironmentGoneLeaveNoSeries) {
  recordEnvironmentStatus("m-dev", "development",
                          {{"phase", "Progressing"},
                           {"conditions",
                            {{{"type", "Ready"}, {"status", "False"}},
                             {{"type", "Reconciling"}, {"status", "True"}}}}});
  recordEnvironmentStatus(
      "m-dev", "development",
      {{"phase", "Ready"}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}});
  const auto conditions = seriesOf("envop_environment_condition", "m-dev", "type");
  EXPECT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions.at("Ready"), 1);
  EXPECT_EQ(seriesOf("envop_environment_phase", "m-dev", "phase").at("Ready"), 1);

  forgetEnvironmentStatus("m-dev");
  EXPECT_TRUE(seriesOf("envop_environment_phase", "m-dev", "phase").empty());
  EXPECT_TRUE(seriesOf("envop_environment_condition", "m-dev", "type").empty());
}

}  // namespace
}  // namespace envop::environment
