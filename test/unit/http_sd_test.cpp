// The HTTP SD groups of an Environment, from cached Services, EndpointSlices and Pods, and the
// label selectors that pick them.
#include "controller/environment/http_sd.h"

#include <gtest/gtest.h>

#include "controller/environment/label_selector.h"

namespace envop::environment {
namespace {

runtime::ObjectPtr object(Json j) { return std::make_shared<const Json>(std::move(j)); }

runtime::ObjectPtr service(const std::string& ns, const std::string& name, Json labels) {
  return object({{"metadata", {{"namespace", ns}, {"name", name}, {"labels", labels}}}});
}

runtime::ObjectPtr slice(const std::string& ns, const std::string& service, Json ports,
                         Json endpoints, const std::string& suffix = "abc") {
  return object({{"metadata",
                  {{"namespace", ns},
                   {"name", service + "-" + suffix},
                   {"labels", {{"kubernetes.io/service-name", service}}}}},
                 {"ports", ports},
                 {"endpoints", endpoints}});
}

runtime::ObjectPtr pod(const std::string& ns, const std::string& name, Json labels,
                       const std::string& ip, const std::string& phase = "Running") {
  return object({{"metadata", {{"namespace", ns}, {"name", name}, {"labels", labels}}},
                 {"spec",
                  {{"containers",
                    {{{"name", "app"},
                      {"ports",
                       {{{"name", "metrics"}, {"containerPort", 9100}},
                        {{"name", "http"}, {"containerPort", 8080}}}}}}}}},
                 {"status", {{"podIP", ip}, {"phase", phase}}}});
}

EnvironmentSpec pro() {
  EnvironmentSpec env;
  env.name = "pro";
  env.stage = "production";
  env.namespace_.name = "pro";
  env.monitoring = MonitoringSpec{};
  env.monitoring->targets.push_back({.name = "gateway",
                                     .selector = {{"matchLabels", {{"app", "gateway"}}}},
                                     .port = "http",
                                     .path = "/actuator/prometheus",
                                     .interval = "30s"});
  return env;
}

TEST(HttpSdTest, ServiceTargetsComeFromTheReadyEndpointsOfTheSelectedServices) {
  SdObjects objects;
  objects.services = {service("pro", "gateway", {{"app", "gateway"}}),
                      service("pro", "other", {{"app", "other"}}),
                      service("dev", "gateway", {{"app", "gateway"}})};
  const Json ports = {{{"name", "http"}, {"port", 8080}}, {{"name", "grpc"}, {"port", 9090}}};
  objects.endpointSlices = {slice("pro", "gateway", ports,
                                  {{{"addresses", {"10.0.0.1"}},
                                    {"conditions", {{"ready", true}}},
                                    {"targetRef", {{"kind", "Pod"}, {"name", "gateway-1"}}}},
                                   {{"addresses", {"10.0.0.2"}},
                                    {"conditions", {{"ready", false}}},
                                    {"targetRef", {{"kind", "Pod"}, {"name", "gateway-2"}}}},
                                   {{"addresses", {"10.0.0.3"}}}}),
                            slice("pro", "gateway", {{{"name", "http"}, {"port", 8080}}},
                                  {{{"addresses", {"fd00::5"}}}}, "v6"),
                            slice("pro", "other", ports, {{{"addresses", {"10.0.0.9"}}}}),
                            slice("dev", "gateway", ports, {{{"addresses", {"10.1.0.1"}}}})};
  const Json groups = sdGroups(pro(), objects);
  const Json withPod = {{"environment", "pro"},        {"stage", "production"},
                        {"namespace", "pro"},          {"service", "gateway"},
                        {"pod", "gateway-1"},          {"__metrics_path__", "/actuator/prometheus"},
                        {"__scrape_interval__", "30s"}};
  Json withoutPod = withPod;
  withoutPod.erase("pod");
  EXPECT_EQ(groups, Json::parse(R"([
      {"targets": ["10.0.0.1:8080"], "labels": )" +
                                withPod.dump() + R"(},
      {"targets": ["10.0.0.3:8080", "[fd00::5]:8080"], "labels": )" +
                                withoutPod.dump() + "}]"))
      << groups.dump(2);
  EXPECT_EQ(sdTargetCount(groups), 3u);
}

TEST(HttpSdTest, PodTargetsAreRunningPodsWithAnIpAndTheNamedPort) {
  EnvironmentSpec env = pro();
  env.monitoring->targets = {
      {.name = "workers",
       .kind = TargetKind::kPod,
       .selector = {{"matchExpressions",
                     {{{"key", "tier"}, {"operator", "In"}, {"values", {"worker", "batch"}}}}}},
       .port = "metrics"}};
  SdObjects objects;
  objects.pods = {pod("pro", "w-1", {{"tier", "worker"}}, "10.0.1.1"),
                  pod("pro", "w-2", {{"tier", "batch"}}, ""),  // no IP yet
                  pod("pro", "w-3", {{"tier", "worker"}}, "10.0.1.3", "Pending"),
                  pod("pro", "web", {{"tier", "web"}}, "10.0.1.4"),
                  pod("dev", "w-9", {{"tier", "worker"}}, "10.1.1.1")};
  const Json groups = sdGroups(env, objects);
  ASSERT_EQ(groups.size(), 1u) << groups.dump(2);
  EXPECT_EQ(groups[0]["targets"], Json({"10.0.1.1:9100"}));
  EXPECT_EQ(groups[0]["labels"]["pod"], "w-1");
  EXPECT_EQ(groups[0]["labels"]["__metrics_path__"], "/metrics");
  EXPECT_FALSE(groups[0]["labels"].contains("__scrape_interval__")) << "no interval: global";
}

TEST(HttpSdTest, ExternalServicesWithAMetricsPortAreTargetsInTheirNamespace) {
  EnvironmentSpec env = pro();
  env.monitoring->targets.clear();
  env.externalServices = ExternalServicesSpec{
      .namespace_ = "ext",
      .services = {
          {.name = "postgresql", .addresses = {"10.20.0.11", "10.20.0.12"}, .metricsPort = 9187},
          {.name = "redis", .hostname = "redis.example.com"},
          {.name = "kafka", .hostname = "kafka.example.com", .metricsPort = 9308}}};
  const Json groups = sdGroups(env, {});
  ASSERT_EQ(groups.size(), 2u) << groups.dump(2);
  EXPECT_EQ(groups[0]["labels"]["service"], "kafka");
  EXPECT_EQ(groups[0]["targets"], Json({"kafka.example.com:9308"}));
  EXPECT_EQ(groups[1]["targets"], Json({"10.20.0.11:9187", "10.20.0.12:9187"}));
  EXPECT_EQ(groups[1]["labels"]["namespace"], "ext");
  EXPECT_EQ(groups[1]["labels"]["environment"], "pro");
  EXPECT_EQ(groups[1]["labels"]["stage"], "production");
}

TEST(HttpSdTest, TheSlimmedCacheObjectsGiveTheSameGroups) {
  Json p = *pod("pro", "w-1", {{"tier", "worker"}}, "10.0.1.1");
  p["metadata"]["managedFields"] = Json::array({{{"manager", "kubelet"}}});
  p["spec"]["containers"][0]["image"] = "example/app:1";
  p["spec"]["containers"][0]["ports"].push_back({{"containerPort", 1}});
  p["status"]["conditions"] = Json::array({{{"type", "Ready"}}});
  Json s = *slice("pro", "gateway", {{{"name", "http"}, {"port", 8080}}},
                  {{{"addresses", {"10.0.0.1"}},
                    {"nodeName", "n1"},
                    {"targetRef", {{"kind", "Pod"}, {"name", "g"}, {"uid", "u"}}}}});
  EnvironmentSpec env = pro();
  env.monitoring->targets.push_back(
      {.name = "workers", .kind = TargetKind::kPod, .selector = Json::object(), .port = "metrics"});
  SdObjects full{.services = {service("pro", "gateway", {{"app", "gateway"}})},
                 .endpointSlices = {object(s)},
                 .pods = {object(p)}};
  slimPodForServiceDiscovery(p);
  slimEndpointSliceForServiceDiscovery(s);
  EXPECT_FALSE(p["metadata"].contains("managedFields"));
  EXPECT_FALSE(p["spec"]["containers"][0].contains("image"));
  EXPECT_FALSE(p["status"].contains("conditions"));
  EXPECT_FALSE(s["endpoints"][0].contains("nodeName"));
  SdObjects slim{.services = full.services, .endpointSlices = {object(s)}, .pods = {object(p)}};
  EXPECT_EQ(sdGroups(env, slim), sdGroups(env, full));
  EXPECT_EQ(sdTargetCount(sdGroups(env, slim)), 2u);
}

TEST(LabelSelectorTest, FollowsTheApiServersRules) {
  const Json labels = {{"app", "gateway"}, {"tier", "web"}};
  EXPECT_TRUE(selectorMatches(Json::object(), labels)) << "empty selects everything";
  EXPECT_TRUE(selectorMatches({{"matchLabels", {{"app", "gateway"}}}}, labels));
  EXPECT_FALSE(selectorMatches({{"matchLabels", {{"app", "gateway"}, {"x", "y"}}}}, labels));
  auto expr = [](const std::string& key, const std::string& op, Json values = Json::array()) {
    return Json{{"matchExpressions", {{{"key", key}, {"operator", op}, {"values", values}}}}};
  };
  EXPECT_TRUE(selectorMatches(expr("tier", "In", {"web", "api"}), labels));
  EXPECT_FALSE(selectorMatches(expr("tier", "In", {"api"}), labels));
  EXPECT_FALSE(selectorMatches(expr("tier", "NotIn", {"web"}), labels));
  EXPECT_TRUE(selectorMatches(expr("zone", "NotIn", {"a"}), labels));
  EXPECT_TRUE(selectorMatches(expr("app", "Exists"), labels));
  EXPECT_FALSE(selectorMatches(expr("zone", "Exists"), labels));
  EXPECT_TRUE(selectorMatches(expr("zone", "DoesNotExist"), labels));
  EXPECT_FALSE(selectorMatches(expr("app", "Gt", {"1"}), labels));
  EXPECT_FALSE(selectorMatches(nullptr, labels));
}

}  // namespace
}  // namespace envop::environment
