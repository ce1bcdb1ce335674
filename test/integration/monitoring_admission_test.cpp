// spec.monitoring.alerts at admission, against the real apiserver: the api.md example is
// accepted with its defaults, and a business rule or override that Prometheus would refuse (an
// empty expr, a `for` that is no Prometheus duration, an unknown severity) is refused by
// `kubectl apply` with an error naming the field, before anything is stored.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using Json = nlohmann::json;

CommandResult apply(const Json& manifest, const std::vector<std::string>& extra = {}) {
  const std::string file = std::string(ENVOP_BINARY_DIR) + "/monitoring-admission-" +
                           manifest["metadata"]["name"].get<std::string>() + ".json";
  std::ofstream(file) << manifest.dump(2);
  std::vector<std::string> args = {"apply", "--validate=strict", "-f", file};
  args.insert(args.end(), extra.begin(), extra.end());
  return LocalCluster::get().kubectl(args);
}

Json withAlerts(const std::string& name) {
  Json m = {{"apiVersion", "envop.io/v1alpha1"},
            {"kind", "Environment"},
            {"metadata", {{"name", name}}},
            {"spec", {{"stage", "production"}}}};
  m["spec"]["monitoring"] = Json::parse(R"({
    "prometheus": {"mode": "Auto"},
    "alerts": {
      "system": {"enabled": true},
      "overrides": [{"name": "QuotaNearlyFull", "threshold": "0.9", "for": "15m",
                     "severity": "critical"}],
      "rules": [{"name": "OrdersFailing", "expr": "rate(orders_failed_total[5m]) > 1",
                 "for": "10m", "severity": "warning", "summary": "orders are failing"},
                {"name": "OrdersSlow", "expr": "orders_latency_seconds > 2"}]
    }})");
  return m;
}

