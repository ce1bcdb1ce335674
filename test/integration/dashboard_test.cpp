// The chart's Grafana dashboard, as Grafana and an admin rely on it: a dashboard document
// Grafana loads (panels with queries, the variables they use defined), and every metric its
// queries name exported by a running controller — a renamed metric would leave a panel empty
// with nothing to say why.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "test/support/controller_process.h"
#include "test/support/harbor.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

Json dashboard() {
  std::ifstream in(std::string(ENVOP_SOURCE_DIR) + "/helm/envop/dashboards/envop-overview.json");
  return Json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// PromQL's functions, aggregations and keywords: every other bare identifier outside label
// matchers, ranges and grouping clauses is a metric name.
const std::set<std::string>& promqlWords() {
  static const std::set<std::string> words = {
      "sum",      "min",          "max",        "avg",         "count",
      "rate",     "irate",        "increase",   "by",          "without",
      "on",       "ignoring",     "group_left", "group_right", "and",
      "or",       "unless",       "bool",       "offset",      "histogram_quantile",
      "time",     "label_values", "abs",        "clamp_min",   "clamp_max",
      "topk",     "bottomk",      "absent",     "vector",      "scalar",
      "delta",    "deriv",        "changes",    "resets",      "sort",
      "sort_desc"};
  return words;
}

// The metric names a PromQL expression reads.
std::set<std::string> metricsIn(std::string expr) {
  // Label matchers, ranges, strings and grouping label lists name no metric.
  for (const char* pattern : {R"(\{[^}]*\})", R"(\[[^\]]*\])", R"("[^"]*")",
                              R"(\b(by|without|on|ignoring)\s*\([^)]*\))"}) {
    expr = std::regex_replace(expr, std::regex(pattern), " ");
  }
  std::set<std::string> names;
  const std::regex identifier(R"([A-Za-z_:][A-Za-z0-9_:]*)");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), identifier);
       it != std::sregex_iterator(); ++it) {
    const std::string word = it->str();
    if (!promqlWords().contains(word)) names.insert(word);
  }
  return names;
}

// Whether /metrics exports the name: a sample of it, or (a labelled family with no series yet)
// its TYPE line; a histogram's _bucket/_sum/_count come with its TYPE.
bool exported(const std::string& page, const std::string& name) {
  std::istringstream lines(page);
  std::string line;
  std::string family = name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (family.size() > s.size() && family.ends_with(s)) family.resize(family.size() - s.size());
  }
  while (std::getline(lines, line)) {
    if (line.starts_with(name + "{") || line.starts_with(name + " ")) return true;
    if (line.starts_with("# TYPE " + name + " ")) return true;
    if (family != name && line.starts_with("# TYPE " + family + " histogram")) return true;
  }
  return false;
}

TEST(DashboardTest, MetricNamesAreReadFromQueries) {
  EXPECT_EQ(metricsIn(R"(histogram_quantile(0.99, sum by (op, le) (rate(x_bucket{a="b"}[5m]))))"),
            std::set<std::string>{"x_bucket"});
  EXPECT_EQ(metricsIn(R"(min by (environment) (y_seconds) - time())"),
            std::set<std::string>{"y_seconds"});
  EXPECT_EQ(metricsIn(R"(z{type=~".+Ready"} != 1)"), std::set<std::string>{"z"});
}

