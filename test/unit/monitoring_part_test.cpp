// The monitoring part against a fake object store: what it applies in operator and HTTPSD
// mode, what it removes when a target or a mode goes, and how it reports a missing CRD.
#include "controller/environment/monitoring_part.h"

#include <gtest/gtest.h>

#include "controller/environment/alert_rules.h"
#include "test/fakes/fake_api_objects.h"
#include "test/fakes/scripted_transport.h"

namespace envop::environment {
namespace {

using kube::Json;
using State = PartOutcome::State;

class MonitoringPartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    transport_ = std::make_shared<fakes::ScriptedTransport>(
        [this](const kube::HttpRequest& r) { return api_.handle(r); });
    applier_ = std::make_unique<Applier>(std::make_shared<kube::Client>(transport_),
                                         std::map<std::string, runtime::StorePtr>{});
    part_ = std::make_unique<MonitoringPart>(
        *applier_, [this] { return apis_; }, [this](const EnvironmentSpec&) { return sdTargets_; });
  }

  static EnvironmentSpec pro() {
    EnvironmentSpec env;
    env.name = "pro";
    env.stage = "production";
    env.namespace_.name = "pro";
    env.externalServices = ExternalServicesSpec{
        .namespace_ = "ext",
        .services = {{.name = "postgresql", .addresses = {"10.20.0.11"}, .metricsPort = 9187}}};
    env.monitoring = MonitoringSpec{};
    env.monitoring->labels = {{"release", "kube-prometheus-stack"}};
    env.monitoring->targets = {{.name = "gateway",
                                .selector = {{"matchLabels", {{"app", "gateway"}}}},
                                .port = "http",
                                .path = "/actuator/prometheus",
                                .interval = "30s"},
                               {.name = "workers",
                                .kind = TargetKind::kPod,
                                .selector = {{"matchLabels", {{"tier", "worker"}}}},
                                .port = "metrics"}};
    env.monitoring->alerts = AlertsSpec{};
    return env;
  }

  std::set<std::string> keys() const {
    std::set<std::string> out;
    for (const auto& [key, object] : api_.objects()) out.insert(key);
    return out;
  }

  fakes::FakeApiObjects api_;
  std::shared_ptr<fakes::ScriptedTransport> transport_;
  std::unique_ptr<Applier> applier_;
  std::unique_ptr<MonitoringPart> part_;
  OperatorApis apis_{.serviceMonitors = true, .podMonitors = true, .prometheusRules = true};
  std::size_t sdTargets_ = 0;
};

