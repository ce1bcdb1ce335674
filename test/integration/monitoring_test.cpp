// Monitoring as users rely on it, against the real control plane and the real Prometheus
// pieces: in plain mode /sd/prometheus serves an Environment's targets from EndpointSlices,
// Pods and its external services, and Debian's Prometheus discovers them with their labels and
// loads the alerts' rule file; in operator mode the prometheus-operator built from source turns
// envop's ServiceMonitors/PodMonitors into scrape jobs and its PrometheusRule into rule files,
// after the CRDs were installed while envop ran (mode Auto switches, mode ServiceMonitor
// recovers from CRDNotInstalled), and forgets what envop removes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"
#include "test/support/prometheus.h"
#include "test/support/prometheus_operator.h"

namespace envop::testing {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

Json environment(const std::string& name, const std::string& stage, Json monitoring,
                 Json externalServices = nullptr) {
  Json env = {{"apiVersion", "envop.io/v1alpha1"},
              {"kind", "Environment"},
              {"metadata", {{"name", name}}},
              {"spec", {{"stage", stage}, {"monitoring", monitoring}}}};
  if (!externalServices.is_null()) env["spec"]["externalServices"] = externalServices;
  return env;
}

Json targets() {
  return Json::parse(R"([
    {"name": "gateway", "kind": "Service", "selector": {"matchLabels": {"app": "gateway"}},
     "port": "http", "path": "/actuator/prometheus", "interval": "15s"},
    {"name": "workers", "kind": "Pod", "selector": {"matchLabels": {"tier": "worker"}},
     "port": "metrics"}])");
}

Json alerts() {
  return Json::parse(R"({"overrides": [{"name": "QuotaNearlyFull", "threshold": "0.8"}],
    "rules": [{"name": "OrdersFailing", "expr": "rate(orders_failed_total[5m]) > 1",
               "for": "10m", "summary": "orders are failing"}]})");
}

class MonitoringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    controller_ = std::make_unique<ControllerProcess>(
        "envop", cluster_->kubeconfig(),
        std::vector<std::string>{"--helm-binary", cluster_->helm(), "--helm-state-dir",
                                 cluster_->dir() + "/helm-state"});
    ASSERT_TRUE(within(60s, [&] { return controller_->probe("/readyz") == 200; }))
        << controller_->log();
  }
  void TearDown() override {
    operator_.reset();
    controller_.reset();
    cluster_.reset();
  }

  CommandResult kubectl(const std::vector<std::string>& args) { return cluster_->kubectl(args); }
  CommandResult apply(const Json& manifest) { return cluster_->apply(manifest.dump()); }
  Json get(const std::vector<std::string>& what) { return cluster_->get(what); }
  Json condition(const std::string& env, const std::string& type) {
    const Json object = get({"environment", env});
    if (!object.is_object() || !object.contains("status")) return nullptr;
    for (const Json& c : object["status"].value("conditions", Json::array())) {
      if (c["type"] == type) return c;
    }
    return nullptr;
  }
  // MonitoringReady has this status and reason.
  bool monitoringIs(const std::string& env, const std::string& status, const std::string& reason) {
    const Json c = condition(env, "MonitoringReady");
    return c.is_object() && c["status"] == status && c["reason"] == reason;
  }
  Json sd(const std::string& query) {
    const auto [status, body] = httpGet(controller_->ports().metrics, "/sd/prometheus" + query);
    if (status != 200) return nullptr;
    return Json::parse(body, nullptr, false);
  }
  // Pods have no kubelet here: the test plays it, giving the Pod an IP and phase Running
  // through the status subresource.
  void runningPod(const std::string& ns, const std::string& name, const std::string& ip) {
    const Json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"tier", "worker"}}}}},
        {"spec",
         {{"containers",
           {{{"name", "app"},
             {"image", "example/worker:1"},
             {"ports", {{{"name", "metrics"}, {"containerPort", 9100}}}}}}}}}};
    // The namespace's default ServiceAccount, which admission wants, comes a moment after it.
    ASSERT_TRUE(within(30s, [&] { return apply(pod).exitCode == 0; }));
    const Json status = {
        {"status", {{"phase", "Running"}, {"podIP", ip}, {"podIPs", {{{"ip", ip}}}}}}};
    const CommandResult r = kubectl({"patch", "pod", name, "-n", ns, "--subresource=status",
                                     "--type=merge", "-p", status.dump()});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  // A Service without a selector and its EndpointSlice, as a Deployment's would look.
  void serviceWithEndpoint(const std::string& ns, const std::string& ip, const std::string& pod) {
    ASSERT_EQ(apply({{"apiVersion", "v1"},
                     {"kind", "Service"},
                     {"metadata",
                      {{"name", "gateway"}, {"namespace", ns}, {"labels", {{"app", "gateway"}}}}},
                     {"spec", {{"ports", {{{"name", "http"}, {"port", 8080}}}}}}})
                  .exitCode,
              0);
    ASSERT_EQ(apply({{"apiVersion", "discovery.k8s.io/v1"},
                     {"kind", "EndpointSlice"},
                     {"metadata",
                      {{"name", "gateway-1"},
                       {"namespace", ns},
                       {"labels", {{"kubernetes.io/service-name", "gateway"}}}}},
                     {"addressType", "IPv4"},
                     {"ports", {{{"name", "http"}, {"port", 8080}}}},
                     {"endpoints",
                      {{{"addresses", {ip}},
                        {"conditions", {{"ready", true}}},
                        {"targetRef", {{"kind", "Pod"}, {"name", pod}, {"namespace", ns}}}}}}})
                  .exitCode,
              0);
  }

  std::unique_ptr<ScopedCluster> cluster_;
  std::unique_ptr<ControllerProcess> controller_;
  std::unique_ptr<PrometheusOperator> operator_;
};

