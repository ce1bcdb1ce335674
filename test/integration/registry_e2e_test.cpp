// The registry feature as a user meets it (issue 10, "Done when"), checked independently of the
// registry part's own tests: the real envop-controller binary, a control plane of the test's
// own, the Harbor double over TLS (test/fakes/harbor) and real helm. Harbor is looked at the way
// an admin would: through its REST API (envop's HarborClient, as admin) and the double's control
// API as the witness of what Harbor accepts; the cluster through kubectl.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "controller/harbor/harbor_client.h"
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

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class RegistryE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    harborDir_ = cluster_->dir() + "/harbor-e2e";
    testHarbor_ = std::make_unique<TestHarbor>(harborDir_);
    harbor_ = testHarbor_->env;
    admin_ = harbor::makeHarborClient({.url = harbor_["HARBOR_URL"],
                                       .username = harbor_["HARBOR_ADMIN_USER"],
                                       .password = harbor_["HARBOR_ADMIN_PASSWORD"],
                                       .caPem = fileText(harbor_["HARBOR_CA"])});
    testHarbor_->installCredentials(*cluster_);
  }
  void TearDown() override {
    if (HasFailure() && controller_) std::cerr << "controller log tail:\n" << logTail() << "\n";
    controller_.reset();
    testHarbor_.reset();
    cluster_.reset();
  }

  void writeAdminSecret(const std::string& password) {
    const Json secret = {
        {"apiVersion", "v1"},
        {"kind", "Secret"},
        {"metadata", {{"name", "harbor-admin"}, {"namespace", "envop-system"}}},
        {"stringData", {{"username", harbor_["HARBOR_ADMIN_USER"]}, {"password", password}}}};
    const CommandResult r = cluster_->apply(secret.dump());
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  void startController(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"--namespace",      "envop-system",
                                  "--helm-binary",    cluster_->value("HELM"),
                                  "--helm-state-dir", cluster_->dir() + "/helm-state"};
    args.insert(args.end(), extra.begin(), extra.end());
    controller_ = std::make_unique<ControllerProcess>("envop", cluster_->kubeconfig(), args);
    ASSERT_TRUE(within(60s, [&] { return controller_->probe("/readyz") == 200; })) << logTail();
  }
  std::string logTail() const {
    const std::string text = fileText(controller_->log());
    return text.size() > 5000 ? text.substr(text.size() - 5000) : text;
  }

  // An Environment of `stage` with the api.md registry block on the double, project springcloud.
  Json environment(const std::string& name, const std::string& stage,
                   const std::string& projectDeletion = "Retain") {
    return {{"apiVersion", "envop.io/v1alpha1"},
            {"kind", "Environment"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"stage", stage},
              {"namespace", {{"labels", {{"team", "springcloud"}}}}},
              {"registry",
               {{"harbor",
                 {{"url", harbor_["HARBOR_URL"]},
                  {"credentialsSecretRef", {{"name", "harbor-admin"}}},
                  {"caSecretRef", {{"name", "harbor-ca"}}},
                  {"project",
                   {{"name", "springcloud"},
                    {"public", false},
                    {"storageQuota", "50Gi"},
                    {"autoScan", true},
                    {"preventVulnerable", {{"severity", "high"}}},
                    {"immutableTagPatterns", Json::array({"v*"})},
                    {"retention", {{"keepLatestPushed", 20}}},
                    {"deletionPolicy", projectDeletion}}},
                  {"pullSecret",
                   {{"name", "harbor-pull"}, {"serviceAccounts", Json::array({"default"})}}}}}}}}}};
  }
  void apply(const Json& manifest) {
    const CommandResult r = cluster_->apply(manifest.dump());
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  CommandResult kubectl(const std::vector<std::string>& args) { return cluster_->kubectl(args); }
  Json get(const std::vector<std::string>& what) { return cluster_->get(what); }
  // "True/Reason" of a condition, "" when absent.
  std::string condition(const std::string& env, const std::string& type) {
    const Json object = get({"environment", env});
    if (!object.is_object()) return "";
    for (const Json& c :
         object.value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == type) return c.value("status", "") + "/" + c.value("reason", "");
    }
    return "";
  }
  std::string conditionMessage(const std::string& env, const std::string& type) {
    const Json object = get({"environment", env});
    if (!object.is_object()) return "";
    for (const Json& c :
         object.value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == type) return c.value("message", "");
    }
    return "";
  }
  bool registryReady(const std::string& env) {
    return condition(env, "RegistryReady").starts_with("True/");
  }

  Json control(const std::string& method, const std::string& path, const Json& body = nullptr) {
    std::vector<std::string> argv = {"curl", "-sS", "-X", method, harbor_["HARBOR_CONTROL"] + path};
    if (!body.is_null()) {
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "-d", body.dump()});
    }
    const CommandResult r = runCommand(argv);
    return r.exitCode == 0 ? Json::parse(r.out, nullptr, false) : Json();
  }
  bool harborAccepts(const std::string& username, const std::string& secret) {
    const Json a = control("POST", "/credentials", {{"username", username}, {"secret", secret}});
    return a.is_object() && a.value("accepted", false);
  }
  std::vector<std::string> robotNames() {
    std::vector<std::string> names;
    const Json state = control("GET", "/state");
    for (const Json& r : state.value("robots", Json::array())) names.push_back(r.value("name", ""));
    return names;
  }
  bool projectInHarbor(const std::string& name) {
    auto exists = admin_->projectExists(name);
    return exists && exists.value();
  }

  // The login the pull Secret holds for the Harbor host, decoded as the kubelet decodes it.
  struct Login {
    std::string username, password, auth;
  };
  std::optional<Login> pullLogin(const std::string& ns) {
    const Json secret = get({"secret", "harbor-pull", "-n", ns});
    if (!secret.is_object() || secret.value("type", "") != "kubernetes.io/dockerconfigjson") {
      return std::nullopt;
    }
    const auto config = kube::decodeBase64(
        secret.value("data", Json::object()).value(".dockerconfigjson", std::string()));
    if (!config) return std::nullopt;
    const Json parsed = Json::parse(*config, nullptr, false);
    if (!parsed.is_object() || !parsed.contains("auths")) return std::nullopt;
    const Json entry = parsed["auths"].value(harbor_["HARBOR_HOST"], Json());
    if (!entry.is_object()) return std::nullopt;
    Login login{entry.value("username", ""), entry.value("password", ""),
                kube::decodeBase64(entry.value("auth", "")).value_or("")};
    return login;
  }
  std::set<std::string> eventReasons(const std::string& env) {
    std::set<std::string> out;
    const Json events = get({"events.events.k8s.io", "-A"});
    for (const Json& e : events.value("items", Json::array())) {
      if (e.value("regarding", Json::object()).value("name", "") == env) {
        out.insert(e.value("reason", ""));
      }
    }
    return out;
  }
  std::string eventsText(const std::string& env) {
    std::string out;
    const Json events = get({"events.events.k8s.io", "-A"});
    for (const Json& e : events.value("items", Json::array())) {
      if (e.value("regarding", Json::object()).value("name", "") == env) {
        out += e.value("reason", "") + ": " + e.value("note", "") + "\n";
      }
    }
    return out;
  }
  // Harbor requests the controller counted, by code, from its /metrics.
  double harborRequests(const std::string& code) {
    return sumSamples(controller_->metrics(), "envop_harbor_requests_total",
                      {"code=\"" + code + "\""});
  }

  std::unique_ptr<ScopedCluster> cluster_;
  std::string harborDir_;
  std::unique_ptr<TestHarbor> testHarbor_;
  std::map<std::string, std::string> harbor_;
  harbor::HarborApiPtr admin_;
  std::unique_ptr<ControllerProcess> controller_;
};