TEST_F(MonitoringPartTest, OperatorModeAppliesAMonitorPerTargetTheExternalOneAndARule) {
  const MonitoringReport report = part_->reconcile(pro());
  EXPECT_EQ(report.state, State::kReady) << report.message;
  EXPECT_EQ(keys(), (std::set<std::string>{"servicemonitors/pro/gateway", "podmonitors/pro/workers",
                                           "servicemonitors/ext/envop-pro-external",
                                           "prometheusrules/pro/pro-alerts"}));
  const auto objects = api_.objects();
  const Json& sm = objects.at("servicemonitors/pro/gateway");
  EXPECT_EQ(sm["spec"]["selector"], Json({{"matchLabels", {{"app", "gateway"}}}}));
  EXPECT_EQ(sm["spec"]["endpoints"][0]["port"], "http");
  EXPECT_EQ(sm["spec"]["endpoints"][0]["path"], "/actuator/prometheus");
  EXPECT_EQ(sm["spec"]["endpoints"][0]["interval"], "30s");
  const Json& pm = objects.at("podmonitors/pro/workers");
  EXPECT_EQ(pm["spec"]["podMetricsEndpoints"][0]["port"], "metrics");
  EXPECT_FALSE(pm["spec"]["podMetricsEndpoints"][0].contains("interval"));
  for (const auto& [key, object] : objects) {
    SCOPED_TRACE(key);
    const Json labels = object["metadata"]["labels"];
    EXPECT_EQ(labels.value("release", ""), "kube-prometheus-stack") << "spec labels on every one";
    EXPECT_EQ(labels.value("envop.io/environment", ""), "pro");
    EXPECT_EQ(labels.value("app.kubernetes.io/managed-by", ""), "envop");
  }
  const Json& ext = objects.at("servicemonitors/ext/envop-pro-external");
  EXPECT_EQ(ext["spec"]["selector"]["matchLabels"]["envop.io/environment"], "pro");
  EXPECT_EQ(ext["spec"]["endpoints"][0]["port"], "metrics");
  EXPECT_EQ(ext["spec"]["serviceDiscoveryRole"], "EndpointSlice") << "ext has no Endpoints";
  const Json relabel = ext["spec"]["endpoints"][0]["relabelings"];
  EXPECT_NE(
      std::find(
          relabel.begin(), relabel.end(),
          Json({{"action", "replace"}, {"targetLabel", "stage"}, {"replacement", "production"}})),
      relabel.end())
      << relabel.dump();
  EXPECT_EQ(objects.at("prometheusrules/pro/pro-alerts")["spec"]["groups"],
            alertRuleGroups(pro())["groups"]);
  EXPECT_EQ(report.status,
            Json({{"serviceMonitors", 2}, {"podMonitors", 1}, {"httpSDTargets", 0}}));
  EXPECT_NE(report.message.find("PrometheusRule pro/pro-alerts"), std::string::npos)
      << report.message;
  EXPECT_EQ(report.reason, "ServiceMonitors");
}

TEST_F(MonitoringPartTest, AResyncWritesNothingAndARemovedTargetLosesItsMonitor) {
  part_->reconcile(pro());
  const int writes = api_.writes();
  EXPECT_EQ(part_->reconcile(pro()).state, State::kReady);
  EXPECT_EQ(api_.writes(), writes) << "nothing changed: nothing written";

  EnvironmentSpec fewer = pro();
  fewer.monitoring->targets.pop_back();
  const MonitoringReport report = part_->reconcile(fewer);
  EXPECT_EQ(report.state, State::kReady) << report.message;
  EXPECT_EQ(keys().count("podmonitors/pro/workers"), 0u);
  EXPECT_EQ(keys().count("servicemonitors/pro/gateway"), 1u);
  EXPECT_EQ(report.status["podMonitors"], 0);
}

TEST_F(MonitoringPartTest, HttpSdModeWritesTheRuleFileConfigMapAndRemovesTheMonitors) {
  part_->reconcile(pro());
  apis_ = {};  // the CRDs went away: Auto falls back to HTTP SD
  api_.unserve("servicemonitors");
  api_.unserve("podmonitors");
  api_.unserve("prometheusrules");
  sdTargets_ = 7;
  MonitoringReport report = part_->reconcile(pro());
  EXPECT_EQ(report.state, State::kReady) << report.message;
  const auto objects = api_.objects();
  ASSERT_EQ(objects.count("configmaps/pro/pro-alerts"), 1u);
  EXPECT_EQ(objects.at("configmaps/pro/pro-alerts")["data"][kRuleFileKey],
            ruleFileYaml(alertRuleGroups(pro())));
  EXPECT_EQ(report.status,
            Json({{"serviceMonitors", 0}, {"podMonitors", 0}, {"httpSDTargets", 7}}));
  EXPECT_EQ(report.reason, "HTTPSD");
  EXPECT_NE(report.message.find("ConfigMap pro/pro-alerts"), std::string::npos) << report.message;

  // mode HTTPSD while the CRDs are served: the monitors of operator mode are removed.
  apis_ = {.serviceMonitors = true, .podMonitors = true, .prometheusRules = true};
  api_.serve("servicemonitors");
  api_.serve("podmonitors");
  api_.serve("prometheusrules");
  part_->reconcile(pro());
  ASSERT_EQ(keys().count("servicemonitors/pro/gateway"), 1u);
  EnvironmentSpec sd = pro();
  sd.monitoring->mode = MonitoringMode::kHttpSd;
  report = part_->reconcile(sd);
  EXPECT_EQ(keys(), (std::set<std::string>{"configmaps/pro/pro-alerts"}));
}

