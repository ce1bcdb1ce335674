// The monitoring test fixtures against the real components, with hand-written objects: the
// prometheus-operator built from source turns a ServiceMonitor whose labels its Prometheus
// selects into a scrape job of the configuration it generates (and drops it when the
// ServiceMonitor goes), ignores one without them, and puts a PrometheusRule into its rule
// ConfigMap; Debian's Prometheus discovers targets over HTTP SD with their labels and scrapes
// a static one; promtool tells a good rule file from a bad one. The monitoring tests build on
// these fixtures, so these tests pin down what they read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/process.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"
#include "test/support/prometheus.h"
#include "test/support/prometheus_operator.h"

namespace envop::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

const std::map<std::string, std::string> kSelected = {{"envop.io/monitoring", "fixture"}};

bool hasJob(const PrometheusOperator& op, const std::string& job) {
  const std::vector<std::string> jobs = op.scrapeJobNames(0s);
  return std::find(jobs.begin(), jobs.end(), job) != jobs.end();
}

std::string serviceMonitor(const std::string& ns, const std::string& name, bool selected) {
  std::string labels = selected ? "  labels:\n    envop.io/monitoring: fixture\n" : "";
  return "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\n" + labels +
         "spec:\n  selector:\n    matchLabels:\n      app: orders\n"
         "  endpoints:\n  - port: metrics\n    path: /actuator/prometheus\n    interval: 15s\n";
}

class PrometheusOperatorFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cluster.kubectl({"create", "namespace", "apps"}).exitCode, 0);
    op = std::make_unique<PrometheusOperator>(cluster,
                                              PrometheusObject{"fixture", "monitoring", kSelected});
  }
  void TearDown() override { op.reset(); }  // before the cluster goes

  ScopedCluster cluster;
  std::unique_ptr<PrometheusOperator> op;
};

TEST_F(PrometheusOperatorFixture, SelectedServiceMonitorBecomesAScrapeJobUntilDeleted) {
  // The operator writes the configuration of a Prometheus with nothing selected first.
  EXPECT_THAT(op->generatedConfig(), HasSubstr("scrape_configs"));
  EXPECT_THAT(op->scrapeJobNames(), Not(Contains(HasSubstr("serviceMonitor/"))));

  // Created first, so that the operator has seen it by the time the selected one shows.
  ASSERT_EQ(cluster.apply(serviceMonitor("apps", "unselected", false)).exitCode, 0);
  ASSERT_EQ(cluster.apply(serviceMonitor("apps", "orders", true)).exitCode, 0);
  ASSERT_TRUE(within(60s, [&] { return hasJob(*op, "serviceMonitor/apps/orders/0"); }))
      << op->generatedConfig() << "\nlog: " << op->log();
  EXPECT_THAT(op->scrapeJobNames(), Not(Contains("serviceMonitor/apps/unselected/0")));
  // The job is the operator's own: Kubernetes endpoint discovery in the ServiceMonitor's
  // namespace, with the endpoint's path and interval.
  const std::string config = op->generatedConfig();
  EXPECT_THAT(config, HasSubstr("metrics_path: /actuator/prometheus"));
  EXPECT_THAT(config, HasSubstr("scrape_interval: 15s"));
  EXPECT_THAT(config, HasSubstr("role: endpoints"));

  ASSERT_EQ(cluster.kubectl({"delete", "servicemonitor", "orders", "-n", "apps"}).exitCode, 0);
  EXPECT_TRUE(within(60s, [&] { return !hasJob(*op, "serviceMonitor/apps/orders/0"); }))
      << op->generatedConfig();
}