const Json* group(const Json& groups, const std::string& label, const std::string& value) {
  if (!groups.is_array()) return nullptr;
  for (const Json& g : groups) {
    if (g["labels"].value(label, "") == value) return &g;
  }
  return nullptr;
}

TEST_F(MonitoringTest, PlainModeServesTheStagesTargetsAndPrometheusDiscoversThem) {
  const Json ext = Json::parse(R"({"namespace": "ext", "services": [
      {"name": "postgresql", "addresses": ["10.20.0.11"], "ports": [{"name": "pg", "port": 5432}],
       "metricsPort": 9187}]})");
  ASSERT_EQ(
      apply(environment("sd-pro", "production",
                        {{"prometheus", {{"targets", targets()}}}, {"alerts", alerts()}}, ext))
          .exitCode,
      0);
  ASSERT_EQ(apply(environment("sd-dev", "development",
                              {{"prometheus", {{"mode", "HTTPSD"}, {"targets", targets()}}}}))
                .exitCode,
            0);
  // No Prometheus Operator CRDs here: Auto is HTTP SD, and says so.
  ASSERT_TRUE(within(60s, [&] { return monitoringIs("sd-pro", "True", "HTTPSD"); }))
      << condition("sd-pro", "MonitoringReady").dump() << controller_->log();
  ASSERT_TRUE(within(60s, [&] { return monitoringIs("sd-dev", "True", "HTTPSD"); }));
  serviceWithEndpoint("sd-pro", "10.1.0.5", "gateway-abc");
  runningPod("sd-pro", "workers-1", "10.1.0.9");
  serviceWithEndpoint("sd-dev", "10.2.0.5", "gateway-def");

  Json pro;
  ASSERT_TRUE(within(30s, [&] {
    pro = sd("?environment=sd-pro");
    return group(pro, "service", "gateway") && group(pro, "pod", "workers-1");
  })) << pro.dump(2);
  const Json& gateway = *group(pro, "service", "gateway");
  EXPECT_EQ(gateway["targets"], Json({"10.1.0.5:8080"}));
  EXPECT_EQ(gateway["labels"], Json({{"environment", "sd-pro"},
                                     {"stage", "production"},
                                     {"namespace", "sd-pro"},
                                     {"service", "gateway"},
                                     {"pod", "gateway-abc"},
                                     {"__metrics_path__", "/actuator/prometheus"},
                                     {"__scrape_interval__", "15s"}}));
  EXPECT_EQ((*group(pro, "pod", "workers-1"))["targets"], Json({"10.1.0.9:9100"}));
  const Json* postgresql = group(pro, "service", "postgresql");
  ASSERT_NE(postgresql, nullptr) << pro.dump(2);
  EXPECT_EQ((*postgresql)["targets"], Json({"10.20.0.11:9187"}));
  EXPECT_EQ((*postgresql)["labels"]["namespace"], "ext");
  // ?environment= narrows to one; without it, both.
  for (const Json& g : pro) EXPECT_EQ(g["labels"]["environment"], "sd-pro") << g.dump();
  Json dev;
  ASSERT_TRUE(within(30s, [&] {
    dev = sd("?environment=sd-dev");
    return group(dev, "service", "gateway") != nullptr;
  })) << dev.dump(2);
  for (const Json& g : dev) EXPECT_EQ(g["labels"]["environment"], "sd-dev") << g.dump();
  EXPECT_EQ(sd("").size(), pro.size() + dev.size());
  const auto [status, body] = httpGet(controller_->ports().metrics, "/sd/prometheus");
  EXPECT_EQ(status, 200) << body;

  // The count in status follows on the next reconcile.
  ASSERT_EQ(kubectl({"annotate", "environment", "sd-pro", "test/touch=1"}).exitCode, 0);
  EXPECT_TRUE(within(30s, [&] {
    const Json e = get({"environment", "sd-pro"});
    return e["status"]["monitoring"].value("httpSDTargets", -1) == 3;
  })) << get({"environment", "sd-pro"})["status"].dump();

  // The alerts as a rule file in the stage namespace, which promtool and Prometheus accept.
  const Json configMap = get({"configmap", "sd-pro-alerts", "-n", "sd-pro"});
  ASSERT_TRUE(configMap.is_object()) << "no ConfigMap sd-pro-alerts";
  const std::string rules = configMap["data"].value("rules.yaml", "");
  const PromtoolResult checked = promtoolCheckRules(rules);
  EXPECT_TRUE(checked.ok) << checked.output << rules;
  EXPECT_THAT(rules, HasSubstr("OrdersFailing"));
  EXPECT_EQ(get({"configmap", "sd-dev-alerts", "-n", "sd-dev"}), nullptr) << "no alerts block";

  // A real Prometheus reads the stage's targets over HTTP SD with their labels, scrapes envop,
  // and loads the rule file.
  const std::string envop = "127.0.0.1:" + std::to_string(controller_->ports().metrics);
  PlainPrometheus prometheus("- job_name: sd-pro\n  http_sd_configs:\n  - url: http://" + envop +
                                 "/sd/prometheus?environment=sd-pro\n"
                                 "- job_name: envop\n  static_configs:\n  - targets: ['" +
                                 envop + "']\n",
                             {rules});
  std::vector<ScrapeTarget> seen;
  ASSERT_TRUE(within(60s, [&] {
    seen = prometheus.targets();
    return std::count_if(seen.begin(), seen.end(),
                         [](const ScrapeTarget& t) { return t.scrapePool == "sd-pro"; }) == 3;
  })) << seen.size();
  bool sawGateway = false;
  for (const ScrapeTarget& t : seen) {
    if (t.scrapePool != "sd-pro") continue;
    EXPECT_EQ(t.labels.at("environment"), "sd-pro");
    EXPECT_EQ(t.labels.at("stage"), "production");
    if (t.scrapeUrl == "http://10.1.0.5:8080/actuator/prometheus") {
      sawGateway = true;
      EXPECT_EQ(t.labels.at("service"), "gateway");
      EXPECT_EQ(t.labels.at("namespace"), "sd-pro");
    }
  }
  EXPECT_TRUE(sawGateway);
  EXPECT_TRUE(within(30s, [&] {
    const Json up = prometheus.query("up{job=\"envop\"}");
    return up.is_array() && up.size() == 1 && up[0]["value"][1] == "1";
  })) << prometheus.query("up").dump();
  Json groups;
  EXPECT_TRUE(within(30s, [&] {
    groups = prometheus.ruleGroups();
    return groups.is_array() && !groups.empty() && groups[0]["name"] == "envop-sd-pro";
  })) << groups.dump();
}