TEST(DashboardTest, IsADashboardGrafanaLoads) {
  const Json d = dashboard();
  ASSERT_TRUE(d.is_object()) << "helm/envop/dashboards/envop-overview.json is not JSON";
  EXPECT_FALSE(d.value("uid", "").empty());
  EXPECT_FALSE(d.value("title", "").empty());
  EXPECT_GE(d.value("schemaVersion", 0), 36);
  std::set<std::string> variables;
  for (const Json& v : d["templating"]["list"]) variables.insert(v.value("name", ""));
  std::set<int> ids;
  ASSERT_FALSE(d["panels"].empty());
  for (const Json& p : d["panels"]) {
    const std::string title = p.value("title", "");
    EXPECT_FALSE(title.empty());
    EXPECT_TRUE(ids.insert(p.value("id", 0)).second) << "panel id repeated: " << title;
    EXPECT_TRUE(p["gridPos"].contains("w") && p["gridPos"].contains("h")) << title;
    ASSERT_FALSE(p.value("targets", Json::array()).empty()) << title << " has no query";
    for (const Json& t : p["targets"]) {
      const std::string expr = t.value("expr", "");
      EXPECT_FALSE(expr.empty()) << title;
      const std::regex var(R"(\$\{?([A-Za-z_]+))");
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), var);
           it != std::sregex_iterator(); ++it) {
        EXPECT_TRUE(variables.contains((*it)[1].str()))
            << title << " uses $" << (*it)[1].str() << ", which is not defined";
      }
    }
  }
  // What the issue asks the dashboard to show, by the metric each needs.
  std::set<std::string> used;
  for (const Json& p : d["panels"]) {
    for (const Json& t : p["targets"]) used.merge(metricsIn(t.value("expr", "")));
  }
  for (const char* needed :
       {"envop_environment_phase", "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket", "envop_helm_operations_total",
        "envop_harbor_requests_total", "envop_pull_secret_expiry_timestamp_seconds",
        "leader_election_master_status"}) {
    EXPECT_TRUE(used.contains(needed)) << "no panel shows " << needed;
  }
}

TEST(DashboardTest, EveryMetricItQueriesIsExportedByARunningController) {
  ScopedCluster cluster;
  cluster.applyCrds();
  // Every part the dashboard shows in use: a stage with a Harbor project and a robot (Harbor's
  // request metrics and the pull secret's expiry exist once envop has talked to Harbor).
  TestHarbor harbor(cluster.dir() + "/harbor");
  harbor.installCredentials(cluster);
  ControllerProcess controller(
      "envop", cluster.kubeconfig(),
      {"--namespace", "envop-system", "--leader-elect", "--leader-election-namespace",
       "envop-system", "--helm-binary", cluster.value("HELM"), "--helm-state-dir",
       cluster.dir() + "/helm-state"});
  ASSERT_TRUE(within(60s, [&] { return controller.probe("/readyz") == 200; })) << controller.log();
  ASSERT_EQ(cluster
                .apply(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: board}
spec:
  stage: development
  registry:
    harbor:
      url: )" + harbor.value("HARBOR_URL") +
                       R"(
      credentialsSecretRef: {name: harbor-admin}
      caSecretRef: {name: harbor-ca}
      project: {name: board}
      pullSecret:
        name: harbor-pull
        serviceAccounts: [default]
        rotation: {every: 720h, overlap: 24h})")
                .exitCode,
            0);
  ASSERT_EQ(
      cluster.kubectl({"wait", "--for=condition=Ready", "environment/board", "--timeout=120s"})
          .exitCode,
      0)
      << controller.log();
  const Json d = dashboard();
  ASSERT_TRUE(d.is_object());
  // Some series follow the status a reconcile wrote (the pull secret's expiry): wait for every
  // name to be there, then name the ones that never came.
  const auto missing = [&](const std::string& page) {
    std::vector<std::string> out;
    for (const Json& p : d["panels"]) {
      for (const Json& t : p["targets"]) {
        for (const std::string& name : metricsIn(t.value("expr", ""))) {
          if (!exported(page, name)) {
            out.push_back("panel \"" + p.value("title", "") + "\" queries " + name +
                          ", which /metrics does not export");
          }
        }
      }
    }
    return out;
  };
  std::vector<std::string> absent;
  within(60s, [&] {
    absent = missing(controller.metrics());
    return absent.empty();
  });
  for (const std::string& line : absent) ADD_FAILURE() << line;
}

}  // namespace
}  // namespace envop::testing
