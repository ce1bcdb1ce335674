// The registry part end to end on its hardest promises: envop-controller (the real binary)
// against a control plane of the test's own and the Harbor double (test/fakes/harbor), rotating
// a robot every 2 minutes with a 30 s overlap. The double's control API is the witness: which
// robots exist, whether the pull Secret's credential is one Harbor accepts right now, which
// requests were made. The controller is SIGKILLed between "robot created" and "Secret written"
// and between "new secret written" and "old robot revoked"; after a restart no robot is doubled
// and none is left behind.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include "controller/environment/registry_credentials.h"
#include "controller/kube/resource.h"
#include "test/support/clients.h"
#include "test/support/controller_process.h"
#include "test/support/harbor.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    harborDir_ = cluster_->dir() + "/harbor";
    testHarbor_ = std::make_unique<TestHarbor>(harborDir_);
    harbor_ = testHarbor_->env;
    testHarbor_->installCredentials(*cluster_);
    client_ = clientFor(cluster_->kubeconfig());
  }
  void TearDown() override {
    controller_.reset();
    testHarbor_.reset();
  }

  void startController() {
    controller_ = std::make_unique<ControllerProcess>(
        "registry", cluster_->kubeconfig(),
        std::vector<std::string>{"--namespace", "envop-system"});
  }
  void killController() {
    controller_->signal(SIGKILL);
    controller_->waitExit();
  }
  std::string logs() const {
    if (!controller_) return "";
    std::ifstream in(controller_->log());
    std::stringstream s;
    s << in.rdbuf();
    const std::string text = s.str();
    return text.size() > 6000 ? text.substr(text.size() - 6000) : text;
  }

  void applyEnvironment(const std::string& name) {
    const json env = {{"apiVersion", "envop.io/v1alpha1"},
                      {"kind", "Environment"},
                      {"metadata", {{"name", name}}},
                      {"spec",
                       {{"stage", "test"},
                        {"registry",
                         {{"harbor",
                           {{"url", harbor_["HARBOR_URL"]},
                            {"credentialsSecretRef", {{"name", "harbor-admin"}}},
                            {"caSecretRef", {{"name", "harbor-ca"}}},
                            {"project", {{"name", "springcloud"}}},
                            {"pullSecret",
                             {{"name", "harbor-pull"},
                              {"serviceAccounts", {"default"}},
                              {"rotation", {{"every", "2m"}, {"overlap", "30s"}}}}}}}}}}}};
    const CommandResult r = cluster_->apply(env.dump());
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  json control(const std::string& method, const std::string& path, const json& body = nullptr) {
    std::vector<std::string> argv = {"curl", "-sS", "-X", method, harbor_["HARBOR_CONTROL"] + path};
    if (!body.is_null()) {
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "-d", body.dump()});
    }
    const CommandResult r = runCommand(argv);
    if (r.exitCode != 0) return nullptr;
    return json::parse(r.out, nullptr, false);
  }
  // This Environment's robots in the double.
  std::vector<json> robotsOf(const std::string& env) {
    std::vector<json> out;
    const json state = control("GET", "/state");
    if (!state.is_object()) return out;
    for (const json& r : state.value("robots", json::array())) {
      const std::string name = r.value("name", "");
      if (name == "robot$springcloud+" + env || name == "robot$springcloud+" + env + "_b") {
        out.push_back(r);
      }
    }
    return out;
  }
  std::optional<environment::RegistryLogin> pullLogin(const std::string& ns) {
    auto secret = client_->get(kube::resources::secrets(), ns, "harbor-pull");
    if (!secret) return std::nullopt;
    auto creds = environment::parseDockerConfigSecret(secret.value());
    const auto* c = std::get_if<environment::RegistryCredentials>(&creds);
    if (c == nullptr) return std::nullopt;
    const environment::RegistryLogin* login = c->find(harbor_["HARBOR_HOST"]);
    if (login == nullptr) return std::nullopt;
    return *login;
  }
  bool accepted(const environment::RegistryLogin& login) {
    const json answer =
        control("POST", "/credentials", {{"username", login.username}, {"secret", login.password}});
    return answer.is_object() && answer.value("accepted", false);
  }
  json environmentObject(const std::string& name) {
    auto got = client_->get(
        kube::Resource{"envop.io", "v1alpha1", "environments", "Environment", false}, "", name);
    return got ? got.value() : json();
  }
  std::string condition(const std::string& env, const std::string& type) {
    const json object = environmentObject(env);
    if (!object.is_object()) return "";
    for (const json& c :
         object.value("status", json::object()).value("conditions", json::array())) {
      if (c.value("type", "") == type) return c.value("status", "") + "/" + c.value("reason", "");
    }
    return "";
  }
  int robotPosts() {
    const json log = control("GET", "/requests");
    int n = 0;
    for (const json& r : log.value("requests", json::array())) {
      if (r.value("method", "") == "POST" && r.value("path", "") == "/api/v2.0/robots") ++n;
    }
    return n;
  }
  std::set<std::string> eventReasons(const std::string& env) {
    std::set<std::string> out;
    const CommandResult r = cluster_->kubectl({"get", "events.events.k8s.io", "-A", "-o", "json"});
    const json list = json::parse(r.out, nullptr, false);
    if (!list.is_object()) return out;
    for (const json& e : list.value("items", json::array())) {
      if (e.value("regarding", json::object()).value("name", "") == env) {
        out.insert(e.value("reason", ""));
      }
    }
    return out;
  }

  std::unique_ptr<ScopedCluster> cluster_;
  std::string harborDir_;
  std::unique_ptr<TestHarbor> testHarbor_;
  std::map<std::string, std::string> harbor_;
  kube::ClientPtr client_;
  std::unique_ptr<ControllerProcess> controller_;
};