// Whether the operator's generated configuration has the job now (false while it has written
// none yet).
bool hasJob(const PrometheusOperator& op, const std::string& job) {
  try {
    const std::vector<std::string> jobs = op.scrapeJobNames(0s);
    return std::find(jobs.begin(), jobs.end(), job) != jobs.end();
  } catch (const std::exception&) {
    return false;
  }
}

TEST_F(MonitoringTest, OperatorModeOnceTheCrdsAreInstalledWhileEnvopRuns) {
  const Json labels = {{"release", "kube-prometheus-stack"}};
  const Json ext = Json::parse(R"({"namespace": "ext", "services": [
      {"name": "mysql", "addresses": ["10.20.0.21"], "ports": [{"port": 3306}],
       "metricsPort": 9104}]})");
  ASSERT_EQ(apply(environment("op-pro", "test",
                              {{"prometheus", {{"labels", labels}, {"targets", targets()}}},
                               {"alerts", alerts()}},
                              ext))
                .exitCode,
            0);
  ASSERT_EQ(apply(environment(
                      "op-sm", "test",
                      {{"prometheus",
                        {{"mode", "ServiceMonitor"}, {"labels", labels}, {"targets", targets()}}}}))
                .exitCode,
            0);
  ASSERT_TRUE(within(60s, [&] { return monitoringIs("op-pro", "True", "HTTPSD"); }))
      << condition("op-pro", "MonitoringReady").dump();
  ASSERT_TRUE(within(60s, [&] { return monitoringIs("op-sm", "False", "CRDNotInstalled"); }))
      << condition("op-sm", "MonitoringReady").dump();
  ASSERT_TRUE(get({"configmap", "op-pro-alerts", "-n", "op-pro"}).is_object());

  // The CRDs, the operator and a Prometheus selecting the spec's labels, after envop started.
  operator_ = std::make_unique<PrometheusOperator>(
      *cluster_, PrometheusObject{"stages", "monitoring", {{"release", "kube-prometheus-stack"}}});
  ASSERT_TRUE(within(60s, [&] { return monitoringIs("op-pro", "True", "ServiceMonitors"); }))
      << condition("op-pro", "MonitoringReady").dump() << controller_->log();
  ASSERT_TRUE(within(60s, [&] { return monitoringIs("op-sm", "True", "ServiceMonitors"); }))
      << condition("op-sm", "MonitoringReady").dump();
  EXPECT_THAT(condition("op-pro", "MonitoringReady")["message"].get<std::string>(),
              HasSubstr("PrometheusRule op-pro/op-pro-alerts"));
  EXPECT_EQ(get({"environment", "op-pro"})["status"]["monitoring"],
            Json({{"serviceMonitors", 2}, {"podMonitors", 1}, {"httpSDTargets", 0}}));
  EXPECT_TRUE(within(30s, [&] {
    return get({"configmap", "op-pro-alerts", "-n", "op-pro"}) == nullptr;
  })) << "the rule file ConfigMap of plain mode is gone";
  // The ext Service carries the metrics port the ext ServiceMonitor scrapes.
  const Json mysql = get({"service", "mysql", "-n", "ext"});
  ASSERT_TRUE(mysql.is_object());
  EXPECT_THAT(mysql["spec"]["ports"].dump(), HasSubstr(R"("name":"metrics")"));
  EXPECT_THAT(mysql["spec"]["ports"].dump(), HasSubstr(R"("port":9104)"));

  // The operator, not envop, makes scrape jobs of them.
  for (const char* job : {"serviceMonitor/op-pro/gateway/0", "podMonitor/op-pro/workers/0",
                          "serviceMonitor/ext/envop-op-pro-external/0",
                          "serviceMonitor/op-sm/gateway/0", "podMonitor/op-sm/workers/0"}) {
    EXPECT_TRUE(within(60s, [&] { return hasJob(*operator_, job); }))
        << job << "\n"
        << operator_->generatedConfig() << "\nlog: " << operator_->log();
  }
  const std::string config = operator_->generatedConfig();
  EXPECT_THAT(config, HasSubstr("metrics_path: /actuator/prometheus"));
  // The ext Services have only EndpointSlices: their job discovers those.
  const std::string extJob = "job_name: serviceMonitor/ext/envop-op-pro-external/0";
  const std::size_t extAt = config.find(extJob);
  ASSERT_NE(extAt, std::string::npos) << config;
  const std::string extSection =
      config.substr(extAt, config.find("job_name:", extAt + extJob.size()) - extAt);
  EXPECT_THAT(extSection, HasSubstr("role: endpointslice")) << extSection;
  EXPECT_THAT(config, HasSubstr("target_label: environment"));
  // And a rule file of the PrometheusRule, which promtool accepts.
  std::string file;
  ASSERT_TRUE(within(60s,
                     [&] {
                       for (const auto& [key, text] : operator_->ruleFiles()) {
                         if (key.rfind("op-pro-op-pro-alerts-", 0) == 0) file = text;
                       }
                       return !file.empty();
                     }))
      << "log: " << operator_->log();
  EXPECT_THAT(file, HasSubstr("OrdersFailing"));
  const PromtoolResult checked = promtoolCheckRules(file);
  EXPECT_TRUE(checked.ok) << checked.output;

  // A ServiceMonitor a human deletes is put back, from the watch of what envop owns.
  ASSERT_EQ(kubectl({"delete", "servicemonitor", "gateway", "-n", "op-pro"}).exitCode, 0);
  EXPECT_TRUE(within(30s, [&] {
    return get({"servicemonitor", "gateway", "-n", "op-pro"}).is_object();
  })) << controller_->log();

  // A target removed: its ServiceMonitor goes, and with it the job.
  ASSERT_EQ(kubectl({"patch", "environment", "op-pro", "--type=json", "-p",
                     R"([{"op": "remove", "path": "/spec/monitoring/prometheus/targets/0"}])"})
                .exitCode,
            0);
  EXPECT_TRUE(within(60s, [&] {
    return get({"servicemonitor", "gateway", "-n", "op-pro"}) == nullptr;
  }));
  EXPECT_TRUE(within(60s, [&] { return !hasJob(*operator_, "serviceMonitor/op-pro/gateway/0"); }));
  EXPECT_TRUE(get({"podmonitor", "workers", "-n", "op-pro"}).is_object());

  // Deleted with its Environment, in the shared ext namespace too.
  ASSERT_EQ(kubectl({"delete", "environment", "op-pro", "--timeout=60s"}).exitCode, 0);
  EXPECT_EQ(get({"servicemonitor", "envop-op-pro-external", "-n", "ext"}), nullptr);
  EXPECT_TRUE(within(60s, [&] { return !hasJob(*operator_, "podMonitor/op-pro/workers/0"); }));

  // envop's own ServiceMonitor and PrometheusRule (deploy/monitoring.yaml, the chart's with
  // both on) are accepted by the CRDs' schemas and become a job and a rule file the operator
  // writes and promtool accepts.
  ASSERT_EQ(kubectl({"create", "namespace", "envop-system"}).exitCode, 0);
  const CommandResult own =
      kubectl({"apply", "-f", std::string(ENVOP_SOURCE_DIR) + "/deploy/monitoring.yaml"});
  ASSERT_EQ(own.exitCode, 0) << own.err;
  for (const char* kind : {"servicemonitor", "prometheusrule"}) {
    ASSERT_EQ(kubectl({"label", kind, "envop-controller", "-n", "envop-system",
                       "release=kube-prometheus-stack"})
                  .exitCode,
              0);
  }
  EXPECT_TRUE(within(60s, [&] {
    return hasJob(*operator_, "serviceMonitor/envop-system/envop-controller/0");
  })) << operator_->generatedConfig();
  std::string ownRules;
  ASSERT_TRUE(within(60s, [&] {
    for (const auto& [key, text] : operator_->ruleFiles()) {
      if (key.rfind("envop-system-envop-controller-", 0) == 0) ownRules = text;
    }
    return !ownRules.empty();
  }));
  EXPECT_THAT(ownRules, HasSubstr("EnvopLeaderMissing"));
  const PromtoolResult ownChecked = promtoolCheckRules(ownRules);
  EXPECT_TRUE(ownChecked.ok) << ownChecked.output;

  // The CRDs removed: Auto goes back to HTTP SD, ServiceMonitor says it cannot.
  ASSERT_EQ(apply(environment("op-auto", "development",
                              {{"prometheus", {{"targets", targets()}}}, {"alerts", alerts()}}))
                .exitCode,
            0);
  ASSERT_TRUE(within(60s, [&] { return monitoringIs("op-auto", "True", "ServiceMonitors"); }));
  deletePrometheusOperatorCrds(*cluster_);
  EXPECT_TRUE(within(60s, [&] { return monitoringIs("op-auto", "True", "HTTPSD"); }))
      << condition("op-auto", "MonitoringReady").dump();
  EXPECT_TRUE(within(60s, [&] { return monitoringIs("op-sm", "False", "CRDNotInstalled"); }))
      << condition("op-sm", "MonitoringReady").dump();
  EXPECT_TRUE(get({"configmap", "op-auto-alerts", "-n", "op-auto"}).is_object());
}