TEST_F(RegistryE2eTest, AStageGetsItsProjectRobotAndPullSecretListedByItsServiceAccounts) {
  // The namespace and a second ServiceAccount exist before the Environment (adopted).
  ASSERT_EQ(kubectl({"create", "namespace", "pro"}).exitCode, 0);
  ASSERT_EQ(kubectl({"-n", "pro", "create", "serviceaccount", "builder"}).exitCode, 0);
  startController();
  Json pro = environment("pro", "production");
  pro["spec"]["registry"]["harbor"]["pullSecret"]["serviceAccounts"] =
      Json::array({"default", "builder"});
  apply(pro);
  ASSERT_TRUE(within(120s, [&] { return registryReady("pro"); }))
      << condition("pro", "RegistryReady") << ": " << conditionMessage("pro", "RegistryReady");
  EXPECT_EQ(kubectl({"wait", "--for=condition=Ready", "environment/pro", "--timeout=60s"}).exitCode,
            0)
      << "RegistryReady did not roll into Ready";

  // Harbor has the project as the spec says it, with metadata as strings.
  auto project = admin_->getProject("springcloud");
  ASSERT_TRUE(project) << project.error().message;
  const Json metadata = project.value()["metadata"];
  EXPECT_EQ(metadata.value("public", ""), "false");
  EXPECT_EQ(metadata.value("auto_scan", ""), "true");
  EXPECT_EQ(metadata.value("prevent_vul", ""), "true");
  EXPECT_EQ(metadata.value("severity", ""), "high");
  auto quota = admin_->projectQuota(project.value()["project_id"].get<std::int64_t>());
  ASSERT_TRUE(quota) << quota.error().message;
  EXPECT_EQ(quota.value()["hard"]["storage"], 50LL * 1024 * 1024 * 1024);
  auto rules = admin_->listImmutableRules("springcloud");
  ASSERT_TRUE(rules) << rules.error().message;
  ASSERT_EQ(rules.value().size(), 1u) << Json(rules.value()).dump();
  EXPECT_EQ(rules.value()[0]["tag_selectors"][0]["pattern"], "v*");
  EXPECT_FALSE(metadata.value("retention_id", "").empty()) << "no retention policy bound";

  // The pull Secret decodes to the robot's name and secret for the Harbor host.
  const auto login = pullLogin("pro");
  ASSERT_TRUE(login.has_value()) << get({"secret", "harbor-pull", "-n", "pro"}).dump();
  EXPECT_EQ(login->username, "robot$springcloud+pro");
  EXPECT_EQ(login->auth, login->username + ":" + login->password);
  EXPECT_TRUE(harborAccepts(login->username, login->password))
      << "Harbor refuses the credential in the pull Secret";

  // Both ServiceAccounts pull with it.
  for (const char* sa : {"default", "builder"}) {
    ASSERT_TRUE(within(30s,
                       [&] {
                         const Json object = get({"serviceaccount", sa, "-n", "pro"});
                         for (const Json& ref : object.value("imagePullSecrets", Json::array())) {
                           if (ref.value("name", "") == "harbor-pull") return true;
                         }
                         return false;
                       }))
        << "ServiceAccount " << sa
        << " does not list harbor-pull: " << get({"serviceaccount", sa, "-n", "pro"}).dump();
  }

  // status.registry says which robot; the secret is nowhere in the status or the events.
  const Json status = get({"environment", "pro"})["status"];
  EXPECT_EQ(status["registry"].value("robot", ""), login->username) << status.dump();
  EXPECT_EQ(status["registry"].value("projectID", 0), project.value()["project_id"]);
  EXPECT_EQ(status.dump().find(login->password), std::string::npos);
  EXPECT_EQ(eventsText("pro").find(login->password), std::string::npos);
  EXPECT_EQ(fileText(controller_->log()).find(login->password), std::string::npos)
      << "the robot's secret is in the controller's log";
  EXPECT_EQ(fileText(controller_->log()).find(harbor_["HARBOR_ADMIN_PASSWORD"]), std::string::npos)
      << "the admin password is in the controller's log";

  // A resync of the unchanged Environment makes no Harbor write.
  ASSERT_TRUE(controller_->waitUntilIdle(3s));
  const int seq = control("GET", "/requests").value("last", 0);
  ASSERT_EQ(kubectl({"annotate", "environment", "pro", "e2e/poke=1"}).exitCode, 0);
  ASSERT_TRUE(controller_->waitUntilIdle(3s));
  for (const Json& r :
       control("GET", "/requests?since=" + std::to_string(seq)).value("requests", Json::array())) {
    const std::string method = r.value("method", "");
    EXPECT_TRUE(method == "GET" || method == "HEAD") << "a resync wrote to Harbor: " << r.dump();
  }
}