TEST_F(PrometheusOperatorFixture, SelectedPrometheusRuleIsInTheRuleConfigMap) {
  ASSERT_EQ(cluster
                .apply(R"(apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: orders-alerts
  namespace: apps
  labels:
    envop.io/monitoring: fixture
spec:
  groups:
  - name: orders
    rules:
    - alert: OrdersDown
      expr: up{service="orders"} == 0
      for: 2m
      labels:
        severity: page
)")
                .exitCode,
            0);
  ASSERT_EQ(cluster
                .apply(R"(apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: not-selected
  namespace: apps
spec:
  groups:
  - name: other
    rules:
    - alert: Other
      expr: vector(1)
)")
                .exitCode,
            0);
  std::string file;
  ASSERT_TRUE(within(60s,
                     [&] {
                       for (const auto& [key, text] : op->ruleFiles()) {
                         if (key.rfind("apps-orders-alerts-", 0) == 0) file = text;
                       }
                       return !file.empty();
                     }))
      << "log: " << op->log();
  EXPECT_THAT(file, HasSubstr("alert: OrdersDown"));
  EXPECT_THAT(file, HasSubstr("severity: page"));
  for (const auto& [key, text] : op->ruleFiles()) {
    EXPECT_EQ(key.rfind("apps-not-selected-", 0), std::string::npos) << key;
  }
  // What the operator writes is a rule file Prometheus loads, and the generated configuration
  // names the directory the ConfigMap is mounted at.
  const PromtoolResult checked = promtoolCheckRules(file);
  EXPECT_TRUE(checked.ok) << checked.output;
  EXPECT_THAT(op->generatedConfig(), HasSubstr(op->ruleConfigMapName() + "/*.yaml"));
}

// What "the CRD is installed after envop started" and "the CRD goes away" rest on: the
// cluster serves ServiceMonitor exactly while the CRDs are applied.
TEST(PrometheusOperatorCrds, ApplyThenDeleteStartsAndStopsServingServiceMonitors) {
  ScopedCluster cluster;
  auto served = [&] {
    const CommandResult r =
        cluster.kubectl({"api-resources", "--api-group=monitoring.coreos.com", "-o", "name"});
    return r.exitCode == 0 &&
           r.out.find("servicemonitors.monitoring.coreos.com") != std::string::npos;
  };
  ASSERT_FALSE(served());
  applyPrometheusOperatorCrds(cluster);
  EXPECT_TRUE(served());
  ASSERT_EQ(cluster.kubectl({"create", "namespace", "apps"}).exitCode, 0);
  EXPECT_EQ(cluster.apply(serviceMonitor("apps", "orders", true)).exitCode, 0);
  deletePrometheusOperatorCrds(cluster);
  // The apiserver drops the group from discovery a moment after the CRDs are gone.
  EXPECT_TRUE(within(30s, [&] { return !served(); }));
  EXPECT_TRUE(cluster.get({"crd", "servicemonitors.monitoring.coreos.com"}).is_null());
}

// A static file server on loopback (python3 -m http.server): the HTTP SD document and a
// metrics page, as an exporter or envop's SD endpoint would serve them.
class FileServer {
 public:
  explicit FileServer(const std::string& dir) : port_(freePort()) {
    child_ = boost::process::child(boost::process::search_path("python3"), "-m", "http.server",
                                   std::to_string(port_), "--bind", "127.0.0.1", "--directory", dir,
                                   boost::process::std_out > boost::process::null,
                                   boost::process::std_err > boost::process::null);
    if (!within(10s, [&] { return httpGet(port_, "/").first == 200; })) {
      throw std::runtime_error("python3 -m http.server did not answer on " + std::to_string(port_));
    }
  }
  ~FileServer() {
    std::error_code ignored;
    child_.terminate(ignored);
  }
  int port() const { return port_; }

 private:
  int port_;
  boost::process::child child_;
};

