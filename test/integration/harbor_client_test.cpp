// HarborClient, the real thing: cpprestsdk over TLS against the Harbor double
// (test/fakes/harbor, started by test/cluster/harbor-up), which follows Harbor v2.15.2. What
// each test relies on is what the registry part relies on: only the configured CA is trusted,
// a bad password is 401 and nothing else, the project/quota/robot/rule/retention calls do what
// Harbor does, a robot's secret from create and refresh is one Harbor accepts, lists are read
// across pages, and a Harbor that is down is a retryable error that heals by itself. The
// double's control API (plain HTTP on loopback) is the witness for what Harbor accepted.
#include "controller/harbor/harbor_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "controller/kube/transport.h"
#include "test/support/charts.h"
#include "test/support/harbor.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

namespace fs = std::filesystem;
using harbor::HarborEndpoint;
using harbor::Json;
using namespace std::chrono_literals;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Json robotCreate(const std::string& name, const std::string& project) {
  return {{"name", name},
          {"description", "envop test"},
          {"level", "project"},
          {"duration", 30},
          {"permissions",
           Json::array({Json{
               {"kind", "project"},
               {"namespace", project},
               {"access", Json::array({Json{{"resource", "repository"}, {"action", "pull"}},
                                       Json{{"resource", "artifact"}, {"action", "read"}}})}}})}};
}

class HarborClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(ENVOP_BINARY_DIR) + "/harbor-client-it/" + uniqueName("h");
    fs::create_directories(dir_);
    const CommandResult up = runCommand({clusterScripts() + "/harbor-up", dir_});
    ASSERT_EQ(up.exitCode, 0) << "the Harbor double did not start: " << up.out << up.err;
    env_ = readEnvFile(dir_ + "/harbor.env");
    ASSERT_FALSE(env_["HARBOR_URL"].empty()) << "no HARBOR_URL in " << dir_ << "/harbor.env";
    ASSERT_FALSE(env_["HARBOR_CONTROL"].empty());
    ca_ = readFile(env_["HARBOR_CA"]);
    ASSERT_NE(ca_.find("BEGIN CERTIFICATE"), std::string::npos) << env_["HARBOR_CA"];
    admin_ = harbor::makeHarborClient(endpoint());
  }
  void TearDown() override {
    if (!dir_.empty()) (void)runCommand({clusterScripts() + "/harbor-down", dir_});
  }

  HarborEndpoint endpoint() const {
    return {.url = env_.at("HARBOR_URL"),
            .username = env_.at("HARBOR_ADMIN_USER"),
            .password = env_.at("HARBOR_ADMIN_PASSWORD"),
            .caPem = ca_};
  }

  Json control(const std::string& method, const std::string& path, const Json& body = nullptr) {
    std::vector<std::string> argv = {"curl", "-sS", "-X", method, env_["HARBOR_CONTROL"] + path};
    if (!body.is_null()) {
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "-d", body.dump()});
    }
    const CommandResult r = runCommand(argv);
    if (r.exitCode != 0) return nullptr;
    return Json::parse(r.out, nullptr, false);
  }
  bool accepted(const std::string& username, const std::string& secret) {
    const Json answer =
        control("POST", "/credentials", {{"username", username}, {"secret", secret}});
    return answer.is_object() && answer.value("accepted", false);
  }

  std::int64_t createProject(const std::string& name) {
    auto id = admin_->createProject({{"project_name", name}, {"metadata", {{"public", "false"}}}});
    EXPECT_TRUE(id) << id.error().message;
    return id ? id.value() : 0;
  }

  std::string dir_;
  std::map<std::string, std::string> env_;
  std::string ca_;
  harbor::HarborApiPtr admin_;
};