// The samples as shipped, their charts out of reach here (releases fail, monitoring does not
// wait for them): the operator makes jobs of their ServiceMonitors, the external middleware's
// included, and rule files of their PrometheusRules, where production pages and development
// only informs, with the thresholds of each stage.
TEST_F(MonitoringTest, TheSamplesServiceMonitorsAndRulesReachTheOperator) {
  operator_ = std::make_unique<PrometheusOperator>(
      *cluster_, PrometheusObject{"stages", "monitoring", {{"release", "kube-prometheus-stack"}}});
  for (const char* name : {"pro", "dev"}) {
    const CommandResult r =
        kubectl({"apply", "-f", std::string(ENVOP_SOURCE_DIR) + "/samples/" + name + ".yaml"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  ASSERT_TRUE(within(60s, [&] { return monitoringIs("pro", "True", "ServiceMonitors"); }))
      << condition("pro", "MonitoringReady").dump() << controller_->log();
  // The sample dev has no labels: only the Prometheus that selects everything would take it;
  // it is published all the same.
  ASSERT_TRUE(within(60s, [&] { return monitoringIs("dev", "True", "ServiceMonitors"); }));
  for (const char* job : {"serviceMonitor/pro/gateway/0", "serviceMonitor/pro/orders/0",
                          "serviceMonitor/ext/envop-pro-external/0"}) {
    EXPECT_TRUE(within(60s, [&] { return hasJob(*operator_, job); }))
        << job << "\n"
        << operator_->generatedConfig();
  }
  EXPECT_FALSE(hasJob(*operator_, "serviceMonitor/dev/gateway/0")) << "not selected";
  EXPECT_TRUE(get({"servicemonitor", "gateway", "-n", "dev"}).is_object());

  // dev's rule has no release label either: label it as an admin would, to compare both.
  ASSERT_EQ(kubectl({"label", "prometheusrule", "dev-alerts", "-n", "dev",
                     "release=kube-prometheus-stack"})
                .exitCode,
            0);
  std::string pro;
  std::string dev;
  ASSERT_TRUE(within(60s,
                     [&] {
                       for (const auto& [key, text] : operator_->ruleFiles()) {
                         if (key.rfind("pro-pro-alerts-", 0) == 0) pro = text;
                         if (key.rfind("dev-dev-alerts-", 0) == 0) dev = text;
                       }
                       return !pro.empty() && !dev.empty();
                     }))
      << "log: " << operator_->log();
  for (const std::string* file : {&pro, &dev}) {
    const PromtoolResult checked = promtoolCheckRules(*file);
    EXPECT_TRUE(checked.ok) << checked.output << *file;
  }
  EXPECT_THAT(pro, HasSubstr("severity: critical"));
  EXPECT_THAT(pro, Not(HasSubstr("severity: info")));
  EXPECT_THAT(pro, HasSubstr("> 0.85")) << "the sample's QuotaNearlyFull override";
  EXPECT_THAT(pro, HasSubstr("OrdersFailing"));
  EXPECT_THAT(dev, HasSubstr("severity: info"));
  EXPECT_THAT(dev, Not(HasSubstr("severity: critical")));
  EXPECT_THAT(dev, HasSubstr("> 0.98"));
}

}  // namespace
}  // namespace envop::testing