TEST(PlainPrometheusFixture, ListsHttpSdTargetsWithTheirLabelsAndScrapesAStaticOne) {
  const std::string dir = std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("sd-files");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/metrics.txt") << "# TYPE fixture_value gauge\nfixture_value 42\n";
  FileServer server(dir);
  const std::string self = "127.0.0.1:" + std::to_string(server.port());
  // Written before Prometheus starts: its first SD refresh finds it. Port 1 answers nothing.
  std::ofstream(dir + "/sd.json") << R"([{"targets": ["127.0.0.1:1", "127.0.0.2:1"],
    "labels": {"environment": "pro", "stage": "production", "service": "orders",
               "__metrics_path__": "/actuator/prometheus"}}])";

  PlainPrometheus prometheus(
      "- job_name: envop-sd\n"
      "  http_sd_configs:\n"
      "  - url: http://" +
      self +
      "/sd.json\n"
      "    refresh_interval: 1s\n"
      "- job_name: static\n"
      "  metrics_path: /metrics.txt\n"
      "  static_configs:\n"
      "  - targets: ['" +
      self + "']\n");

  std::vector<ScrapeTarget> sd;
  ASSERT_TRUE(within(30s, [&] {
    sd.clear();
    for (const ScrapeTarget& t : prometheus.targets()) {
      if (t.scrapePool == "envop-sd") sd.push_back(t);
    }
    return sd.size() == 2;
  })) << prometheus.api("/api/v1/targets").dump();
  for (const ScrapeTarget& t : sd) {
    EXPECT_EQ(t.labels.at("environment"), "pro");
    EXPECT_EQ(t.labels.at("stage"), "production");
    EXPECT_EQ(t.labels.at("service"), "orders");
    EXPECT_EQ(t.labels.at("job"), "envop-sd");
    EXPECT_THAT(t.scrapeUrl, HasSubstr("/actuator/prometheus"));
  }
  std::set<std::string> instances;
  for (const ScrapeTarget& t : sd) instances.insert(t.labels.at("instance"));
  EXPECT_EQ(instances, (std::set<std::string>{"127.0.0.1:1", "127.0.0.2:1"}));

  // The static target is scraped: up == 1 and its sample is stored.
  ASSERT_TRUE(within(30s, [&] {
    const nlohmann::json up = prometheus.query("up{job=\"static\"}");
    return up.size() == 1 && up[0]["value"][1] == "1";
  })) << prometheus.api("/api/v1/targets").dump();
  const nlohmann::json value = prometheus.query("fixture_value");
  ASSERT_EQ(value.size(), 1u);
  EXPECT_EQ(value[0]["value"][1], "42");
}

TEST(PromtoolFixture, AcceptsAGoodRuleFileAndRefusesABadOne) {
  const PromtoolResult good = promtoolCheckRules(R"(groups:
- name: stage
  rules:
  - alert: PodRestarting
    expr: increase(kube_pod_container_status_restarts_total[15m]) > 3
    for: 5m
    labels:
      severity: warning
    annotations:
      summary: a pod restarts
)");
  EXPECT_TRUE(good.ok) << good.output;
  EXPECT_THAT(good.output, HasSubstr("1 rules found"));

  const PromtoolResult badExpr = promtoolCheckRules(R"(groups:
- name: stage
  rules:
  - alert: Broken
    expr: up ==
)");
  EXPECT_FALSE(badExpr.ok) << badExpr.output;
  const PromtoolResult badFor = promtoolCheckRules(R"(groups:
- name: stage
  rules:
  - alert: Broken
    expr: up == 0
    for: five minutes
)");
  EXPECT_FALSE(badFor.ok) << badFor.output;
}

// The operator not built must fail a test with how to build it, not skip it.
TEST(PrometheusOperatorBuild, MissingBuildSaysHowToGetIt) {
  const std::string empty = std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("empty-cache");
  std::filesystem::create_directories(empty);
  const CommandResult r = runCommand({clusterScripts() + "/build-prometheus-operator", "--cached"},
                                     {{"ENVOP_CACHE", empty}});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_THAT(r.err, HasSubstr("run test/cluster/build-prometheus-operator"));
  // And the cached build is there for the other tests (make binaries builds it).
  const CommandResult cached =
      runCommand({clusterScripts() + "/build-prometheus-operator", "--cached"});
  ASSERT_EQ(cached.exitCode, 0) << cached.err;
  const std::string bin = cached.out.substr(0, cached.out.find('\n'));
  const CommandResult version = runCommand({bin + "/prometheus-operator", "--version"});
  EXPECT_THAT(version.out + version.err, HasSubstr("0.93.0"));
}

}  // namespace
}  // namespace envop::testing