// A stage that stops using Harbor keeps no live credential: the robot is revoked in Harbor, the
// pull Secret and the ServiceAccount's entry go, another manager's entry stays.
TEST_F(RegistryE2eTest, RemovingTheRegistryFromTheSpecRevokesTheRobotAndRemovesThePullSecret) {
  ASSERT_EQ(kubectl({"create", "namespace", "pro"}).exitCode, 0);
  startController();
  Json pro = environment("pro", "production");
  apply(pro);
  ASSERT_TRUE(within(120s, [&] { return registryReady("pro"); }))
      << condition("pro", "RegistryReady") << ": " << conditionMessage("pro", "RegistryReady");
  const auto login = pullLogin("pro");
  ASSERT_TRUE(login.has_value());
  ASSERT_TRUE(harborAccepts(login->username, login->password));
  EXPECT_EQ(get({"environment", "pro"})["status"]["registry"].value("pullSecret", ""),
            "harbor-pull");
  // Another manager lists its own pull secret on the same ServiceAccount.
  ASSERT_TRUE(within(30s, [&] {
    const Json sa = get({"serviceaccount", "default", "-n", "pro"});
    Json refs = sa.value("imagePullSecrets", Json::array());
    if (refs.empty()) return false;
    refs.push_back({{"name", "someone-elses"}});
    return kubectl({"-n", "pro", "patch", "serviceaccount", "default", "--type=merge", "-p",
                    Json{{"imagePullSecrets", refs}}.dump()})
               .exitCode == 0;
  }));

  pro["spec"].erase("registry");
  apply(pro);
  EXPECT_TRUE(within(60s, [&] { return !harborAccepts(login->username, login->password); }))
      << "the robot's credential still works: " << Json(robotNames()).dump();
  EXPECT_TRUE(within(30s, [&] { return get({"secret", "harbor-pull", "-n", "pro"}).is_null(); }));
  EXPECT_TRUE(within(30s, [&] {
    return get({"serviceaccount", "default", "-n", "pro"})["imagePullSecrets"] ==
           Json::parse(R"([{"name":"someone-elses"}])");
  })) << get({"serviceaccount", "default", "-n", "pro"}).dump();
  EXPECT_TRUE(within(30s, [&] {
    const Json status = get({"environment", "pro"})["status"];
    return !status.contains("registry") && condition("pro", "RegistryReady").empty();
  })) << get({"environment", "pro"})["status"].dump();
  EXPECT_EQ(kubectl({"wait", "--for=condition=Ready", "environment/pro", "--timeout=60s"}).exitCode,
            0);
  EXPECT_TRUE(projectInHarbor("springcloud")) << "the project and its images stay";
  const std::set<std::string> reasons = eventReasons("pro");
  EXPECT_TRUE(reasons.count("RobotRevoked")) << eventsText("pro");
  EXPECT_TRUE(reasons.count("PullSecretRemoved")) << eventsText("pro");
}