TEST_F(HarborClientIntegrationTest, OnlyTheConfiguredCaIsTrusted) {
  auto exists = admin_->projectExists("library");
  ASSERT_TRUE(exists) << exists.error().message;
  EXPECT_TRUE(exists.value());

  // Another CA, of the same kind as the double's: the server's certificate does not chain to it.
  const std::string other = dir_ + "/other-ca";
  const CommandResult made =
      runCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                  "/CN=not the Harbor CA", "-keyout", other + ".key", "-out", other + ".crt"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  HarborEndpoint wrong = endpoint();
  wrong.caPem = readFile(other + ".crt");
  auto refused = harbor::makeHarborClient(wrong)->projectExists("library");
  ASSERT_FALSE(refused) << "a server whose certificate does not chain to the CA was trusted";
  EXPECT_EQ(refused.error().status, 0);
  EXPECT_FALSE(refused.error().message.empty());

  // No CA: the system trust store, which does not know the double's CA either.
  HarborEndpoint system = endpoint();
  system.caPem.clear();
  auto untrusted = harbor::makeHarborClient(system)->projectExists("library");
  ASSERT_FALSE(untrusted) << "the system trust store trusted the double's private CA";
  EXPECT_EQ(untrusted.error().status, 0);
}

TEST_F(HarborClientIntegrationTest, ABadPasswordIsUnauthorized) {
  createProject("springcloud");
  HarborEndpoint bad = endpoint();
  bad.password = "not-the-password-1A";
  const auto client = harbor::makeHarborClient(bad);
  // Harbor treats bad credentials as anonymous: a private project is 401, a write is 401.
  auto get = client->getProject("springcloud");
  ASSERT_FALSE(get);
  EXPECT_EQ(get.error().status, 401);
  EXPECT_TRUE(get.error().unauthorized());
  EXPECT_FALSE(get.error().retryable());
  auto create = client->createProject({{"project_name", "other"}});
  ASSERT_FALSE(create);
  EXPECT_TRUE(create.error().unauthorized())
      << create.error().status << " " << create.error().message;
  EXPECT_NE(create.error().message.find("UNAUTHORIZED"), std::string::npos)
      << create.error().message;
  EXPECT_EQ(create.error().message.find(bad.password), std::string::npos);
}

TEST_F(HarborClientIntegrationTest, AProjectIsCreatedReadUpdatedAndDeleted) {
  auto exists = admin_->projectExists("springcloud");
  ASSERT_TRUE(exists) << exists.error().message;
  EXPECT_FALSE(exists.value());

  const std::int64_t limit = 50LL * 1024 * 1024 * 1024;
  auto id = admin_->createProject({{"project_name", "springcloud"},
                                   {"metadata",
                                    {{"public", "false"},
                                     {"auto_scan", "true"},
                                     {"prevent_vul", "true"},
                                     {"severity", "high"}}},
                                   {"storage_limit", limit}});
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_GT(id.value(), 1) << "library is project 1";
  exists = admin_->projectExists("springcloud");
  ASSERT_TRUE(exists);
  EXPECT_TRUE(exists.value());

  auto project = admin_->getProject("springcloud");
  ASSERT_TRUE(project) << project.error().message;
  EXPECT_EQ(project.value()["project_id"], id.value());
  EXPECT_EQ(project.value()["metadata"]["public"], "false");
  EXPECT_EQ(project.value()["metadata"]["auto_scan"], "true");
  EXPECT_EQ(project.value()["metadata"]["severity"], "high");

  auto duplicate = admin_->createProject({{"project_name", "springcloud"}});
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().status, 409);
  EXPECT_EQ(duplicate.error().message.rfind("CONFLICT: ", 0), 0u) << duplicate.error().message;
  // The X-Request-Id the client sent is the one Harbor logged for that request.
  const Json log = control("GET", "/requests");
  ASSERT_TRUE(log.is_object());
  bool logged = false;
  for (const Json& r : log["requests"]) {
    logged = logged || (r.value("request_id", "") == duplicate.error().requestId &&
                        r.value("status", Json()) == 409);
  }
  EXPECT_TRUE(logged) << "request id " << duplicate.error().requestId << " not in " << log.dump();

  ASSERT_TRUE(admin_->updateProject("springcloud", {{"metadata", {{"public", "true"}}}}));
  project = admin_->getProject("springcloud");
  ASSERT_TRUE(project);
  EXPECT_EQ(project.value()["metadata"]["public"], "true");

  auto quota = admin_->projectQuota(id.value());
  ASSERT_TRUE(quota) << quota.error().message;
  EXPECT_EQ(quota.value()["hard"]["storage"], limit);
  ASSERT_TRUE(admin_->updateQuota(quota.value()["id"].get<std::int64_t>(), {{"storage", -1}}));
  quota = admin_->projectQuota(id.value());
  ASSERT_TRUE(quota);
  EXPECT_EQ(quota.value()["hard"]["storage"], -1);

  ASSERT_TRUE(admin_->deleteProject("springcloud"));
  exists = admin_->projectExists("springcloud");
  ASSERT_TRUE(exists);
  EXPECT_FALSE(exists.value());
  auto gone = admin_->getProject("springcloud");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().status, 404);
}