TEST(MonitoringAdmissionTest, AlertsOfApiMdAreAcceptedAndDefaulted) {
  const CommandResult r =
      apply(withAlerts(uniqueName("alerts")), {"--dry-run=server", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const Json alerts = Json::parse(r.out).at("spec").at("monitoring").at("alerts");
  EXPECT_EQ(alerts.at("rules")[1].at("severity"), "warning") << "severity defaults to warning";
  EXPECT_EQ(alerts.at("rules")[0].at("for"), "10m");
  EXPECT_EQ(alerts.at("overrides")[0].at("threshold"), "0.9");

  Json noSystem = withAlerts(uniqueName("alerts"));
  noSystem["spec"]["monitoring"]["alerts"].erase("system");
  const CommandResult d = apply(noSystem, {"--dry-run=server", "-o", "json"});
  ASSERT_EQ(d.exitCode, 0) << d.err;
  EXPECT_EQ(Json::parse(d.out)["spec"]["monitoring"]["alerts"]["system"]["enabled"], true);
}

TEST(MonitoringAdmissionTest, ExplainDescribesAlerts) {
  CommandResult r = LocalCluster::get().kubectl({"explain", "environment.spec.monitoring.alerts"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("PrometheusRule"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("overrides"), std::string::npos) << r.out;
}

struct BadAlert {
  std::string what;
  std::function<void(Json&)> edit;  // of spec.monitoring.alerts
  std::string field;                // the field path the error must name
};

TEST(MonitoringAdmissionTest, BadAlertsAreRefusedNamingTheField) {
  const auto set = [](const std::string& pointer, Json value) {
    return [pointer, value](Json& a) { a[Json::json_pointer(pointer)] = value; };
  };
  const std::vector<BadAlert> cases = {
      {"empty expr", set("/rules/0/expr", ""), "spec.monitoring.alerts.rules[0].expr"},
      {"blank expr", set("/rules/0/expr", "   "), "spec.monitoring.alerts.rules[0].expr"},
      {"expr missing", [](Json& a) { a["rules"][1].erase("expr"); },
       "spec.monitoring.alerts.rules[1].expr"},
      {"for in words", set("/rules/0/for", "10 minutes"), "spec.monitoring.alerts.rules[0].for"},
      {"for without a unit", set("/rules/0/for", "10"), "spec.monitoring.alerts.rules[0].for"},
      {"for with units out of order", set("/rules/1/for", "1m1h"),
       "spec.monitoring.alerts.rules[1].for"},
      {"unknown severity", set("/rules/0/severity", "page"),
       "spec.monitoring.alerts.rules[0].severity"},
      {"severity in capitals", set("/rules/1/severity", "Critical"),
       "spec.monitoring.alerts.rules[1].severity"},
      {"rule name that is no alert name", set("/rules/0/name", "orders failing"),
       "spec.monitoring.alerts.rules[0].name"},
      {"rule named like a system alert", set("/rules/0/name", "PodRestarting"),
       "spec.monitoring.alerts.rules[0].name"},
      {"duplicate rule names", set("/rules/1/name", "OrdersFailing"),
       "spec.monitoring.alerts.rules[1]"},
      {"override of an unknown alert", set("/overrides/0/name", "DiskFull"),
       "spec.monitoring.alerts.overrides[0].name"},
      {"override threshold that is no number", set("/overrides/0/threshold", "90%"),
       "spec.monitoring.alerts.overrides[0].threshold"},
      {"override with a bad for", set("/overrides/0/for", "quarter hour"),
       "spec.monitoring.alerts.overrides[0].for"},
      {"override with an unknown severity", set("/overrides/0/severity", "urgent"),
       "spec.monitoring.alerts.overrides[0].severity"},
      {"override that changes nothing",
       [](Json& a) {
         a["overrides"][0] = {{"name", "PodRestarting"}};
       },
       "spec.monitoring.alerts.overrides[0]"},
  };
  std::vector<std::string> refused;
  for (const BadAlert& bad : cases) {
    SCOPED_TRACE(bad.what);
    Json manifest = withAlerts(uniqueName("bad-alerts"));
    bad.edit(manifest["spec"]["monitoring"]["alerts"]);
    const CommandResult r = apply(manifest);
    EXPECT_NE(r.exitCode, 0) << "accepted: " << manifest.dump();
    EXPECT_NE(r.err.find(bad.field), std::string::npos)
        << "the error does not name " << bad.field << ": " << r.err;
    refused.push_back(manifest["metadata"]["name"]);
  }
  const CommandResult list = LocalCluster::get().kubectl(
      {"get", "environments", "-o", "jsonpath={.items[*].metadata.name}"});
  ASSERT_EQ(list.exitCode, 0) << list.err;
  for (const std::string& name : refused) {
    EXPECT_EQ((" " + list.out + " ").find(" " + name + " "), std::string::npos) << name;
  }
}

// deploy/monitoring.yaml is the chart's monitoring template rendered with both objects on.
TEST(MonitoringAdmissionTest, DeployMonitoringIsTheChartRendered) {
  const LocalCluster& cluster = LocalCluster::get();
  const CommandResult rendered = runCommand(
      {cluster.binDir() + "/helm", "template", "envop",
       std::string(ENVOP_SOURCE_DIR) + "/helm/envop", "--namespace", "envop-system", "--set",
       "monitoring.serviceMonitor.enabled=true", "--set", "monitoring.prometheusRule.enabled=true",
       "--show-only", "templates/monitoring.yaml"});
  ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
  std::ifstream in(std::string(ENVOP_SOURCE_DIR) + "/deploy/monitoring.yaml");
  std::string committed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  committed.erase(0, committed.find('\n') + 1);  // the two comment lines
  committed.erase(0, committed.find('\n') + 1);
  EXPECT_EQ(committed, rendered.out) << "run scripts/render-deploy";
  // Off by default: the chart's plain render has neither.
  const CommandResult defaults = runCommand({cluster.binDir() + "/helm", "template", "envop",
                                             std::string(ENVOP_SOURCE_DIR) + "/helm/envop"});
  ASSERT_EQ(defaults.exitCode, 0) << defaults.err;
  EXPECT_EQ(defaults.out.find("kind: ServiceMonitor"), std::string::npos);
  EXPECT_EQ(defaults.out.find("kind: PrometheusRule"), std::string::npos);
}

}  // namespace
}  // namespace envop::testing
