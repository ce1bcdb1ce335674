// Every rule file envop writes passes Prometheus' own checker: promtool (Debian's prometheus
// package) parses each expression, duration and template of the groups of every stage, with
// every system alert, an override and business rules. The same groups go into a PrometheusRule,
// whose spec.groups the operator hands to Prometheus as they are.
#include <gtest/gtest.h>

#include <fstream>

#include "controller/environment/alert_rules.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using environment::EnvironmentSpec;

TEST(AlertRulesPromtoolTest, PromtoolAcceptsTheRuleFileOfEveryStage) {
  for (const char* stage : {"production", "gray", "test", "development"}) {
    SCOPED_TRACE(stage);
    EnvironmentSpec env;
    env.name = std::string("promtool-") + stage;
    env.stage = stage;
    env.namespace_.name = env.name;
    env.externalServices = environment::ExternalServicesSpec{
        .services = {{.name = "postgresql", .addresses = {"10.0.0.1"}, .metricsPort = 9187}}};
    env.monitoring = environment::MonitoringSpec{};
    env.monitoring->alerts = environment::AlertsSpec{
        .overrides = {{.name = "QuotaNearlyFull", .threshold = "0.8", .for_ = "1h30m"}},
        .rules = {{.name = "OrdersFailing",
                   .expr = "rate(orders_failed_total[5m]) > 1",
                   .for_ = "10m",
                   .severity = "warning",
                   .summary = "orders are failing"},
                  {.name = "Heartbeat", .expr = "vector(1)", .severity = "info"}}};
    const nlohmann::json groups = environment::alertRuleGroups(env);
    ASSERT_EQ(groups["groups"].size(), 1u);
    const std::string file =
        std::string(ENVOP_BINARY_DIR) + "/promtool-" + env.name + "-" + environment::kRuleFileKey;
    std::ofstream(file) << environment::ruleFileYaml(groups);
    const CommandResult r = runCommand({"promtool", "check", "rules", file});
    EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
    // promtool counts what it read: every rule was parsed, none skipped.
    EXPECT_NE(r.out.find("SUCCESS: " + std::to_string(groups["groups"][0]["rules"].size()) +
                         " rules found"),
              std::string::npos)
        << r.out;
  }
}

}  // namespace
}  // namespace envop::testing