TEST_F(HarborClientIntegrationTest, AProjectWithAChartPushedByHelmIsNotDeleted) {
  createProject("springcloud");
  // A real chart, pushed by real helm as the admin, makes a repository in the project.
  const std::string helm = LocalCluster::get().value("HELM").empty()
                               ? LocalCluster::get().binDir() + "/helm"
                               : LocalCluster::get().value("HELM");
  const auto helmEnv = isolatedHelmEnv(dir_ + "/helm");
  CommandResult r =
      runCommand({helm, "package", testChartsDir() + "/gateway", "--destination", dir_}, helmEnv);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  r = runCommand(
      {helm, "registry", "login", env_["HARBOR_HOST"], "--username", env_["HARBOR_ADMIN_USER"],
       "--password", env_["HARBOR_ADMIN_PASSWORD"], "--ca-file", env_["HARBOR_CA"]},
      helmEnv);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  r = runCommand({helm, "push", dir_ + "/gateway-1.0.0.tgz",
                  "oci://" + env_["HARBOR_HOST"] + "/springcloud", "--ca-file", env_["HARBOR_CA"]},
                 helmEnv);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;

  auto refused = admin_->deleteProject("springcloud");
  ASSERT_FALSE(refused) << "a project with a repository was deleted";
  EXPECT_EQ(refused.error().status, 412);
  EXPECT_EQ(refused.error().message.rfind("PRECONDITION: ", 0), 0u) << refused.error().message;
  EXPECT_FALSE(refused.error().retryable());
  auto still = admin_->projectExists("springcloud");
  ASSERT_TRUE(still);
  EXPECT_TRUE(still.value());
}

