// "No secret anywhere" (issue 14): one end-to-end run of the real envop-controller, at debug log
// level, with every kind of secret it handles — a private chart registry's password
// (spec.charts.credentialsSecretRef), the Harbor admin password and the robot secret envop
// creates on the Harbor double, a valuesFrom Secret's values, and the ServiceAccount token of
// the kubeconfig the controller runs with — and helm wrapped by a shim that records every
// child's argv. Then every controller log line, every Event, every Environment status and every
// helm argv is scanned (test/support/secret_scan.h): zero hits. Controls first prove the scan is
// not vacuous: the secrets collected are the real ones (the scan finds each where it belongs),
// helm ran through the shim, and the log holds debug lines.
#include "test/support/secret_scan.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/kube/config.h"
#include "test/support/charts.h"
#include "test/support/controller_process.h"
#include "test/support/harbor.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kStage = "secret-scan";  // the Environment and its namespace

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

class SecretScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    work_ = cluster_->dir() + "/secret-scan";
    fs::create_directories(work_);
    ASSERT_EQ(kubectl({"create", "namespace", "envop-system"}).exitCode, 0);
    ASSERT_EQ(kubectl({"create", "namespace", kStage}).exitCode, 0);
  }
  void TearDown() override {
    if (HasFailure() && controller_) {
      const std::string log = fileText(controller_->log());
      std::cerr << "controller log tail:\n"
                << (log.size() > 4000 ? log.substr(log.size() - 4000) : log) << "\n";
    }
    controller_.reset();
    if (!harborDir_.empty()) (void)runCommand({clusterScripts() + "/harbor-down", harborDir_});
    registry_.reset();
    cluster_.reset();
  }

  CommandResult kubectl(const std::vector<std::string>& args) { return cluster_->kubectl(args); }
  void apply(const Json& manifest) {
    const CommandResult r = cluster_->apply(manifest.dump());
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  KubectlRunner runner() {
    return [this](const std::vector<std::string>& args) {
      const CommandResult r = kubectl(args);
      if (r.exitCode != 0) throw std::runtime_error("kubectl failed: " + r.err);
      return r.out;
    };
  }
  std::string condition(const std::string& type) {
    const Json object = cluster_->get({"environment", kStage});
    if (!object.is_object()) return "";
    for (const Json& c :
         object.value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == type) return c.value("status", "") + "/" + c.value("reason", "");
    }
    return "";
  }

  // A kubeconfig of a ServiceAccount's token (bound to cluster-admin), as the chart's
  // deployment gives the controller one; returns the token.
  std::string writeServiceAccountKubeconfig(const std::string& path) {
    EXPECT_EQ(kubectl({"-n", "envop-system", "create", "serviceaccount", "envop"}).exitCode, 0);
    EXPECT_EQ(kubectl({"create", "clusterrolebinding", "envop-scan", "--clusterrole=cluster-admin",
                       "--serviceaccount=envop-system:envop"})
                  .exitCode,
              0);
    const CommandResult token =
        kubectl({"-n", "envop-system", "create", "token", "envop", "--duration=1h"});
    EXPECT_EQ(token.exitCode, 0) << token.err;
    std::string value = token.out;
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    const auto admin = kube::loadKubeconfig(cluster_->kubeconfig());
    if (!admin.ok()) throw std::runtime_error("admin kubeconfig: " + admin.error().message);
    adminKey_ = admin.value().clientKeyPem;
    const Json config = {
        {"apiVersion", "v1"},
        {"kind", "Config"},
        {"current-context", "envop"},
        {"clusters",
         {{{"name", "scoped"},
           {"cluster",
            {{"server", admin.value().server},
             {"certificate-authority-data", base64Encode(admin.value().caPem)}}}}}},
        {"users", {{{"name", "envop"}, {"user", {{"token", value}}}}}},
        {"contexts",
         {{{"name", "envop"}, {"context", {{"cluster", "scoped"}, {"user", "envop"}}}}}}};
    writeFile(path, config.dump());  // JSON is YAML
    return value;
  }

  // Every password of a dockerconfigjson Secret's auths, by registry host.
  std::map<std::string, std::string> dockerPasswords(const std::string& ns,
                                                     const std::string& name) {
    std::map<std::string, std::string> out;
    const Json secret = cluster_->get({"secret", name, "-n", ns});
    if (!secret.is_object()) return out;
    const auto config = kube::decodeBase64(
        secret.value("data", Json::object()).value(".dockerconfigjson", std::string()));
    if (!config) return out;
    const Json parsed = Json::parse(*config, nullptr, false);
    if (!parsed.is_object()) return out;
    const Json auths = parsed.value("auths", Json::object());
    for (const auto& [host, entry] : auths.items()) {
      if (entry.is_object() && entry.contains("password")) {
        out[host] = entry.value("password", "");
      }
    }
    return out;
  }

  std::unique_ptr<ScopedCluster> cluster_;
  std::unique_ptr<TestRegistry> registry_;
  std::unique_ptr<ControllerProcess> controller_;
  std::string work_;
  std::string harborDir_;
  std::string adminKey_;
};