TEST_F(RegistryTest, ThreeRotationsWithACredentialHarborAcceptsAtEveryMoment) {
  const std::string env = uniqueName("rot");
  // The stage's namespace is there before envop (adopted), and its ServiceAccount already pulls
  // with a Secret of the team's, applied by another field manager: that entry must stay.
  ASSERT_EQ(cluster_->kubectl({"create", "namespace", env}).exitCode, 0);
  const json sa = {{"apiVersion", "v1"},
                   {"kind", "ServiceAccount"},
                   {"metadata", {{"name", "default"}, {"namespace", env}}},
                   {"imagePullSecrets", json::array({{{"name", "team-pull"}}})}};
  CommandResult applied = cluster_->apply(sa.dump());
  ASSERT_EQ(applied.exitCode, 0) << applied.err;
  startController();
  applyEnvironment(env);
  ASSERT_TRUE(within(90s,
                     [&] {
                       return condition(env, "RegistryReady") == "True/Ready" ||
                              condition(env, "RegistryReady").starts_with("True/");
                     }))
      << condition(env, "RegistryReady") << "\n"
      << logs();
  auto login = pullLogin(env);
  ASSERT_TRUE(login.has_value());
  EXPECT_EQ(login->username, "robot$springcloud+" + env);
  EXPECT_TRUE(accepted(*login)) << "the double refuses the pull Secret's credential";
  const json status = environmentObject(env)["status"];
  EXPECT_EQ(status["registry"]["robot"], login->username) << status.dump();
  EXPECT_TRUE(status["registry"].contains("projectID")) << status.dump();
  EXPECT_TRUE(status["registry"].contains("lastRotatedAt")) << status.dump();
  EXPECT_EQ(status.dump().find(login->password), std::string::npos) << "a secret in the status";
  ASSERT_TRUE(within(30s,
                     [&] {
                       auto sa = client_->get(kube::resources::serviceAccounts(), env, "default");
                       return sa &&
                              sa.value().value("imagePullSecrets", json::array()) ==
                                  json::parse(R"([{"name":"team-pull"},{"name":"harbor-pull"}])");
                     }))
      << "ServiceAccount default does not list harbor-pull beside team-pull\n"
      << logs();

  // Poll through three rotations: at every look the Secret holds a credential Harbor accepts,
  // and at most two of this Environment's robots exist (the new one and, in the overlap, the old).
  std::vector<std::string> held = {login->username};
  std::chrono::steady_clock::time_point lastChange = std::chrono::steady_clock::now();
  const auto deadline = std::chrono::steady_clock::now() + 8min;
  while (held.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    auto now = pullLogin(env);
    ASSERT_TRUE(now.has_value()) << "the pull Secret lost its login\n" << logs();
    ASSERT_TRUE(accepted(*now)) << "Harbor refuses the pull Secret's " << now->username << "\n"
                                << logs();
    ASSERT_LE(robotsOf(env).size(), 2u);
    if (now->username != held.back()) {
      held.push_back(now->username);
      lastChange = std::chrono::steady_clock::now();
      // The old robot keeps working through the overlap, then is revoked.
      EXPECT_EQ(robotsOf(env).size(), 2u) << "the old robot went before the overlap ran out";
    }
    if (robotsOf(env).size() == 1 && held.size() > 1) {
      EXPECT_GE(std::chrono::steady_clock::now() - lastChange, 25s)
          << "the old robot was revoked before the overlap";
    }
    std::this_thread::sleep_for(1s);  // a poll interval, not a wait for an event
  }
  ASSERT_EQ(held.size(), 4u) << "fewer than three rotations in 8 minutes\n" << logs();
  EXPECT_NE(held[1], held[0]);
  EXPECT_EQ(held[2], held[0]) << "the two slots alternate";
  ASSERT_TRUE(within(60s, [&] { return robotsOf(env).size() == 1; }))
      << "the last old robot was never revoked\n"
      << logs();
  EXPECT_EQ(robotsOf(env)[0].value("name", ""), held.back());
  const std::set<std::string> reasons = eventReasons(env);
  EXPECT_TRUE(reasons.count("RobotCreated")) << "events: " << json(reasons).dump();
  EXPECT_TRUE(reasons.count("RobotRotated")) << "events: " << json(reasons).dump();
  EXPECT_TRUE(reasons.count("RobotRevoked")) << "events: " << json(reasons).dump();
}

