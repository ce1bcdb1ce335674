// The Environment CRD is the first line of the API contract (docs/api.md): these tests
// hold the real apiserver to it — `kubectl explain` documents the fields, a full
// manifest is accepted with its defaults filled in, and bad input is refused by
// `kubectl apply` with an error naming the field, before anything is stored.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using Json = nlohmann::json;

// Writes a manifest under the build directory, where `kubectl apply -f` reads it.
std::string writeManifest(const std::string& name, const Json& manifest) {
  const std::string file = std::string(ENVOP_BINARY_DIR) + "/crd-admission-" + name + ".json";
  std::ofstream(file) << manifest.dump(2);
  return file;
}

// kubectl explain wraps its text; compare it as one line.
std::string flat(const std::string& text) {
  std::string out;
  for (const char ch : text) {
    const bool space = ch == ' ' || ch == '\n' || ch == '\t';
    if (!space) {
      out += ch;
    } else if (!out.empty() && out.back() != ' ') {
      out += ' ';
    }
  }
  return out;
}

// The apiserver publishes a new CRD's OpenAPI (what explain reads) a moment after the CRD is
// Established, so explain is given up to 30 s to see it, as a user just after install would.
CommandResult explain(const std::string& field) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  CommandResult r = LocalCluster::get().kubectl({"explain", field});
  while (r.exitCode != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    r = LocalCluster::get().kubectl({"explain", field});
  }
  r.out = flat(r.out);
  return r;
}

CommandResult apply(const Json& manifest, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"apply", "--validate=strict", "-f",
                                   writeManifest(manifest["metadata"]["name"], manifest)};
  args.insert(args.end(), extra.begin(), extra.end());
  return LocalCluster::get().kubectl(args);
}

// Every field of api.md's example. gateway depends on config-server, so config-server is
// here too, with only what a release must have: it shows the defaults.
Json fullEnvironment(const std::string& name) {
  return Json::parse(R"json({
  "apiVersion": "envop.io/v1alpha1",
  "kind": "Environment",
  "metadata": {"name": "NAME"},
  "spec": {
    "stage": "production",
    "suspend": false,
    "namespace": {
      "name": "NAME",
      "labels": {"team": "springcloud"},
      "annotations": {},
      "creationPolicy": "CreateOrAdopt",
      "deletionPolicy": "Retain",
      "resourceQuota": {"hard": {"requests.cpu": "32", "limits.memory": "64Gi", "pods": 200}},
      "limitRange": {"default": {"cpu": "500m", "memory": "512Mi"},
                     "defaultRequest": {"cpu": "100m", "memory": "128Mi"}},
      "networkIsolation": "Isolated"
    },
    "registry": {"harbor": {
      "url": "https://harbor.example.com",
      "credentialsSecretRef": {"name": "harbor-admin"},
      "caSecretRef": {"name": "harbor-ca"},
      "project": {"name": "springcloud", "public": false, "storageQuota": "50Gi", "autoScan": true,
                  "preventVulnerable": {"severity": "high"}, "immutableTagPatterns": ["v*"],
                  "retention": {"keepLatestPushed": 20}, "deletionPolicy": "Retain"},
      "pullSecret": {"name": "harbor-pull", "serviceAccounts": ["default"],
                     "rotation": {"every": "720h", "overlap": "24h"}}
    }},
    "charts": {"repository": "oci://harbor.example.com/springcloud", "plainHTTP": false},
    "values": {"global": {"env": "pro", "zipkin": {"baseUrl": "http://zipkin.ext:9411"}}},
    "releases": [
      {"name": "config-server", "chart": "config-server"},
      {"name": "gateway", "chart": "gateway", "version": "1.4.2", "values": {"replicaCount": 3},
       "valuesFrom": [
         {"kind": "ConfigMap", "name": "gateway-values", "key": "values.yaml", "optional": false},
         {"kind": "Secret", "name": "gateway-secrets", "key": "values.yaml"}],
       "dependsOn": ["config-server"], "timeout": "5m", "wait": true,
       "remediation": {"retries": 3, "onFailure": "Rollback"}, "suspend": false}
    ],
    "externalServices": {"namespace": "ext", "services": [
      {"name": "postgresql", "addresses": ["10.20.0.11", "10.20.0.12"],
       "ports": [{"name": "pg", "port": 5432}], "metricsPort": 9187},
      {"name": "redis", "hostname": "redis.example.com", "ports": [{"port": 6379}]},
      {"name": "kafka", "addresses": ["fd00::11"], "ports": [{"port": 9092}]}
    ]},
    "monitoring": {"prometheus": {
      "mode": "Auto",
      "labels": {"release": "kube-prometheus-stack"},
      "targets": [{"name": "gateway", "kind": "Service",
                   "selector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}},
                   "port": "http", "path": "/actuator/prometheus", "interval": "30s"}]
    }}
  }
})json")
      .patch(Json::array({{{"op", "replace"}, {"path", "/metadata/name"}, {"value", name}},
                          {{"op", "replace"}, {"path", "/spec/namespace/name"}, {"value", name}}}));
}

