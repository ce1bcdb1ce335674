// The registry part against an in-memory Harbor (test/fakes/fake_harbor_api.h) and an in-memory
// API server: what is created, that a resync writes nothing, what a human's change in Harbor
// brings, how Harbor's failures are reported, rotation, crash recovery, sharing and deletion.
#include "controller/environment/registry_part.h"

#include <gtest/gtest.h>

#include "controller/environment/registry_credentials.h"
#include "controller/environment/registry_objects.h"
#include "controller/kube/config.h"
#include "test/fakes/fake_harbor_api.h"
#include "test/fakes/fake_kube_objects.h"

namespace envop::environment {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using State = PartOutcome::State;

const std::string kSecretPath = "/api/v1/namespaces/pro/secrets/harbor-pull";
const std::string kSaPath = "/api/v1/namespaces/pro/serviceaccounts/default";

json environmentObject(const std::string& name, json harbor, const std::string& created) {
  return {{"apiVersion", "envop.io/v1alpha1"},
          {"kind", "Environment"},
          {"metadata", {{"name", name}, {"uid", "uid-" + name}, {"creationTimestamp", created}}},
          {"spec",
           {{"stage", "production"},
            {"namespace", {{"name", name}}},
            {"registry", {{"harbor", harbor}}}}}};
}

json harborSpec(json rotation = nullptr) {
  json h = {{"url", "https://harbor.example.com"},
            {"credentialsSecretRef", {{"name", "harbor-admin"}}},
            {"project",
             {{"name", "springcloud"},
              {"public", false},
              {"storageQuota", "1Gi"},
              {"autoScan", true},
              {"preventVulnerable", {{"severity", "high"}}},
              {"immutableTagPatterns", {"v*"}},
              {"retention", {{"keepLatestPushed", 20}}}}},
            {"pullSecret", {{"name", "harbor-pull"}, {"serviceAccounts", {"default"}}}}};
  if (!rotation.is_null()) h["pullSecret"]["rotation"] = rotation;
  return h;
}

class RegistryPartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube_->put(
        "/api/v1/namespaces/envop-system/secrets/harbor-admin",
        {{"metadata", {{"name", "harbor-admin"}, {"namespace", "envop-system"}}},
         {"data",
          {{"username", base64Encode("admin")}, {"password", base64Encode("Harbor12345")}}}});
    kube_->put(kSaPath, {{"apiVersion", "v1"},
                         {"kind", "ServiceAccount"},
                         {"metadata", {{"name", "default"}, {"namespace", "pro"}}},
                         {"imagePullSecrets", json::array({{{"name", "someone-elses"}}})}});
  }

  EnvironmentSpec add(const json& object) {
    environments_->upsert(object);
    auto parsed = parseEnvironment(object);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      ADD_FAILURE() << *error;
      return {};
    }
    return std::get<EnvironmentSpec>(parsed);
  }

  // The pull Secret's login for the Harbor host.
  std::optional<RegistryLogin> pullLogin() {
    auto secret = kube_->get(kSecretPath);
    if (!secret) return std::nullopt;
    auto creds = parseDockerConfigSecret(*secret);
    const auto* c = std::get_if<RegistryCredentials>(&creds);
    if (c == nullptr) return std::nullopt;
    const RegistryLogin* login = c->find("harbor.example.com");
    if (login == nullptr) return std::nullopt;
    return *login;
  }
  // Whether the pull Secret's credential is one the fake Harbor accepts.
  bool pullSecretWorks() {
    auto login = pullLogin();
    if (!login) return false;
    for (const auto& r : harbor_->robotsOf("springcloud")) {
      if (r.name == login->username && r.secret == login->password) return true;
    }
    return false;
  }
  static bool hasNote(const RegistryReport& report, const std::string& reason) {
    for (const auto& n : report.notes) {
      if (n.reason == reason) return true;
    }
    return false;
  }
  static std::string notes(const RegistryReport& report) {
    std::string out;
    for (const auto& n : report.notes) out += n.reason + ": " + n.text + "\n";
    return out;
  }

  std::shared_ptr<testing::FakeKubeObjects> kube_ = std::make_shared<testing::FakeKubeObjects>();
  kube::ClientPtr client_ = std::make_shared<kube::Client>(kube_);
  Applier applier_{client_, {}};
  runtime::StorePtr environments_ = std::make_shared<runtime::Store>();
  std::shared_ptr<testing::FakeHarborApi> harbor_ = std::make_shared<testing::FakeHarborApi>();
  std::vector<harbor::HarborEndpoint> endpoints_;
  util::WallTime now_ = util::WallTime(std::chrono::seconds(1'800'000'000));
  RegistryPart part_{
      client_, applier_, environments_,
      [this](const harbor::HarborEndpoint& e) {
        endpoints_.push_back(e);
        return harbor_;
      },
      RegistryPartOptions{.controllerNamespace = "envop-system", .now = [this] { return now_; }}};
};

TEST_F(RegistryPartTest, FirstPassMakesTheProjectTheRobotAndThePullSecret) {
  const EnvironmentSpec env = add(environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z"));
  const RegistryReport report = part_.reconcile(env, true);
  ASSERT_EQ(report.state, State::kReady) << report.message;
  ASSERT_EQ(endpoints_.size(), 1u);
  EXPECT_EQ(endpoints_[0].url, "https://harbor.example.com");
  EXPECT_EQ(endpoints_[0].username, "admin");

  const json project = harbor_->projects.at("springcloud");
  EXPECT_EQ(project["metadata"]["public"], "false");
  EXPECT_EQ(project["metadata"]["auto_scan"], "true");
  EXPECT_EQ(project["metadata"]["prevent_vul"], "true");
  EXPECT_EQ(project["metadata"]["severity"], "high");
  const std::int64_t projectId = project["project_id"];
  EXPECT_EQ(harbor_->quotas.at(projectId)["hard"]["storage"], 1073741824);
  ASSERT_EQ(harbor_->immutableRules["springcloud"].size(), 1u);
  EXPECT_EQ(immutableRulePattern(harbor_->immutableRules["springcloud"][0]), "v*");
  ASSERT_EQ(harbor_->retentions.size(), 1u);
  EXPECT_TRUE(retentionMatches(harbor_->retentions.begin()->second, 20));

  const auto robots = harbor_->robotsOf("springcloud");
  ASSERT_EQ(robots.size(), 1u);
  EXPECT_EQ(robots[0].name, "robot$springcloud+pro");
  EXPECT_EQ(robots[0].create["level"], "project");
  EXPECT_EQ(robots[0].create["duration"], -1) << "no rotation: a robot that never expires";
  EXPECT_NE(robots[0].create["description"].get<std::string>().find("uid-pro"), std::string::npos);
  const json perms = robots[0].create["permissions"];
  ASSERT_EQ(perms.size(), 1u);
  EXPECT_EQ(perms[0]["kind"], "project");
  EXPECT_EQ(perms[0]["namespace"], "springcloud");
  EXPECT_EQ(perms[0]["access"], json::parse(R"([{"resource":"repository","action":"pull"},
                            {"resource":"artifact","action":"read"}])"));

  auto secret = kube_->get(kSecretPath);
  ASSERT_TRUE(secret);
  EXPECT_EQ((*secret)["type"], "kubernetes.io/dockerconfigjson");
  EXPECT_EQ((*secret)["metadata"]["labels"]["envop.io/environment"], "pro");
  EXPECT_TRUE(pullSecretWorks());
  const json config =
      json::parse(*kube::decodeBase64((*secret)["data"][".dockerconfigjson"].get<std::string>()));
  EXPECT_EQ(config["auths"]["harbor.example.com"]["auth"],
            base64Encode(robots[0].name + ":" + robots[0].secret));

  const json sa = *kube_->get(kSaPath);
  EXPECT_EQ(sa["imagePullSecrets"],
            json::parse(R"([{"name":"someone-elses"},{"name":"harbor-pull"}])"))
      << "another manager's entry stays";

  EXPECT_EQ(report.status["projectID"], projectId);
  EXPECT_EQ(report.status["robot"], "robot$springcloud+pro");
  EXPECT_FALSE(report.status.contains("secretExpiresAt"));
  EXPECT_TRUE(report.status.contains("lastRotatedAt"));
  EXPECT_TRUE(hasNote(report, "ProjectCreated")) << notes(report);
  EXPECT_TRUE(hasNote(report, "RobotCreated")) << notes(report);
  // The secret is in the pull Secret only.
  const std::string everything = report.message + report.status.dump() + notes(report);
  EXPECT_EQ(everything.find(robots[0].secret), std::string::npos);
}

TEST_F(RegistryPartTest, AResyncOfAnUnchangedEnvironmentMakesGetsOnly) {
  const EnvironmentSpec env = add(environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z"));
  ASSERT_EQ(part_.reconcile(env, true).state, State::kReady);
  const int harborWrites = harbor_->writes();
  const int kubeWrites = kube_->writes();
  const RegistryReport again = part_.reconcile(env, true);
  EXPECT_EQ(again.state, State::kReady) << again.message;
  EXPECT_EQ(harbor_->writes(), harborWrites);
  EXPECT_EQ(kube_->writes(), kubeWrites);
  EXPECT_TRUE(again.notes.empty()) << notes(again);
}

TEST_F(RegistryPartTest, AHumanChangeInHarborIsPutBackWithAnEvent) {
  const EnvironmentSpec env = add(environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z"));
  ASSERT_EQ(part_.reconcile(env, true).state, State::kReady);
  harbor_->edit([](testing::FakeHarborApi& h) {
    h.projects["springcloud"]["metadata"]["public"] = "true";
    h.immutableRules["springcloud"].clear();
  });
  const RegistryReport report = part_.reconcile(env, true);
  EXPECT_EQ(report.state, State::kReady);
  EXPECT_EQ(harbor_->projects["springcloud"]["metadata"]["public"], "false");
  EXPECT_EQ(harbor_->immutableRules["springcloud"].size(), 1u);
  ASSERT_TRUE(hasNote(report, "ProjectRepaired")) << notes(report);
  EXPECT_NE(notes(report).find("metadata.public"), std::string::npos) << notes(report);
  EXPECT_EQ(harbor_->calls("updateProject"), 1);
}

TEST_F(RegistryPartTest, HarborDownIsRetryableAndBadCredentialsStall) {
  const EnvironmentSpec env = add(environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z"));
  harbor_->failNext("getProject", {.status = 503, .message = "UNKNOWN: database down"});
  RegistryReport report = part_.reconcile(env, true);
  EXPECT_EQ(report.state, State::kFailed);
  EXPECT_EQ(report.reason, "HarborUnavailable");
  EXPECT_NE(report.message.find("UNKNOWN: database down"), std::string::npos) << report.message;

  harbor_->failNext("getProject", {.status = 401, .message = "UNAUTHORIZED: unauthorized"});
  report = part_.reconcile(env, true);
  EXPECT_EQ(report.state, State::kStalled);
  EXPECT_EQ(report.reason, "HarborUnauthorized");
  EXPECT_EQ(report.message.find("Harbor12345"), std::string::npos) << "no password in a message";
  EXPECT_EQ(part_.environmentsReading("Secret/envop-system/harbor-admin"),
            std::vector<std::string>{"pro"})
      << "a change of the credentials Secret wakes the Environment";

  EXPECT_EQ(part_.reconcile(env, true).state, State::kReady) << "recovers once Harbor answers";
}

TEST_F(RegistryPartTest, AMissingCredentialsSecretStalls) {
  json spec = harborSpec();
  spec["credentialsSecretRef"]["name"] = "nope";
  const EnvironmentSpec env = add(environmentObject("pro", spec, "2026-01-01T00:00:00Z"));
  const RegistryReport report = part_.reconcile(env, true);
  EXPECT_EQ(report.state, State::kStalled);
  EXPECT_EQ(report.reason, "CredentialsSecretMissing");
  EXPECT_EQ(harbor_->reads() + harbor_->writes(), 0);
}

TEST_F(RegistryPartTest, RotatesBeforeTheOldRobotExpiresAndRevokesItAfterTheOverlap) {
  const EnvironmentSpec env = add(environmentObject(
      "pro", harborSpec({{"every", "2m"}, {"overlap", "30s"}}), "2026-01-01T00:00:00Z"));
  RegistryReport report = part_.reconcile(env, true);
  ASSERT_EQ(report.state, State::kReady) << report.message;
  EXPECT_EQ(report.recheckAfter, std::chrono::seconds(120));
  EXPECT_EQ(harbor_->robotsOf("springcloud")[0].create["duration"], 2);
  EXPECT_TRUE(report.status.contains("secretExpiresAt"));

  for (int rotation = 1; rotation <= 3; ++rotation) {
    now_ += 2min;
    report = part_.reconcile(env, true);
    ASSERT_EQ(report.state, State::kReady) << report.message;
    EXPECT_TRUE(hasNote(report, "RobotRotated")) << notes(report);
    EXPECT_EQ(harbor_->robotsOf("springcloud").size(), 2u) << "the old one works in the overlap";
    EXPECT_TRUE(pullSecretWorks());
    EXPECT_EQ(report.recheckAfter, std::chrono::seconds(30));
    EXPECT_EQ(report.status["robot"],
              rotation % 2 ? "robot$springcloud+pro_b" : "robot$springcloud+pro");

    now_ += 30s;
    report = part_.reconcile(env, true);
    ASSERT_EQ(report.state, State::kReady) << report.message;
    EXPECT_TRUE(hasNote(report, "RobotRevoked")) << notes(report);
    EXPECT_EQ(harbor_->robotsOf("springcloud").size(), 1u);
    EXPECT_TRUE(pullSecretWorks());
    now_ -= 30s;
  }
}

TEST_F(RegistryPartTest, ARobotWhoseCreateAnswerWasLostIsRefreshedNotMadeTwice) {
  const EnvironmentSpec env = add(environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z"));
  harbor_->loseNextCreateAnswer = true;
  RegistryReport report = part_.reconcile(env, true);
  EXPECT_EQ(report.state, State::kFailed);
  ASSERT_EQ(harbor_->robotsOf("springcloud").size(), 1u);
  auto secret = kube_->get(kSecretPath);
  ASSERT_TRUE(secret) << "the intent was recorded before the Harbor write";
  EXPECT_NE(
      (*secret)["metadata"]["annotations"][kRotationAnnotation].get<std::string>().find("Creating"),
      std::string::npos);

  report = part_.reconcile(env, true);
  ASSERT_EQ(report.state, State::kReady) << report.message;
  EXPECT_EQ(harbor_->robotsOf("springcloud").size(), 1u);
  EXPECT_EQ(harbor_->calls("createRobot"), 1);
  EXPECT_EQ(harbor_->calls("refreshRobotSecret"), 1);
  EXPECT_TRUE(pullSecretWorks());
}

TEST_F(RegistryPartTest, SharedProjectEachGetsItsOwnRobotAndDifferentSettingsStallTheLaterOne) {
  const EnvironmentSpec pro = add(environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z"));
  json preSpec = harborSpec();
  const EnvironmentSpec pre = add(environmentObject("pre", preSpec, "2026-01-02T00:00:00Z"));
  kube_->put("/api/v1/namespaces/pre/serviceaccounts/default",
             {{"metadata", {{"name", "default"}, {"namespace", "pre"}}}});
  ASSERT_EQ(part_.reconcile(pro, true).state, State::kReady);
  ASSERT_EQ(part_.reconcile(pre, true).state, State::kReady);
  EXPECT_EQ(harbor_->robotsOf("springcloud").size(), 2u);
  EXPECT_EQ(harbor_->calls("createProject"), 1);

  preSpec["project"]["public"] = true;
  const EnvironmentSpec pre2 = add(environmentObject("pre", preSpec, "2026-01-02T00:00:00Z"));
  const int writes = harbor_->writes();
  const RegistryReport later = part_.reconcile(pre2, true);
  EXPECT_EQ(later.state, State::kStalled);
  EXPECT_EQ(later.reason, "ProjectSettingsConflict");
  EXPECT_NE(later.message.find("pro"), std::string::npos) << later.message;
  EXPECT_EQ(harbor_->writes(), writes) << "the later one changes nothing";
  EXPECT_EQ(part_.reconcile(pro, true).state, State::kReady) << "the earlier one goes on";
}

TEST_F(RegistryPartTest, DeletionRemovesTheRobotsAndTheLastDeletesTheProject) {
  json spec = harborSpec();
  spec["project"]["deletionPolicy"] = "Delete";
  const EnvironmentSpec pro = add(environmentObject("pro", spec, "2026-01-01T00:00:00Z"));
  const EnvironmentSpec pre = add(environmentObject("pre", spec, "2026-01-02T00:00:00Z"));
  kube_->put("/api/v1/namespaces/pre/serviceaccounts/default",
             {{"metadata", {{"name", "default"}, {"namespace", "pre"}}}});
  ASSERT_EQ(part_.reconcile(pro, true).state, State::kReady);
  ASSERT_EQ(part_.reconcile(pre, true).state, State::kReady);

  RegistryReport report = part_.finalize(pro, false);
  EXPECT_EQ(report.state, State::kReady) << report.message;
  environments_->remove(environmentObject("pro", spec, ""));
  EXPECT_EQ(harbor_->robotsOf("springcloud").size(), 1u);
  EXPECT_TRUE(harbor_->projects.count("springcloud")) << "pre still names it";

  harbor_->nonEmpty.insert("springcloud");
  report = part_.finalize(pre, false);
  EXPECT_EQ(report.state, State::kStalled);
  EXPECT_EQ(report.reason, "ProjectNotEmpty");
  EXPECT_EQ(report.recheckAfter, std::chrono::seconds(300)) << "looked at again slowly";
  EXPECT_TRUE(harbor_->robotsOf("springcloud").empty());

  harbor_->nonEmpty.clear();
  report = part_.finalize(pre, false);
  EXPECT_EQ(report.state, State::kReady) << report.message;
  EXPECT_FALSE(harbor_->projects.count("springcloud"));
}

TEST_F(RegistryPartTest, ARetainedNamespaceKeepsThePullSecretAndTheRobot) {
  const EnvironmentSpec env = add(environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z"));
  ASSERT_EQ(part_.reconcile(env, true).state, State::kReady);
  const RegistryReport report = part_.finalize(env, true);
  EXPECT_EQ(report.state, State::kReady);
  EXPECT_EQ(harbor_->robotsOf("springcloud").size(), 1u);
  auto secret = kube_->get(kSecretPath);
  ASSERT_TRUE(secret);
  EXPECT_FALSE((*secret)["metadata"]["labels"].contains("envop.io/environment"));
  EXPECT_TRUE(pullSecretWorks());
}

// What the reconciler does after a pass: status.registry written, so the cache has it.
json withStatus(json object, const RegistryReport& report) {
  object["status"]["registry"] = report.status;
  return object;
}

TEST_F(RegistryPartTest, RemovingTheRegistryRevokesTheRobotAndRemovesThePullSecret) {
  json object = environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z");
  const RegistryReport first = part_.reconcile(add(object), true);
  ASSERT_EQ(first.state, State::kReady) << first.message;
  EXPECT_EQ(first.status["pullSecret"], "harbor-pull");
  object = withStatus(object, first);
  object["spec"].erase("registry");
  const EnvironmentSpec without = add(object);

  // Harbor down: nothing is lost, the status keeps naming the Secret, and it is tried again.
  harbor_->failNext("listProjectRobots", {.status = 503, .message = "UNKNOWN: database down"});
  const RegistryReport failed = part_.reconcile(without, true);
  EXPECT_EQ(failed.state, State::kFailed);
  EXPECT_NE(failed.message.find("503"), std::string::npos) << failed.message;
  EXPECT_EQ(failed.status, first.status);
  EXPECT_TRUE(kube_->get(kSecretPath));
  EXPECT_EQ(harbor_->robotsOf("springcloud").size(), 1u);

  const RegistryReport report = part_.reconcile(without, true);
  EXPECT_EQ(report.state, State::kNotConfigured) << report.message;
  EXPECT_TRUE(report.status.is_null());
  EXPECT_TRUE(harbor_->robotsOf("springcloud").empty()) << "the robot's credential is revoked";
  EXPECT_FALSE(kube_->get(kSecretPath));
  EXPECT_EQ((*kube_->get(kSaPath))["imagePullSecrets"],
            json::parse(R"([{"name":"someone-elses"}])"))
      << "only envop's entry goes";
  EXPECT_TRUE(hasNote(report, "RobotRevoked")) << notes(report);
  EXPECT_TRUE(hasNote(report, "PullSecretRemoved")) << notes(report);
  EXPECT_TRUE(harbor_->projects.count("springcloud")) << "the project and its images stay";

  // Once the status says nothing, a pass does nothing.
  const int kubeWrites = kube_->writes();
  const int harborWrites = harbor_->writes();
  object["status"].erase("registry");
  EXPECT_EQ(part_.reconcile(add(object), true).state, State::kNotConfigured);
  EXPECT_EQ(kube_->writes(), kubeWrites);
  EXPECT_EQ(harbor_->writes(), harborWrites);
}

TEST_F(RegistryPartTest, ARenamedPullSecretReplacesTheOldOneWithoutLosingAPull) {
  json object = environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z");
  const RegistryReport first = part_.reconcile(add(object), true);
  ASSERT_EQ(first.state, State::kReady) << first.message;
  object = withStatus(object, first);
  object["spec"]["registry"]["harbor"]["pullSecret"]["name"] = "harbor-pull-2";
  const RegistryReport report = part_.reconcile(add(object), true);
  ASSERT_EQ(report.state, State::kReady) << report.message;
  EXPECT_EQ(report.status["pullSecret"], "harbor-pull-2");
  EXPECT_FALSE(kube_->get(kSecretPath)) << "the old Secret goes";
  auto renamed = kube_->get("/api/v1/namespaces/pro/secrets/harbor-pull-2");
  ASSERT_TRUE(renamed);
  auto creds = parseDockerConfigSecret(*renamed);
  const auto* c = std::get_if<RegistryCredentials>(&creds);
  ASSERT_NE(c, nullptr);
  const RegistryLogin* login = c->find("harbor.example.com");
  ASSERT_NE(login, nullptr);
  bool accepted = false;
  for (const auto& r : harbor_->robotsOf("springcloud")) {
    accepted = accepted || (r.name == login->username && r.secret == login->password);
  }
  EXPECT_TRUE(accepted) << "the new Secret's credential is one Harbor accepts";
  EXPECT_EQ(harbor_->robotsOf("springcloud").size(), 1u);
  EXPECT_EQ((*kube_->get(kSaPath))["imagePullSecrets"],
            json::parse(R"([{"name":"someone-elses"},{"name":"harbor-pull-2"}])"));
}

TEST_F(RegistryPartTest, ASecretOfThatNameThatIsNotTheEnvironmentsIsLeftAlone) {
  json object = environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z");
  const RegistryReport first = part_.reconcile(add(object), true);
  ASSERT_EQ(first.state, State::kReady);
  // Someone else's Secret now has the name (the Environment's was deleted by hand).
  kube_->put(kSecretPath, {{"apiVersion", "v1"},
                           {"kind", "Secret"},
                           {"metadata", {{"name", "harbor-pull"}, {"namespace", "pro"}}}});
  object = withStatus(object, first);
  object["spec"].erase("registry");
  const RegistryReport report = part_.reconcile(add(object), true);
  EXPECT_EQ(report.state, State::kNotConfigured) << report.message;
  EXPECT_TRUE(kube_->get(kSecretPath)) << "not envop's to remove";
}

TEST_F(RegistryPartTest, ChartsOnTheHarborHostAreRecognised) {
  const EnvironmentSpec env = add(environmentObject("pro", harborSpec(), "2026-01-01T00:00:00Z"));
  EXPECT_TRUE(chartsOnHarbor(*env.registry, "oci://harbor.example.com/springcloud"));
  EXPECT_FALSE(chartsOnHarbor(*env.registry, "oci://other.example.com/springcloud"));
  EXPECT_FALSE(chartsOnHarbor(*env.registry, ""));
}

}  // namespace
}  // namespace envop::environment

namespace envop::environment {
namespace {

TEST(RegistryObjectsTest, ThePullSecretCarriesHarborsCaForHelm) {
  const RotationRecord record{.robot = "robot$springcloud+pro"};
  const nlohmann::json withCa =
      desiredPullSecret("pro", "pro", "harbor-pull", "{}", record, "-----BEGIN CERTIFICATE-----");
  EXPECT_EQ(kube::decodeBase64(withCa["data"]["ca.crt"].get<std::string>()),
            "-----BEGIN CERTIFICATE-----");
  EXPECT_FALSE(
      desiredPullSecret("pro", "pro", "harbor-pull", "{}", record)["data"].contains("ca.crt"));
}

}  // namespace
}  // namespace envop::environment
