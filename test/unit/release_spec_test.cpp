#include "controller/environment/release_spec.h"

#include <gtest/gtest.h>

#include "controller/environment/release_digest.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

Json environmentWith(const Json& spec) { return {{"metadata", {{"name", "pro"}}}, {"spec", spec}}; }

ReleasesSpec mustParse(const Json& spec) {
  auto result = parseReleasesSpec(environmentWith(spec));
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<ReleasesSpec>(result);
}

std::string parseError(const Json& spec) {
  auto result = parseReleasesSpec(environmentWith(spec));
  if (auto* error = std::get_if<std::string>(&result)) return *error;
  ADD_FAILURE() << "parsed without error: " << spec.dump();
  return "";
}

ResolvedChart mustResolve(const ChartsSpec& charts, const std::string& chart,
                          const std::string& version = "") {
  ReleaseSpec release{.name = "gateway", .chart = chart, .version = version};
  auto result = resolveChart(charts, release);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<ResolvedChart>(result);
}

TEST(ReleaseSpec, ParsesTheApiExample) {
  const ReleasesSpec s = mustParse(Json::parse(R"({
    "charts": {"repository": "oci://harbor.example.com/springcloud", "plainHTTP": false},
    "values": {"global": {"env": "pro"}},
    "releases": [{
      "name": "gateway", "chart": "gateway", "version": "1.4.2",
      "values": {"replicaCount": 3},
      "valuesFrom": [
        {"kind": "ConfigMap", "name": "gateway-values", "key": "values.yaml", "optional": false},
        {"kind": "Secret", "name": "gateway-secrets"}],
      "dependsOn": ["config-server"], "timeout": "1h30m", "wait": false,
      "remediation": {"retries": 5, "onFailure": "Uninstall"}, "suspend": true},
      {"name": "config-server", "chart": "config-server"}]})"));
  EXPECT_EQ(s.charts.repository, "oci://harbor.example.com/springcloud");
  EXPECT_EQ(s.charts.plainHttp, std::optional<bool>(false));
  EXPECT_EQ(s.values, Json::parse(R"({"global": {"env": "pro"}})"));
  ASSERT_EQ(s.releases.size(), 2u);
  const ReleaseSpec& g = s.releases[0];
  EXPECT_EQ(g.name, "gateway");
  EXPECT_EQ(g.version, "1.4.2");
  EXPECT_EQ(g.values, Json::parse(R"({"replicaCount": 3})"));
  ASSERT_EQ(g.valuesFrom.size(), 2u);
  EXPECT_EQ(g.valuesFrom[0],
            (ValuesSource{ValuesSource::Kind::kConfigMap, "gateway-values", "values.yaml", false}));
  EXPECT_EQ(g.valuesFrom[1],
            (ValuesSource{ValuesSource::Kind::kSecret, "gateway-secrets", "values.yaml", false}));
  EXPECT_EQ(g.dependsOn, std::vector<std::string>{"config-server"});
  EXPECT_EQ(g.timeout, 5400s);
  EXPECT_FALSE(g.wait);
  EXPECT_EQ(g.remediation, (Remediation{5, Remediation::OnFailure::kUninstall}));
  EXPECT_TRUE(g.suspend);
}