TEST_F(RegistryTest, SigkillMidRotationLeavesNoDuplicateAndNoLeakedRobot) {
  const std::string env = uniqueName("crash");
  startController();
  applyEnvironment(env);
  ASSERT_TRUE(within(90s, [&] { return condition(env, "RegistryReady").starts_with("True/"); }))
      << condition(env, "RegistryReady") << "\n"
      << logs();
  const std::string first = pullLogin(env)->username;
  const std::string second =
      first == "robot$springcloud+" + env ? first + "_b" : "robot$springcloud+" + env;
  ASSERT_EQ(robotPosts(), 1);

  // 1. Between "robot created" and "Secret written": Harbor creates the next robot, then holds
  //    its answer back; the controller is killed while it waits.
  json fault = control("POST", "/faults",
                       {{"method", "POST"},
                        {"path", "^/api/v2.0/robots$"},
                        {"action", "latency"},
                        {"latency_ms", 120000},
                        {"phase", "after"},
                        {"count", 1}});
  ASSERT_TRUE(fault.is_object()) << "control API did not take the fault";
  ASSERT_TRUE(within(150s,
                     [&] {
                       for (const json& r : robotsOf(env)) {
                         if (r.value("name", "") == second) return true;
                       }
                       return false;
                     }))
      << "the rotation never created " << second << "\n"
      << logs();
  killController();
  // The ids the double gave the two robots; it never reuses one, so a robot deleted and made
  // again, or a second one, would show a new id.
  std::set<std::int64_t> ids;
  for (const json& r : robotsOf(env)) ids.insert(r.value("id", std::int64_t{0}));
  ASSERT_EQ(ids.size(), 2u);
  auto idsNow = [&] {
    std::set<std::int64_t> now;
    for (const json& r : robotsOf(env)) now.insert(r.value("id", std::int64_t{0}));
    return now;
  };
  EXPECT_EQ(pullLogin(env)->username, first) << "the Secret was written before the answer came";
  EXPECT_TRUE(accepted(*pullLogin(env)));
  control("DELETE", "/faults");
  startController();
  ASSERT_TRUE(within(60s,
                     [&] {
                       auto login = pullLogin(env);
                       return login && login->username == second && accepted(*login);
                     }))
      << "the restarted controller did not finish the rotation\n"
      << logs();
  EXPECT_EQ(idsNow(), ids) << "the restarted controller made a robot again";
  // The delayed POST is logged when its answer goes out; none was made since.
  EXPECT_EQ(robotPosts(), 1) << "the restarted controller created a robot again";
  EXPECT_EQ(robotsOf(env).size(), 2u) << "the old robot must still work in the overlap";

  // 2. Between "new secret written" and "old revoked": killed inside the overlap.
  killController();
  EXPECT_EQ(robotsOf(env).size(), 2u);
  startController();
  ASSERT_TRUE(within(90s, [&] { return robotsOf(env).size() == 1; }))
      << "the old robot was leaked\n"
      << logs();
  EXPECT_EQ(robotsOf(env)[0].value("name", ""), second);
  auto login = pullLogin(env);
  ASSERT_TRUE(login.has_value());
  EXPECT_TRUE(accepted(*login));
  const std::set<std::int64_t> left = idsNow();
  EXPECT_TRUE(std::includes(ids.begin(), ids.end(), left.begin(), left.end()))
      << "no duplicate robot";
  EXPECT_EQ(robotPosts(), 1) << "no robot created after the restarts";
}

}  // namespace
}  // namespace envop::testing