TEST_F(HarborClientIntegrationTest, RobotsAreCreatedListedRefreshedAndDeleted) {
  const std::int64_t projectId = createProject("springcloud");
  ASSERT_GT(projectId, 0);
  const auto before = std::chrono::system_clock::now();
  auto robot = admin_->createRobot(robotCreate("pro", "springcloud"));
  ASSERT_TRUE(robot) << robot.error().message;
  EXPECT_EQ(robot.value().name, "robot$springcloud+pro");
  EXPECT_GT(robot.value().id, 0);
  const auto in29Days =
      std::chrono::duration_cast<std::chrono::seconds>((before + 29 * 24h).time_since_epoch());
  EXPECT_GT(robot.value().expiresAt, in29Days.count()) << "duration is in days";
  EXPECT_TRUE(accepted(robot.value().name, robot.value().secret));

  auto duplicate = admin_->createRobot(robotCreate("pro", "springcloud"));
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().status, 409);
  EXPECT_EQ(duplicate.error().message.rfind("CONFLICT: ", 0), 0u) << duplicate.error().message;

  // More robots than one page holds (page_size 100), so the list is read by its Link header.
  for (int i = 0; i < 101; ++i) {
    auto extra = admin_->createRobot(robotCreate("r" + std::to_string(i), "springcloud"));
    ASSERT_TRUE(extra) << extra.error().message;
  }
  // A robot of another project is not listed.
  ASSERT_GT(createProject("other"), 0);
  ASSERT_TRUE(admin_->createRobot(robotCreate("pro", "other")));
  auto robots = admin_->listProjectRobots(projectId);
  ASSERT_TRUE(robots) << robots.error().message;
  EXPECT_EQ(robots.value().size(), 102u);
  std::set<std::int64_t> ids;
  std::set<std::string> names;
  for (const Json& r : robots.value()) {
    ids.insert(r.value("id", 0));
    names.insert(r.value("name", ""));
    EXPECT_FALSE(r.contains("secret") && !r["secret"].get<std::string>().empty())
        << "a listed robot carries a secret";
  }
  EXPECT_EQ(ids.size(), 102u);
  EXPECT_TRUE(names.count("robot$springcloud+pro"));
  EXPECT_FALSE(names.count("robot$other+pro"));
  const Json log = control("GET", "/requests");
  int pages = 0;
  for (const Json& r : log["requests"]) {
    if (r.value("method", "") == "GET" && r.value("path", "") == "/api/v2.0/robots") ++pages;
  }
  EXPECT_EQ(pages, 2) << "102 robots are two pages of 100";

  auto refreshed = admin_->refreshRobotSecret(robot.value().id);
  ASSERT_TRUE(refreshed) << refreshed.error().message;
  EXPECT_EQ(refreshed.value().name, robot.value().name);
  EXPECT_EQ(refreshed.value().id, robot.value().id);
  EXPECT_NE(refreshed.value().secret, robot.value().secret);
  EXPECT_TRUE(accepted(refreshed.value().name, refreshed.value().secret))
      << "the refreshed secret is not the one Harbor holds";
  EXPECT_FALSE(accepted(robot.value().name, robot.value().secret)) << "the old secret still works";

  ASSERT_TRUE(admin_->deleteRobot(robot.value().id));
  EXPECT_FALSE(accepted(refreshed.value().name, refreshed.value().secret));
  EXPECT_TRUE(admin_->deleteRobot(robot.value().id)) << "a robot already gone is Done";
  robots = admin_->listProjectRobots(projectId);
  ASSERT_TRUE(robots);
  EXPECT_EQ(robots.value().size(), 101u);
}

TEST_F(HarborClientIntegrationTest, ImmutableRulesAreKeptPerProject) {
  createProject("springcloud");
  const Json rule = {
      {"action", "immutable"},
      {"template", "immutable_template"},
      {"priority", 0},
      {"tag_selectors",
       Json::array({Json{{"kind", "doublestar"}, {"decoration", "matches"}, {"pattern", "v*"}}})},
      {"scope_selectors",
       {{"repository",
         Json::array(
             {Json{{"kind", "doublestar"}, {"decoration", "repoMatches"}, {"pattern", "**"}}})}}}};
  ASSERT_TRUE(admin_->createImmutableRule("springcloud", rule));
  auto again = admin_->createImmutableRule("springcloud", rule);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().status, 409);
  auto rules = admin_->listImmutableRules("springcloud");
  ASSERT_TRUE(rules) << rules.error().message;
  ASSERT_EQ(rules.value().size(), 1u);
  const std::int64_t id = rules.value()[0]["id"];
  EXPECT_EQ(rules.value()[0]["tag_selectors"][0]["pattern"], "v*");

  Json changed = rule;
  changed["id"] = id;
  changed["tag_selectors"][0]["pattern"] = "release-*";
  ASSERT_TRUE(admin_->updateImmutableRule("springcloud", id, changed));
  rules = admin_->listImmutableRules("springcloud");
  ASSERT_TRUE(rules);
  ASSERT_EQ(rules.value().size(), 1u);
  EXPECT_EQ(rules.value()[0]["tag_selectors"][0]["pattern"], "release-*");

  ASSERT_TRUE(admin_->deleteImmutableRule("springcloud", id));
  rules = admin_->listImmutableRules("springcloud");
  ASSERT_TRUE(rules);
  EXPECT_TRUE(rules.value().empty());
}