TEST(ReleaseSpec, AppliesDefaults) {
  const ReleasesSpec s =
      mustParse(Json::parse(R"({"releases": [{"name": "a", "chart": "oci://r.example/p/a"}]})"));
  EXPECT_EQ(s.charts.repository, "");
  EXPECT_FALSE(s.charts.plainHttp.has_value());
  EXPECT_EQ(s.values, Json::object());
  const ReleaseSpec& a = s.releases.at(0);
  EXPECT_EQ(a.version, "");
  EXPECT_EQ(a.values, Json::object());
  EXPECT_EQ(a.timeout, 300s);
  EXPECT_TRUE(a.wait);
  EXPECT_EQ(a.remediation.retries, 3);
  EXPECT_EQ(a.remediation.onFailure, Remediation::OnFailure::kRollback);
  EXPECT_FALSE(a.suspend);
  EXPECT_TRUE(mustParse(Json::object()).releases.empty());
}

TEST(ReleaseSpec, ErrorsNameTheField) {
  const std::vector<std::pair<Json, std::string>> cases = {
      {R"({"releases": [{"chart": "a"}]})"_json, "spec.releases[0].name"},
      {R"({"releases": [{"name": "Bad_Name", "chart": "a"}]})"_json, "spec.releases[0].name"},
      {R"({"releases": [{"name": "a"}]})"_json, "spec.releases[0].chart: required"},
      {R"({"releases": [{"name": "a", "chart": "a"}, {"name": "a", "chart": "b"}]})"_json,
       "spec.releases[1].name: duplicate"},
      {R"({"releases": [{"name": "a", "chart": "a", "timeout": "5 minutes"}]})"_json,
       "spec.releases[0].timeout"},
      {R"({"releases": [{"name": "a", "chart": "a", "timeout": "0s"}]})"_json,
       "spec.releases[0].timeout"},
      {R"({"releases": [{"name": "a", "chart": "a", "valuesFrom": [{"kind": "Pod", "name": "x"}]}]})"_json,
       "spec.releases[0].valuesFrom[0].kind"},
      {R"({"releases": [{"name": "a", "chart": "a", "valuesFrom": [{"kind": "Secret"}]}]})"_json,
       "spec.releases[0].valuesFrom[0].name"},
      {R"({"releases": [{"name": "a", "chart": "a", "remediation": {"retries": -1}}]})"_json,
       "spec.releases[0].remediation.retries"},
      {R"({"releases": [{"name": "a", "chart": "a", "remediation": {"onFailure": "Pray"}}]})"_json,
       "spec.releases[0].remediation.onFailure"},
      {R"({"releases": [{"name": "a", "chart": "a", "wait": "yes"}]})"_json,
       "spec.releases[0].wait"},
      {R"({"releases": [{"name": "a", "chart": "a", "values": [1]}]})"_json,
       "spec.releases[0].values"},
      {R"({"releases": [{"name": "a", "chart": "a", "dependsOn": [1]}]})"_json,
       "spec.releases[0].dependsOn[0]"},
      {R"({"releases": {"name": "a"}})"_json, "spec.releases: must be a list"},
      {R"({"values": "x"})"_json, "spec.values"},
      {R"({"charts": {"repository": "ftp://x/y"}})"_json, "spec.charts.repository"},
      {R"({"charts": {"plainHTTP": "true"}})"_json, "spec.charts.plainHTTP"},
  };
  for (const auto& [spec, expected] : cases) {
    const std::string error = parseError(spec);
    EXPECT_NE(error.find(expected), std::string::npos) << spec.dump() << " -> " << error;
  }
}

TEST(ReleaseSpec, NeverThrowsOnGarbage) {
  for (const Json& object : {Json(nullptr), Json(42), Json::parse(R"({"spec": []})"),
                             Json::parse(R"({"spec": {"releases": [null, 3, "x"]}})"),
                             Json::parse(R"({"spec": {"releases": [{"remediation": 1}]}})")}) {
    EXPECT_NO_THROW((void)parseReleasesSpec(object)) << object.dump();
  }
}

TEST(ReleaseSpec, GoDurations) {
  EXPECT_EQ(parseGoDuration("5m"), std::chrono::nanoseconds(5min));
  EXPECT_EQ(parseGoDuration("1h30m"), std::chrono::nanoseconds(90min));
  EXPECT_EQ(parseGoDuration("90s"), std::chrono::nanoseconds(90s));
  EXPECT_EQ(parseGoDuration("1.5h"), std::chrono::nanoseconds(90min));
  EXPECT_EQ(parseGoDuration("300ms"), std::chrono::nanoseconds(300ms));
  EXPECT_EQ(parseGoDuration("2h45m30.5s"), std::chrono::nanoseconds(2h + 45min + 30500ms));
  EXPECT_EQ(parseGoDuration("10us"), std::chrono::nanoseconds(10us));
  EXPECT_EQ(parseGoDuration("10\u00b5s"), std::chrono::nanoseconds(10us));
  EXPECT_EQ(parseGoDuration("7ns"), std::chrono::nanoseconds(7));
  EXPECT_EQ(parseGoDuration("0"), std::chrono::nanoseconds(0));
  EXPECT_EQ(parseGoDuration("-1m"), std::chrono::nanoseconds(-1min));
  for (const char* bad :
       {"", "5", "m", "5d", "1h 30m", ".m", "abc", "5m3", "1e3s", "-", "999999999999h"}) {
    EXPECT_FALSE(parseGoDuration(bad).has_value()) << bad;
  }
}

TEST(ReleaseSpec, SubSecondTimeoutRoundsUp) {
  const ReleasesSpec s = mustParse(
      Json::parse(R"({"releases": [{"name": "a", "chart": "./a", "timeout": "1500ms"}]})"));
  EXPECT_EQ(s.releases.at(0).timeout, 2s);
}

TEST(ReleaseSpec, ResolvesBareNameUnderOciRepository) {
  const ChartsSpec charts{.repository = "oci://harbor.example.com/springcloud"};
  const ResolvedChart c = mustResolve(charts, "gateway", "1.4.2");
  EXPECT_EQ(c.kind, ResolvedChart::Kind::kOci);
  EXPECT_EQ(c.reference, "oci://harbor.example.com/springcloud/gateway");
  EXPECT_EQ(c.repoUrl, "oci://harbor.example.com/springcloud");
  EXPECT_EQ(c.chartName, "gateway");
  EXPECT_EQ(c.version, "1.4.2");
  EXPECT_EQ(c.host, "harbor.example.com");
  EXPECT_FALSE(c.plainHttp);
}

TEST(ReleaseSpec, ResolvesBareNameUnderHttpsRepository) {
  const ChartsSpec charts{.repository = "https://charts.example.com/stable/"};
  const ResolvedChart c = mustResolve(charts, "redis", "17.x");
  EXPECT_EQ(c.kind, ResolvedChart::Kind::kHttpsRepo);
  EXPECT_EQ(c.repoUrl, "https://charts.example.com/stable");
  EXPECT_EQ(c.chartName, "redis");
  EXPECT_EQ(c.reference, "https://charts.example.com/stable/redis");
  EXPECT_EQ(c.version, "17.x");
  EXPECT_EQ(c.host, "charts.example.com");
}

TEST(ReleaseSpec, BareNameWithoutRepositoryIsAnError) {
  auto result = resolveChart(ChartsSpec{}, ReleaseSpec{.name = "gateway", .chart = "gateway"});
  ASSERT_TRUE(std::holds_alternative<std::string>(result));
  EXPECT_NE(std::get<std::string>(result).find("spec.charts.repository"), std::string::npos);
  EXPECT_NE(std::get<std::string>(result).find("gateway"), std::string::npos);
}

TEST(ReleaseSpec, ResolvesFullOciReference) {
  const ChartsSpec charts{.repository = "oci://elsewhere.example/x"};
  const ResolvedChart c = mustResolve(charts, "oci://registry.example.com:5443/team/api", "2.0.0");
  EXPECT_EQ(c.kind, ResolvedChart::Kind::kOci);
  EXPECT_EQ(c.reference, "oci://registry.example.com:5443/team/api");
  EXPECT_EQ(c.repoUrl, "oci://registry.example.com:5443/team");
  EXPECT_EQ(c.chartName, "api");
  EXPECT_EQ(c.host, "registry.example.com:5443");
  // A tag carries the version; a disagreeing version is an error.
  const ResolvedChart tagged = mustResolve(charts, "oci://registry.example.com/team/api:2.1.0");
  EXPECT_EQ(tagged.version, "2.1.0");
  EXPECT_EQ(tagged.reference, "oci://registry.example.com/team/api");
  EXPECT_TRUE(std::holds_alternative<std::string>(resolveChart(
      charts, {.name = "api", .chart = "oci://r.example/t/api:1.0.0", .version = "2.0.0"})));
}

TEST(ReleaseSpec, ResolvesFullHttpsReferences) {
  const ResolvedChart repo = mustResolve({}, "https://charts.bitnami.com/bitnami/redis");
  EXPECT_EQ(repo.kind, ResolvedChart::Kind::kHttpsRepo);
  EXPECT_EQ(repo.repoUrl, "https://charts.bitnami.com/bitnami");
  EXPECT_EQ(repo.chartName, "redis");
  EXPECT_FALSE(repo.plainHttp);
  const ResolvedChart archive = mustResolve({}, "https://example.com/charts/redis-1.2.3.tgz");
  EXPECT_EQ(archive.kind, ResolvedChart::Kind::kHttpsRepo);
  EXPECT_EQ(archive.repoUrl, "");
  EXPECT_EQ(archive.reference, "https://example.com/charts/redis-1.2.3.tgz");
  EXPECT_TRUE(mustResolve({}, "http://10.0.0.5:8080/charts/redis").plainHttp);
  EXPECT_TRUE(std::holds_alternative<std::string>(
      resolveChart({}, {.name = "a", .chart = "ftp://example.com/charts/a"})));
  EXPECT_TRUE(
      std::holds_alternative<std::string>(resolveChart({}, {.name = "a", .chart = "oci://h"})));
}

TEST(ReleaseSpec, ResolvesLocalPaths) {
  for (const char* path : {"./charts/gateway", "/srv/charts/gateway", "charts/gateway", "../gw"}) {
    const ResolvedChart c = mustResolve({}, path);
    EXPECT_EQ(c.kind, ResolvedChart::Kind::kLocalPath) << path;
    EXPECT_EQ(c.reference, path);
    EXPECT_EQ(c.host, "");
    EXPECT_FALSE(c.plainHttp);
  }
  EXPECT_EQ(mustResolve({}, "/srv/charts/gateway").chartName, "gateway");
}

TEST(ReleaseSpec, PlainHttpDefaultsToLoopbackOnly) {
  for (const char* repository : {"oci://localhost:5000/p", "oci://127.0.0.1:5000/p",
                                 "oci://127.9.8.7/p", "oci://[::1]:5000/p"}) {
    EXPECT_TRUE(mustResolve({.repository = repository}, "a").plainHttp) << repository;
  }
  for (const char* repository :
       {"oci://harbor.example.com/p", "oci://10.0.0.1:5000/p", "oci://128.0.0.1/p",
        "oci://127.0.0.1.example.com/p", "oci://localhost.example.com/p", "oci://[::2]/p"}) {
    EXPECT_FALSE(mustResolve({.repository = repository}, "a").plainHttp) << repository;
  }
  // The spec's explicit value wins either way.
  EXPECT_FALSE(
      mustResolve({.repository = "oci://localhost:5000/p", .plainHttp = false}, "a").plainHttp);
  EXPECT_TRUE(
      mustResolve({.repository = "oci://harbor.example.com/p", .plainHttp = true}, "a").plainHttp);
  EXPECT_TRUE(isLoopbackHost("[::1]"));
  EXPECT_FALSE(isLoopbackHost("127.0.0.256"));
  EXPECT_FALSE(isLoopbackHost("127.0.0"));
}

TEST(ReleaseDigest, HasTheSha256Format) {
  const std::string d = releaseDigest(ResolvedChart{.reference = "oci://h/p/a"}, "1.0.0", {});
  ASSERT_EQ(d.size(), 7u + 64u);
  EXPECT_EQ(d.substr(0, 7), "sha256:");
  EXPECT_EQ(d.find_first_not_of("0123456789abcdef", 7), std::string::npos);
}

TEST(ReleaseDigest, StableRegardlessOfKeyOrder) {
  const ResolvedChart chart = mustResolve({.repository = "oci://h/p"}, "gateway", "1.4.2");
  const Json a = Json::parse(R"({"a": 1, "b": {"x": [1, 2], "y": "z"}, "c": null})");
  const Json b = Json::parse(R"({"c": null, "b": {"y": "z", "x": [1, 2]}, "a": 1})");
  EXPECT_EQ(releaseDigest(chart, "1.4.2", a), releaseDigest(chart, "1.4.2", b));
  EXPECT_EQ(releaseDigest(chart, "1.4.2", a), releaseDigest(chart, "1.4.2", a));
  // Only what the version resolved to counts, not the range asked for, nor how it is fetched.
  ResolvedChart other = chart;
  other.version = "1.x";
  other.plainHttp = !chart.plainHttp;
  EXPECT_EQ(releaseDigest(chart, "1.4.2", a), releaseDigest(other, "1.4.2", a));
}

TEST(ReleaseDigest, AnyChangeChangesTheDigest) {
  const ResolvedChart chart = mustResolve({.repository = "oci://h/p"}, "gateway");
  const Json values = Json::parse(R"({"a": 1, "b": {"x": [1, 2]}, "s": "v"})");
  const std::string base = releaseDigest(chart, "1.4.2", values);
  const std::vector<Json> changed = {
      Json::parse(R"({"a": 2, "b": {"x": [1, 2]}, "s": "v"})"),
      Json::parse(R"({"a": 1, "b": {"x": [2, 1]}, "s": "v"})"),
      Json::parse(R"({"a": 1, "b": {"x": [1, 2]}, "s": "w"})"),
      Json::parse(R"({"a": 1.0, "b": {"x": [1, 2]}, "s": "v"})"),
      Json::parse(R"({"a": "1", "b": {"x": [1, 2]}, "s": "v"})"),
      Json::parse(R"({"a": 1, "b": {"x": [1, 2]}, "s": "v", "n": null})"),
      Json::parse(R"({"a": 1, "b": {"x": [1, 2]}})"),
  };
  for (const Json& v : changed) EXPECT_NE(releaseDigest(chart, "1.4.2", v), base) << v.dump();
  EXPECT_NE(releaseDigest(chart, "1.4.3", values), base);
  EXPECT_NE(releaseDigest(chart, "sha256:abc", values), base);
  EXPECT_NE(releaseDigest(mustResolve({.repository = "oci://h/q"}, "gateway"), "1.4.2", values),
            base);
}

TEST(ReleaseSpec, ParsesChartsCredentialsSecretRef) {
  const ReleasesSpec s = mustParse(Json::parse(
      R"({"charts": {"repository": "oci://r.example/p", "credentialsSecretRef": {"name": "charts-login"}}})"));
  EXPECT_EQ(s.charts.credentialsSecret, "charts-login");
  EXPECT_EQ(mustParse(Json::object()).charts.credentialsSecret, "");
  for (const Json& bad : {R"({"charts": {"credentialsSecretRef": {}}})"_json,
                          R"({"charts": {"credentialsSecretRef": {"name": "Bad_Name"}}})"_json,
                          R"({"charts": {"credentialsSecretRef": "charts-login"}})"_json}) {
    EXPECT_NE(parseError(bad).find("spec.charts.credentialsSecretRef"), std::string::npos)
        << bad.dump() << " -> " << parseError(bad);
  }
}

}  // namespace
}  // namespace envop::environment

namespace envop::environment {
namespace {

Json releaseWithDrift(const Json& drift) {
  return {{"releases",
           Json::array({{{"name", "gateway"}, {"chart", "gateway"}, {"driftDetection", drift}}})}};
}

TEST(ReleaseSpecDriftTest, DefaultsToEnabledWithNothingIgnored) {
  auto result = parseReleasesSpec(
      {{"spec", {{"releases", Json::array({{{"name", "gateway"}, {"chart", "gateway"}}})}}}});
  ASSERT_TRUE(std::holds_alternative<ReleasesSpec>(result));
  const DriftDetection& d = std::get<ReleasesSpec>(result).releases[0].driftDetection;
  EXPECT_EQ(d.mode, DriftDetection::Mode::kEnabled);
  EXPECT_TRUE(d.ignore.empty());
}

TEST(ReleaseSpecDriftTest, ModeAndIgnoreRulesAreRead) {
  auto result = parseReleasesSpec(
      {{"spec",
        releaseWithDrift(
            {{"mode", "Warn"},
             {"ignore",
              Json::array({{{"paths", Json::array({"/spec/replicas"})},
                            {"target", {{"kind", "Deployment"}, {"name", "gateway"}}}}})}})}});
  ASSERT_TRUE(std::holds_alternative<ReleasesSpec>(result)) << std::get<std::string>(result);
  const DriftDetection& d = std::get<ReleasesSpec>(result).releases[0].driftDetection;
  EXPECT_EQ(d.mode, DriftDetection::Mode::kWarn);
  ASSERT_EQ(d.ignore.size(), 1u);
  EXPECT_EQ(d.ignore[0].paths, std::vector<std::string>{"/spec/replicas"});
  EXPECT_EQ(d.ignore[0].kind, "Deployment");
  EXPECT_EQ(d.ignore[0].name, "gateway");
}

TEST(ReleaseSpecDriftTest, BadInputNamesTheField) {
  auto error = [](const Json& drift) {
    auto result = parseReleasesSpec({{"spec", releaseWithDrift(drift)}});
    return std::holds_alternative<std::string>(result) ? std::get<std::string>(result) : "";
  };
  EXPECT_EQ(error({{"mode", "Sometimes"}}),
            "spec.releases[0].driftDetection.mode: must be Enabled, Warn or Disabled");
  EXPECT_EQ(error({{"ignore", Json::array({{{"paths", Json::array({"spec/replicas"})}}})}}),
            "spec.releases[0].driftDetection.ignore[0].paths[0]: must be a JSON pointer such as "
            "/spec/replicas");
  EXPECT_EQ(error({{"ignore", Json::array({Json::object()})}}),
            "spec.releases[0].driftDetection.ignore[0].paths: at least one JSON pointer is "
            "required");
}

}  // namespace
}  // namespace envop::environment