TEST_F(SecretScanTest, NoSecretInLogsEventsStatusesOrHelmArgv) {
  std::map<std::string, std::string> secrets;
  const std::string helm = cluster_->helm();
  ASSERT_FALSE(helm.empty());

  // A private chart registry and its login, in the stage namespace.
  const RegistryAccount account{"envop-ci", "Chart-" + uniqueName("pw") + "-Q7"};
  secrets["chart registry password"] = account.password;
  registry_ = std::make_unique<TestRegistry>(account);
  const fs::path chart = fs::path(work_) / "chart/web";
  writeFile(chart / "Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
  writeFile(chart / "templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
            "data:\n  greeting: {{ .Values.greeting | quote }}\n"
            "  dsn: {{ .Values.db.password | b64enc | quote }}\n");
  (void)pushChart(*registry_, helm, chart.string(), "0.1.0", "private");
  const std::string auths =
      Json{{"auths",
            {{registry_->host,
              {{"username", account.username},
               {"password", account.password},
               {"auth", base64Encode(account.username + ":" + account.password)}}}}}}
          .dump();
  apply({{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"type", "kubernetes.io/dockerconfigjson"},
         {"metadata", {{"name", "chart-login"}, {"namespace", kStage}}},
         {"data", {{".dockerconfigjson", base64Encode(auths)}}}});

  // valuesFrom Secret data.
  // '&' is escaped by Go's JSON (kubectl, the apiserver) as \u0026: the scan must see through it.
  const std::string dbPassword = "Db-" + uniqueName("pw") + "-x&y";
  secrets["valuesFrom Secret value"] = dbPassword;
  apply({{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"metadata", {{"name", "web-secrets"}, {"namespace", kStage}}},
         {"stringData", {{"values.yaml", "db:\n  password: " + Json(dbPassword).dump() + "\n"}}}});

  // The Harbor double, its admin login and CA in the controller's namespace.
  harborDir_ = cluster_->dir() + "/harbor-scan";
  const CommandResult up = runCommand({clusterScripts() + "/harbor-up", harborDir_});
  ASSERT_EQ(up.exitCode, 0) << "the Harbor double did not start: " << up.out << up.err;
  auto harbor = readEnvFile(harborDir_ + "/harbor.env");
  secrets["Harbor admin password"] = harbor["HARBOR_ADMIN_PASSWORD"];
  ASSERT_EQ(kubectl({"-n", "envop-system", "create", "secret", "generic", "harbor-ca",
                     "--from-file=ca.crt=" + harbor["HARBOR_CA"]})
                .exitCode,
            0);
  apply({{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"metadata", {{"name", "harbor-admin"}, {"namespace", "envop-system"}}},
         {"stringData",
          {{"username", harbor["HARBOR_ADMIN_USER"]},
           {"password", harbor["HARBOR_ADMIN_PASSWORD"]}}}});

  // The controller: a ServiceAccount token's kubeconfig, debug logs, helm through the shim.
  const std::string kubeconfig = work_ + "/envop.kubeconfig";
  secrets["ServiceAccount token"] = writeServiceAccountKubeconfig(kubeconfig);
  ASSERT_FALSE(adminKey_.empty());
  secrets["admin client key"] = adminKey_;
  const std::string argvLog = work_ + "/helm-argv.log";
  writeHelmArgvShim(work_ + "/helm-shim", helm, argvLog);
  controller_ = std::make_unique<ControllerProcess>(
      "envop-scan", kubeconfig,
      std::vector<std::string>{"--namespace", "envop-system", "--log-level", "debug",
                               "--helm-binary", work_ + "/helm-shim", "--helm-state-dir",
                               work_ + "/helm-state"});
  ASSERT_TRUE(within(60s, [&] { return controller_->probe("/readyz") == 200; }));

  const Json harborSpec = {
      {"url", harbor["HARBOR_URL"]},
      {"credentialsSecretRef", {{"name", "harbor-admin"}}},
      {"caSecretRef", {{"name", "harbor-ca"}}},
      {"project", {{"name", "scanned"}, {"public", false}}},
      {"pullSecret", {{"name", "harbor-pull"}, {"serviceAccounts", Json::array({"default"})}}}};
  Json release = {{"name", "web"}, {"chart", "web"}, {"version", "0.1.0"}};
  release["values"] = {{"greeting", "hello"}};
  release["valuesFrom"] = Json::array();
  release["valuesFrom"].push_back(
      {{"kind", "Secret"}, {"name", "web-secrets"}, {"key", "values.yaml"}});
  Json spec = {{"stage", "development"}};
  spec["namespace"] = {{"name", kStage}};
  spec["registry"] = {{"harbor", harborSpec}};
  spec["charts"] = {{"repository", "oci://" + registry_->host + "/private"},
                    {"credentialsSecretRef", {{"name", "chart-login"}}}};
  spec["releases"] = Json::array({release});
  Json environment = {{"apiVersion", "envop.io/v1alpha1"}, {"kind", "Environment"}};
  environment["metadata"] = {{"name", kStage}};
  environment["spec"] = spec;
  apply(environment);
  ASSERT_TRUE(within(180s, [&] { return condition("Ready").starts_with("True/"); }))
      << "Ready: " << condition("Ready") << ", RegistryReady: " << condition("RegistryReady")
      << ", ReleasesReady: " << condition("ReleasesReady");

  // The robot secret(s) envop created, from the pull Secret(s) of the run.
  const auto robots = dockerPasswords(kStage, "harbor-pull");
  ASSERT_FALSE(robots.empty()) << "no pull Secret with a robot login";
  for (const auto& [host, password] : robots) secrets["robot secret for " + host] = password;

  // Controls: each secret is found where it legitimately is (so the values and the scan are
  // right), helm ran through the shim, the log is at debug level.
  const auto inSecret = [&](const std::string& ns, const std::string& name) {
    const CommandResult r = kubectl({"get", "secret", name, "-n", ns, "-o", "json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return std::vector<ScanSource>{{"Secret " + ns + "/" + name, r.out}};
  };
  auto control = [&](const std::string& secret, const std::vector<ScanSource>& where) {
    EXPECT_FALSE(scanForSecrets({{secret, secrets.at(secret)}}, where).empty())
        << "the scan does not find " << secret << " in " << where[0].where;
  };
  control("chart registry password", inSecret(kStage, "chart-login"));
  control("valuesFrom Secret value", inSecret(kStage, "web-secrets"));
  control("Harbor admin password", inSecret("envop-system", "harbor-admin"));
  for (const auto& [host, _] : robots) {
    control("robot secret for " + host, inSecret(kStage, "harbor-pull"));
  }
  control("ServiceAccount token", {{"kubeconfig", fileText(kubeconfig)}});
  const std::string argv = fileText(argvLog);
  EXPECT_NE(argv.find("upgrade"), std::string::npos) << "helm never ran through the shim:\n"
                                                     << argv;
  const std::string log = fileText(controller_->log());
  EXPECT_NE(log.find(" debug "), std::string::npos) << "no debug line in the controller log";

  // The scan.
  std::vector<ScanSource> sources = eventSources(runner());
  EXPECT_FALSE(sources.empty()) << "no Event was recorded";
  for (auto& s : environmentStatusSources(runner())) sources.push_back(std::move(s));
  for (auto& s : fileSources({controller_->log(), argvLog})) sources.push_back(std::move(s));
  const auto hits = scanForSecrets(secrets, sources);
  EXPECT_TRUE(hits.empty()) << hits.size() << " hit(s):\n" << describeHits(hits);
  std::cout << "scanned " << sources.size() << " sources for " << secrets.size()
            << " secrets; controller log " << log.size() << " bytes, helm argv " << argv.size()
            << " bytes\n";
}

}  // namespace
}  // namespace envop::testing