TEST_F(RegistryE2eTest, AChartOnTheHarborInstallsWithTheRobotsCredentials) {
  // The chart is pushed by the admin; envop must pull it as the stage's robot, over TLS.
  ASSERT_TRUE(admin_->createProject(
      {{"project_name", "springcloud"}, {"metadata", {{"public", "false"}}}}));
  const std::string helm = cluster_->value("HELM");
  const auto helmEnv = isolatedHelmEnv(cluster_->dir() + "/admin-helm");
  CommandResult r = runCommand(
      {helm, "package", testChartsDir() + "/gateway", "--destination", cluster_->dir()}, helmEnv);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = runCommand({helm, "registry", "login", harbor_["HARBOR_HOST"], "--username",
                  harbor_["HARBOR_ADMIN_USER"], "--password", harbor_["HARBOR_ADMIN_PASSWORD"],
                  "--ca-file", harbor_["HARBOR_CA"]},
                 helmEnv);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = runCommand(
      {helm, "push", cluster_->dir() + "/gateway-1.0.0.tgz",
       "oci://" + harbor_["HARBOR_HOST"] + "/springcloud", "--ca-file", harbor_["HARBOR_CA"]},
      helmEnv);
  ASSERT_EQ(r.exitCode, 0) << r.err;

  startController();
  Json env = environment("test", "test");
  env["spec"]["charts"] = {{"repository", "oci://" + harbor_["HARBOR_HOST"] + "/springcloud"},
                           {"plainHTTP", false}};
  env["spec"]["releases"] = Json::array(
      {Json{{"name", "gateway"}, {"chart", "gateway"}, {"version", "1.0.0"}, {"wait", false}}});
  apply(env);
  ASSERT_TRUE(within(180s, [&] { return condition("test", "ReleasesReady").starts_with("True/"); }))
      << "ReleasesReady " << condition("test", "ReleasesReady") << ": "
      << conditionMessage("test", "ReleasesReady") << "\nRegistryReady "
      << condition("test", "RegistryReady") << ": " << conditionMessage("test", "RegistryReady");
  EXPECT_FALSE(get({"deployment", "gateway", "-n", "test"}).is_null());
  // Who pulled it: the registry's token requests and blob reads are logged with their principal.
  std::set<std::string> pullers;
  for (const Json& q : control("GET", "/requests").value("requests", Json::array())) {
    const std::string path = q.value("path", "");
    if (path.starts_with("/v2/springcloud/gateway/") && q.value("method", "") == "GET") {
      // Anonymous requests (the registry's challenge) are logged with user null.
      if (q.contains("user") && q["user"].is_string()) pullers.insert(q["user"].get<std::string>());
    }
  }
  EXPECT_TRUE(pullers.count("robot$springcloud+test")) << Json(pullers).dump();
}