TEST_F(HarborClientIntegrationTest, ARetentionPolicyIsBoundToItsProject) {
  const std::int64_t projectId = createProject("springcloud");
  ASSERT_GT(projectId, 0);
  const auto policyKeeping = [&](int n) {
    return Json{{"algorithm", "or"},
                {"rules",
                 Json::array({Json{{"action", "retain"},
                                   {"template", "latestPushedK"},
                                   {"params", {{"latestPushedK", n}}},
                                   {"tag_selectors", Json::array({Json{{"kind", "doublestar"},
                                                                       {"decoration", "matches"},
                                                                       {"pattern", "**"}}})},
                                   {"scope_selectors",
                                    {{"repository", Json::array({Json{{"kind", "doublestar"},
                                                                      {"decoration", "repoMatches"},
                                                                      {"pattern", "**"}}})}}}}})},
                {"trigger", {{"kind", "Schedule"}, {"settings", {{"cron", "0 0 0 * * *"}}}}},
                {"scope", {{"level", "project"}, {"ref", projectId}}}};
  };
  auto id = admin_->createRetention(policyKeeping(20));
  ASSERT_TRUE(id) << id.error().message;
  auto project = admin_->getProject("springcloud");
  ASSERT_TRUE(project);
  EXPECT_EQ(project.value()["metadata"]["retention_id"], std::to_string(id.value()))
      << "metadata values are strings";
  auto policy = admin_->getRetention(id.value());
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_EQ(policy.value()["rules"][0]["params"]["latestPushedK"], 20);

  Json changed = policyKeeping(5);
  changed["id"] = id.value();
  ASSERT_TRUE(admin_->updateRetention(id.value(), changed));
  policy = admin_->getRetention(id.value());
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy.value()["rules"][0]["params"]["latestPushedK"], 5);

  auto second = admin_->createRetention(policyKeeping(3));
  ASSERT_FALSE(second) << "a project has one retention policy";
  EXPECT_EQ(second.error().status, 400);
}

TEST_F(HarborClientIntegrationTest, ARequestWithoutAnAnswerInTimeIsAbandoned) {
  ASSERT_TRUE(control("POST", "/faults",
                      {{"method", "HEAD"},
                       {"path", "^/api/v2.0/projects$"},
                       {"action", "latency"},
                       {"latency_ms", 4000},
                       {"count", 1}})
                  .is_object());
  kube::Config config{.server = env_["HARBOR_URL"], .caPem = ca_};
  config.username = env_["HARBOR_ADMIN_USER"];
  config.password = env_["HARBOR_ADMIN_PASSWORD"];
  harbor::HarborClient client(kube::makeTransport(config), std::chrono::seconds(1));
  auto slow = client.projectExists("library");
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().status, 0);
  EXPECT_TRUE(slow.error().retryable());
  // The fault is spent: the next request is answered.
  auto fast = client.projectExists("library");
  ASSERT_TRUE(fast) << fast.error().message;
}

TEST_F(HarborClientIntegrationTest, AHarborThatIsDownIsRetryableAndTheClientRecovers) {
  ASSERT_TRUE(admin_->projectExists("library"));
  CommandResult r = runCommand({clusterScripts() + "/harbor-down", dir_, "--keep-state"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  auto down = admin_->projectExists("library");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().status, 0);
  EXPECT_TRUE(down.error().retryable());
  EXPECT_FALSE(down.error().requestId.empty());
  r = runCommand({clusterScripts() + "/harbor-up", dir_});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  auto back = admin_->projectExists("library");
  ASSERT_TRUE(back) << "the same client did not recover: " << back.error().message;
  EXPECT_TRUE(back.value());
}

}  // namespace
}  // namespace envop::testing