TEST_F(MonitoringPartTest, ServiceMonitorModeWithoutTheCrdStallsUntilItIsInstalled) {
  apis_ = {};
  EnvironmentSpec env = pro();
  env.monitoring->mode = MonitoringMode::kServiceMonitor;
  MonitoringReport report = part_->reconcile(env);
  EXPECT_EQ(report.state, State::kStalled);
  EXPECT_EQ(report.reason, "CRDNotInstalled");
  EXPECT_TRUE(keys().empty());
  apis_ = {.serviceMonitors = true, .podMonitors = true, .prometheusRules = true};
  report = part_->reconcile(env);
  EXPECT_EQ(report.state, State::kReady) << report.message;
  EXPECT_EQ(keys().count("servicemonitors/pro/gateway"), 1u);
}

TEST_F(MonitoringPartTest, MonitoringRemovedFromTheSpecOrTheEnvironmentDeletedLeavesNothing) {
  part_->reconcile(pro());
  EnvironmentSpec none = pro();
  none.monitoring.reset();
  EXPECT_EQ(part_->reconcile(none).state, State::kNotConfigured);
  EXPECT_TRUE(keys().empty());

  part_->reconcile(pro());
  EXPECT_EQ(part_->finalize(pro(), false).state, State::kReady);
  EXPECT_TRUE(keys().empty());

  part_->reconcile(pro());
  EXPECT_EQ(part_->finalize(pro(), true).state, State::kReady);
  EXPECT_EQ(keys().size(), 4u) << "retained, only disowned";
}

TEST_F(MonitoringPartTest, WithTheCachesOfWhatEnvopOwnsNothingIsListed) {
  part_->reconcile(pro());
  // The informers' caches, filled with what the API server now has (and one object of another
  // Environment, which is not this one's to remove).
  std::map<std::string, runtime::StorePtr> stores;
  for (const char* kind : {"configmaps", "servicemonitors", "podmonitors", "prometheusrules"}) {
    stores[kind] = std::make_shared<runtime::Store>(std::string(kEnvironmentLabel));
  }
  for (const auto& [key, object] : api_.objects()) {
    stores.at(key.substr(0, key.find('/')))->upsert(object);
  }
  Json other = api_.objects().at("prometheusrules/pro/pro-alerts");
  other["metadata"]["name"] = "test-alerts";
  other["metadata"]["labels"][std::string(kEnvironmentLabel)] = "test";
  stores.at("prometheusrules")->upsert(other);
  Applier cached(std::make_shared<kube::Client>(transport_), stores);
  MonitoringPart part(
      cached, [this] { return apis_; }, [this](const EnvironmentSpec&) { return sdTargets_; });
  const std::size_t before = transport_->requests().size();

  EnvironmentSpec none = pro();
  none.monitoring.reset();
  EXPECT_EQ(part.reconcile(none).state, State::kNotConfigured);
  EXPECT_TRUE(keys().empty());
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size() - before, 4u) << "one DELETE per object, no list";
  for (std::size_t i = before; i < requests.size(); ++i) EXPECT_EQ(requests[i].method, "DELETE");
}

TEST_F(MonitoringPartTest, ModeNoneStillWritesTheAlertsAsARuleFile) {
  EnvironmentSpec env = pro();
  env.monitoring->mode = MonitoringMode::kNone;
  const MonitoringReport report = part_->reconcile(env);
  EXPECT_EQ(report.state, State::kReady);
  EXPECT_EQ(keys(), (std::set<std::string>{"configmaps/pro/pro-alerts"}));
  EXPECT_EQ(report.reason, "NotPublished");
}

}  // namespace
}  // namespace envop::environment