Json minimalEnvironment(const std::string& name) {
  return {{"apiVersion", "envop.io/v1alpha1"},
          {"kind", "Environment"},
          {"metadata", {{"name", name}}},
          {"spec", {{"stage", "test"}}}};
}

TEST(CrdAdmissionTest, ExplainDescribesTheFields) {
  CommandResult r = explain("environment.spec.releases");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("The Helm releases installed in the namespace"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dependsOn"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("remediation"), std::string::npos) << r.out;

  r = explain("environment.spec.namespace.creationPolicy");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("CreateOrAdopt (default)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Adopt"), std::string::npos) << r.out;

  r = explain("environment.spec.namespace.deletionPolicy");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Retain for production and gray, Delete for test and development"),
            std::string::npos)
      << r.out;
}

TEST(CrdAdmissionTest, FullManifestIsAcceptedAndDefaulted) {
  const std::string name = uniqueName("full");
  const CommandResult r = apply(fullEnvironment(name), {"--dry-run=server", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const Json spec = Json::parse(r.out).at("spec");
  EXPECT_EQ(spec.at("namespace").at("creationPolicy"), "CreateOrAdopt");
  EXPECT_EQ(spec.at("values"), fullEnvironment(name)["spec"]["values"]) << "values must be kept";
  EXPECT_EQ(spec.at("releases")[1].at("values").at("replicaCount"), 3);
  EXPECT_FALSE(spec.at("charts").at("plainHTTP"));

  // config-server set only name and chart.
  const Json& configServer = spec.at("releases")[0];
  EXPECT_EQ(configServer.at("wait"), true);
  EXPECT_EQ(configServer.at("timeout"), "5m");
  EXPECT_EQ(configServer.at("suspend"), false);
  EXPECT_EQ(configServer.at("remediation").at("retries"), 3);
  EXPECT_EQ(configServer.at("remediation").at("onFailure"), "Rollback");
  EXPECT_EQ(spec.at("releases")[1].at("valuesFrom")[1].at("optional"), false);
  EXPECT_EQ(spec.at("monitoring").at("prometheus").at("targets")[0].at("kind"), "Service");
  EXPECT_EQ(spec.at("registry").at("harbor").at("project").at("deletionPolicy"), "Retain");

  // Nothing was stored by the dry run.
  EXPECT_NE(LocalCluster::get().kubectl({"get", "environment", name}).exitCode, 0);
}

TEST(CrdAdmissionTest, MinimalManifestGetsStageIndependentDefaults) {
  const std::string name = uniqueName("minimal");
  const CommandResult r = apply(minimalEnvironment(name), {"--dry-run=server", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const Json spec = Json::parse(r.out).at("spec");
  EXPECT_EQ(spec.at("suspend"), false);
  EXPECT_EQ(spec.at("namespace").at("creationPolicy"), "CreateOrAdopt");
  EXPECT_EQ(spec.at("namespace").at("networkIsolation"), "None");
  // deletionPolicy defaults by stage in the controller, so the schema leaves it absent.
  EXPECT_FALSE(spec.at("namespace").contains("deletionPolicy")) << spec.dump();
  EXPECT_FALSE(spec.at("namespace").contains("name")) << spec.dump();
}

struct BadCase {
  std::string what;
  std::function<void(Json&)> edit;  // turns a valid full manifest into a bad one
  std::string field;                // the field path the error must name
  bool update = false;              // applied over a stored valid Environment, not created
};

std::vector<BadCase> badCases() {
  const auto set = [](const std::string& pointer, Json value) {
    return [pointer, value](Json& m) { m[Json::json_pointer(pointer)] = value; };
  };
  return {
      {"stage outside the enum", set("/spec/stage", "prod"), "spec.stage"},
      {"stage missing", [](Json& m) { m["spec"].erase("stage"); }, "spec.stage"},
      {"quantity that is not one", set("/spec/namespace/resourceQuota/hard/pods", "lots"),
       "spec.namespace.resourceQuota.hard"},
      {"limitRange quantity that is not one",
       set("/spec/namespace/limitRange/default/cpu", "1 CPU"), "spec.namespace.limitRange.default"},
      {"duplicate release names", set("/spec/releases/1/name", "config-server"),
       "spec.releases[1]"},
      {"dependsOn an unknown release", set("/spec/releases/1/dependsOn", {"config-server", "nope"}),
       "spec.releases[1].dependsOn"},
      {"release depends on itself", set("/spec/releases/0/dependsOn", {"config-server"}),
       "spec.releases[0].dependsOn"},
      {"unknown field", set("/spec/namespace/nmae", "typo"), "spec.namespace.nmae"},
      {"creationPolicy outside the enum", set("/spec/namespace/creationPolicy", "Always"),
       "spec.namespace.creationPolicy"},
      {"deletionPolicy outside the enum", set("/spec/namespace/deletionPolicy", "Orphan"),
       "spec.namespace.deletionPolicy"},
      {"networkIsolation outside the enum", set("/spec/namespace/networkIsolation", "Strict"),
       "spec.namespace.networkIsolation"},
      {"upper-case namespace name", set("/spec/namespace/name", "Pro"), "spec.namespace.name"},
      {"external service with addresses and hostname",
       set("/spec/externalServices/services/0/hostname", "pg.example.com"),
       "spec.externalServices.services[0]"},
      {"external service with neither addresses nor hostname",
       [](Json& m) { m["spec"]["externalServices"]["services"][0].erase("addresses"); },
       "spec.externalServices.services[0]"},
      {"port 0", set("/spec/externalServices/services/0/ports/0/port", 0),
       "spec.externalServices.services[0].ports[0].port"},
      {"port 70000", set("/spec/externalServices/services/0/ports/0/port", 70000),
       "spec.externalServices.services[0].ports[0].port"},
      {"metricsPort 70000", set("/spec/externalServices/services/0/metricsPort", 70000),
       "spec.externalServices.services[0].metricsPort"},
      {"address that is not an IP",
       set("/spec/externalServices/services/0/addresses/1", "10.20.0.300"),
       "spec.externalServices.services[0].addresses[1]"},
      {"release timeout that is not a duration", set("/spec/releases/1/timeout", "5 minutes"),
       "spec.releases[1].timeout"},
      {"onFailure outside the enum", set("/spec/releases/1/remediation/onFailure", "Retry"),
       "spec.releases[1].remediation.onFailure"},
      {"monitoring mode outside the enum", set("/spec/monitoring/prometheus/mode", "Prometheus"),
       "spec.monitoring.prometheus.mode"},
      {"target kind outside the enum", set("/spec/monitoring/prometheus/targets/0/kind", "Ingress"),
       "spec.monitoring.prometheus.targets[0].kind"},
      {"valuesFrom kind outside the enum", set("/spec/releases/1/valuesFrom/0/kind", "File"),
       "spec.releases[1].valuesFrom[0].kind"},
      {"severity outside the enum",
       set("/spec/registry/harbor/project/preventVulnerable/severity", "High"),
       "spec.registry.harbor.project.preventVulnerable.severity"},
      {"rotation overlap not shorter than every",
       set("/spec/registry/harbor/pullSecret/rotation/overlap", "720h"),
       "spec.registry.harbor.pullSecret.rotation.overlap"},
      {"bare chart name without spec.charts.repository", [](Json& m) { m["spec"].erase("charts"); },
       "spec.charts"},
      {"metadata.name longer than 63",
       [](Json& m) {
         m["metadata"]["name"] = m["metadata"]["name"].get<std::string>() + std::string(64, 'a');
       },
       "metadata.name"},
      {"namespace renamed", set("/spec/namespace/name", "renamed"), "spec.namespace.name", true},
      {"namespace name removed", [](Json& m) { m["spec"]["namespace"].erase("name"); },
       "spec.namespace.name", true},
      {"namespace block removed", [](Json& m) { m["spec"].erase("namespace"); },
       "spec.namespace.name", true},
  };
}

TEST(CrdAdmissionTest, BadManifestsAreRefusedNamingTheField) {
  const LocalCluster& c = LocalCluster::get();
  const std::vector<BadCase> cases = badCases();
  ASSERT_GE(cases.size(), 18u);
  std::vector<std::string> refusedCreates;
  std::vector<std::string> updated;
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(bad.what);
    const std::string name = uniqueName("bad");
    Json manifest = fullEnvironment(name);
    if (bad.update) {
      const CommandResult created = apply(manifest);
      ASSERT_EQ(created.exitCode, 0) << created.err;
      updated.push_back(name);
    }
    bad.edit(manifest);
    const CommandResult r = apply(manifest);
    EXPECT_NE(r.exitCode, 0) << "accepted: " << manifest.dump();
    EXPECT_NE(r.err.find(bad.field), std::string::npos)
        << "the error does not name " << bad.field << ": " << r.err;
    if (!bad.update) refusedCreates.push_back(manifest["metadata"]["name"]);
  }

  // A refused create stored nothing; a refused update left the namespace name as it was.
  const CommandResult list =
      c.kubectl({"get", "environments", "-o", "jsonpath={.items[*].metadata.name}"});
  ASSERT_EQ(list.exitCode, 0) << list.err;
  for (const std::string& name : refusedCreates) {
    EXPECT_EQ((" " + list.out + " ").find(" " + name + " "), std::string::npos) << name;
  }
  for (const std::string& name : updated) {
    const CommandResult r =
        c.kubectl({"get", "environment", name, "-o", "jsonpath={.spec.namespace.name}"});
    EXPECT_EQ(r.out, name) << r.err;
    EXPECT_EQ(c.kubectl({"delete", "environment", name}).exitCode, 0);
  }
}

TEST(CrdAdmissionTest, NamespaceNameMayBeSetLaterOnlyToTheNameInUse) {
  const LocalCluster& c = LocalCluster::get();
  const std::string name = uniqueName("late");
  Json manifest = minimalEnvironment(name);
  ASSERT_EQ(apply(manifest).exitCode, 0);

  manifest["spec"]["namespace"]["name"] = "elsewhere";
  CommandResult r = apply(manifest);
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("spec.namespace.name"), std::string::npos) << r.err;

  manifest["spec"]["namespace"]["name"] = name;
  r = apply(manifest);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(c.kubectl({"delete", "environment", name}).exitCode, 0);
}

TEST(CrdAdmissionTest, PrinterColumnsAreTheOnesUsersRead) {
  const LocalCluster& c = LocalCluster::get();
  const std::string name = uniqueName("columns");
  ASSERT_EQ(apply(fullEnvironment(name)).exitCode, 0);
  const CommandResult r = c.kubectl({"get", "env", name});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::string header = r.out.substr(0, r.out.find('\n'));
  std::size_t at = 0;
  for (const std::string column : {"NAME", "STAGE", "NAMESPACE", "READY", "RELEASES", "AGE"}) {
    const std::size_t found = header.find(column, at);
    EXPECT_NE(found, std::string::npos) << column << " missing or out of order: " << header;
    if (found != std::string::npos) at = found + column.size();
  }
  EXPECT_NE(r.out.find("production"), std::string::npos) << r.out;

  // The short name and the category reach the same objects.
  EXPECT_NE(c.kubectl({"get", "envop"}).out.find(name), std::string::npos);
  EXPECT_EQ(c.kubectl({"delete", "env", name}).exitCode, 0);
}

}  // namespace
}  // namespace envop::testing