TEST_F(RegistryE2eTest, HarborDownMakesOnlyTheRegistryUnavailableAndItRecovers) {
  startController();
  apply(environment("dev", "development"));
  ASSERT_TRUE(within(120s, [&] { return registryReady("dev"); }))
      << condition("dev", "RegistryReady") << ": " << conditionMessage("dev", "RegistryReady");

  CommandResult r = runCommand({clusterScripts() + "/harbor-down", harborDir_, "--keep-state"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // A change to the stage while Harbor is down: the namespace part carries it out regardless.
  Json changed = environment("dev", "development");
  changed["spec"]["namespace"]["labels"]["tier"] = "backend";
  apply(changed);
  ASSERT_TRUE(
      within(120s, [&] { return condition("dev", "RegistryReady") == "False/HarborUnavailable"; }))
      << condition("dev", "RegistryReady") << ": " << conditionMessage("dev", "RegistryReady");
  EXPECT_TRUE(condition("dev", "NamespaceReady").starts_with("True/"))
      << condition("dev", "NamespaceReady");
  EXPECT_TRUE(condition("dev", "Ready").starts_with("False/")) << condition("dev", "Ready");
  ASSERT_TRUE(within(30s, [&] {
    return get({"namespace", "dev"})["metadata"]["labels"].value("tier", "") == "backend";
  })) << "the namespace was not updated while Harbor was down";
  EXPECT_TRUE(pullLogin("dev").has_value()) << "the pull Secret went with Harbor";

  // No storm: the failed attempts over half a minute of outage back off.
  const double before = harborRequests("error");
  std::this_thread::sleep_for(30s);  // the outage lasting, not a wait for an event
  const double during = harborRequests("error") - before;
  EXPECT_GT(during, 0) << "nothing retried while Harbor was down";
  EXPECT_LE(during, 20) << "retries while Harbor is down do not back off";

  r = runCommand({clusterScripts() + "/harbor-up", harborDir_});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(within(120s, [&] { return registryReady("dev"); }))
      << "no recovery without a restart: " << condition("dev", "RegistryReady") << ": "
      << conditionMessage("dev", "RegistryReady");
  const auto login = pullLogin("dev");
  ASSERT_TRUE(login.has_value());
  EXPECT_TRUE(harborAccepts(login->username, login->password));
}

TEST_F(RegistryE2eTest, FourStagesShareOneProjectThatGoesWithTheLastOfThem) {
  startController();
  const std::vector<std::pair<std::string, std::string>> stages = {
      {"pro", "production"}, {"pre", "gray"}, {"test", "test"}, {"dev", "development"}};
  // Every part of each goes on deletion: the namespace too (production and gray would keep
  // theirs, and with it their robot, by default).
  for (const auto& [name, stage] : stages) {
    Json env = environment(name, stage, "Delete");
    env["spec"]["namespace"]["deletionPolicy"] = "Delete";
    apply(env);
  }
  for (const auto& [name, stage] : stages) {
    ASSERT_TRUE(within(180s, [&] { return registryReady(name); }))
        << name << ": " << condition(name, "RegistryReady") << ": "
        << conditionMessage(name, "RegistryReady");
  }
  std::set<std::string> robots;
  for (const std::string& n : robotNames()) robots.insert(n);
  EXPECT_EQ(robots, (std::set<std::string>{"robot$springcloud+pro", "robot$springcloud+pre",
                                           "robot$springcloud+test", "robot$springcloud+dev"}));
  for (const auto& [name, stage] : stages) {
    const auto login = pullLogin(name);
    ASSERT_TRUE(login.has_value()) << name;
    EXPECT_EQ(login->username, "robot$springcloud+" + name);
    EXPECT_TRUE(harborAccepts(login->username, login->password)) << name;
  }

  for (const char* name : {"pro", "pre", "test"}) {
    const CommandResult r =
        kubectl({"delete", "environment", name, "--wait=true", "--timeout=120s"});
    ASSERT_EQ(r.exitCode, 0) << name << ": " << r.err;
    EXPECT_TRUE(projectInHarbor("springcloud"))
        << "the project went while Environments still name it (after deleting " << name << ")";
  }
  std::vector<std::string> left = robotNames();
  EXPECT_EQ(left, std::vector<std::string>{"robot$springcloud+dev"}) << Json(left).dump();

  const CommandResult r =
      kubectl({"delete", "environment", "dev", "--wait=true", "--timeout=120s"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_FALSE(projectInHarbor("springcloud")) << "the last Environment left its project behind";
  EXPECT_TRUE(robotNames().empty()) << Json(robotNames()).dump();
}

TEST_F(RegistryE2eTest, AProjectMadePublicInHarborIsMadePrivateAgainWithAnEvent) {
  // Harbor announces nothing: the stage compares its project every 10 s here (5 min by default).
  startController({"--harbor-recheck-interval=10s"});
  apply(environment("pre", "gray"));
  ASSERT_TRUE(within(120s, [&] { return registryReady("pre"); }))
      << condition("pre", "RegistryReady") << ": " << conditionMessage("pre", "RegistryReady");
  ASSERT_TRUE(controller_->waitUntilIdle(3s));
  // A human flips it in Harbor's UI (the UI sends this PUT).
  ASSERT_TRUE(admin_->updateProject("springcloud", {{"metadata", {{"public", "true"}}}}));
  ASSERT_TRUE(within(60s,
                     [&] {
                       auto p = admin_->getProject("springcloud");
                       return p && p.value()["metadata"].value("public", "") == "false";
                     }))
      << "the project stayed public; events:\n"
      << eventsText("pre");
  // The event is written once the repairing reconcile ends, a moment after Harbor was.
  EXPECT_TRUE(within(30s, [&] { return eventsText("pre").find("public") != std::string::npos; }))
      << "no event says the project was made private again:\n"
      << eventsText("pre");
}

TEST_F(RegistryE2eTest, BadAdminCredentialsGiveAClearConditionWithoutAStormAndAFixHeals) {
  writeAdminSecret("not-the-password-1A");
  startController();
  apply(environment("test", "test"));
  ASSERT_TRUE(within(
      120s, [&] { return condition("test", "RegistryReady") == "False/HarborUnauthorized"; }))
      << condition("test", "RegistryReady") << ": " << conditionMessage("test", "RegistryReady");
  EXPECT_NE(conditionMessage("test", "RegistryReady").find("harbor-admin"), std::string::npos)
      << "the condition does not name the credentials Secret: "
      << conditionMessage("test", "RegistryReady");
  EXPECT_EQ(conditionMessage("test", "RegistryReady").find("not-the-password-1A"),
            std::string::npos);
  EXPECT_TRUE(condition("test", "NamespaceReady").starts_with("True/"));

  const int seq = control("GET", "/requests").value("last", 0);
  std::this_thread::sleep_for(30s);  // the credentials staying wrong, not a wait for an event
  const auto since =
      control("GET", "/requests?since=" + std::to_string(seq)).value("requests", Json::array());
  EXPECT_LE(since.size(), 10u) << "bad credentials are retried in a storm: " << since.size()
                               << " requests in 30 s";

  writeAdminSecret(harbor_["HARBOR_ADMIN_PASSWORD"]);
  ASSERT_TRUE(within(60s, [&] { return registryReady("test"); }))
      << "fixing the Secret did not heal: " << condition("test", "RegistryReady") << ": "
      << conditionMessage("test", "RegistryReady");
}

}  // namespace
}  // namespace envop::testing
