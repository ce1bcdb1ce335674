// ChartSource through a fake helm (no process) and a fake API server: digests that are real or
// absent, the TTL cache on an injected clock, logins from a dockerconfigjson Secret with the
// password on stdin only and no second login while the Secret is unchanged; and the pure parts
// (credential parsing, the digest of a local chart).
#include "controller/environment/chart_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "controller/environment/registry_credentials.h"
#include "test/fakes/fake_helm_runner.h"
#include "test/fakes/fake_object_server.h"

namespace envop::environment {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::FakeHelmRunner;
using testing::FakeObjectServer;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

const std::string kDigestA = "sha256:" + std::string(64, 'a');
const std::string kDigestB = "sha256:" + std::string(64, 'b');
const std::string kPassword = "s3cret-Pa55word";

std::string base64(const std::string& text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Json dockerConfigSecret(const std::string& ns, const std::string& name, const Json& auths,
                        const std::string& resourceVersion = "1") {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", "kubernetes.io/dockerconfigjson"},
          {"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", resourceVersion}}},
          {"data", {{".dockerconfigjson", base64(Json{{"auths", auths}}.dump())}}}};
}

void writeFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string digestOf(const ChartResolution& r) {
  if (const auto* available = std::get_if<ChartAvailable>(&r)) return available->digest;
  ADD_FAILURE() << "unavailable: " << std::get<ChartUnavailable>(r).message;
  return "";
}

ChartUnavailable unavailable(const ChartResolution& r) {
  if (const auto* u = std::get_if<ChartUnavailable>(&r)) return *u;
  ADD_FAILURE() << "available with digest " << std::get<ChartAvailable>(r).digest;
  return {};
}

// --- credentials ------------------------------------------------------------------------------

TEST(RegistryCredentials, ReadsUsernamePasswordAndAuth) {
  const Json secret = dockerConfigSecret(
      "pro", "charts",
      {{"harbor.example.com", {{"username", "robot$ci"}, {"password", kPassword}}},
       {"https://Registry.Example:5000/v1/", {{"auth", base64("alice:" + kPassword + ":x")}}}});
  auto parsed = parseDockerConfigSecret(secret);
  ASSERT_TRUE(std::holds_alternative<RegistryCredentials>(parsed)) << std::get<std::string>(parsed);
  const auto& credentials = std::get<RegistryCredentials>(parsed);
  ASSERT_NE(credentials.find("harbor.example.com"), nullptr);
  EXPECT_EQ(*credentials.find("harbor.example.com"), (RegistryLogin{"robot$ci", kPassword}));
  // A docker-style key with scheme, upper case and path matches the host[:port] of a chart.
  ASSERT_NE(credentials.find("registry.example:5000"), nullptr);
  EXPECT_EQ(*credentials.find("registry.example:5000"), (RegistryLogin{"alice", kPassword + ":x"}));
  EXPECT_EQ(credentials.find("registry.example"), nullptr);  // another port is another registry
}

TEST(RegistryCredentials, ErrorsNameTheSecretAndNeverAValue) {
  Json wrongType = dockerConfigSecret("pro", "charts", {{"h", {{"auth", base64("u:p")}}}});
  wrongType["type"] = "Opaque";
  Json noKey = wrongType;
  noKey["type"] = "kubernetes.io/dockerconfigjson";
  noKey["data"] = Json::object();
  Json notBase64 = noKey;
  notBase64["data"][".dockerconfigjson"] = "!!!" + kPassword;
  Json notJson = noKey;
  notJson["data"][".dockerconfigjson"] = base64("{" + kPassword);
  const std::vector<std::pair<Json, std::string>> cases = {
      {wrongType, "type \"Opaque\""},
      {noKey, "no key .dockerconfigjson"},
      {notBase64, "not base64"},
      {notJson, "not a JSON object"},
      {dockerConfigSecret("pro", "charts", Json::array()), "\"auths\""},
      {dockerConfigSecret("pro", "charts", {{"h", {{"password", kPassword}}}}), "empty username"},
      {dockerConfigSecret("pro", "charts", {{"h", {{"auth", base64(kPassword)}}}}),
       "user:password"},
      {dockerConfigSecret("pro", "charts", {{"h", Json::object()}}), "needs username"},
  };
  for (const auto& [secret, expected] : cases) {
    auto parsed = parseDockerConfigSecret(secret);
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << secret.dump();
    const std::string& error = std::get<std::string>(parsed);
    EXPECT_THAT(error, HasSubstr("Secret pro/charts")) << secret.dump();
    EXPECT_THAT(error, HasSubstr(expected)) << secret.dump();
    EXPECT_THAT(error, Not(HasSubstr(kPassword)));
  }
}

// --- local charts -----------------------------------------------------------------------------

class LocalChartDigest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("envop-chart-digest-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string digest(const fs::path& path) {
    std::string error;
    auto d = localChartDigest(path.string(), error);
    EXPECT_TRUE(d.has_value()) << error;
    return d.value_or("");
  }
  fs::path dir_;
};

TEST_F(LocalChartDigest, ChangesWithAnyFileAtTheSameVersion) {
  writeFile(dir_ / "a/Chart.yaml", "name: web\nversion: 1.0.0\n");
  writeFile(dir_ / "a/templates/cm.yaml", "data: one\n");
  const std::string first = digest(dir_ / "a");
  EXPECT_THAT(first, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_EQ(digest(dir_ / "a"), first);

  // The same files written in another order hash the same.
  writeFile(dir_ / "b/templates/cm.yaml", "data: one\n");
  writeFile(dir_ / "b/Chart.yaml", "name: web\nversion: 1.0.0\n");
  EXPECT_EQ(digest(dir_ / "b"), first);

  writeFile(dir_ / "a/templates/cm.yaml", "data: two\n");  // Chart.yaml's version unchanged
  const std::string edited = digest(dir_ / "a");
  EXPECT_NE(edited, first);
  fs::rename(dir_ / "a/templates/cm.yaml", dir_ / "a/templates/cm2.yaml");
  EXPECT_NE(digest(dir_ / "a"), edited);
}

TEST_F(LocalChartDigest, AnArchiveIsItsBytesAndAMissingPathIsAnError) {
  writeFile(dir_ / "web-1.0.0.tgz", "archive one");
  const std::string one = digest(dir_ / "web-1.0.0.tgz");
  writeFile(dir_ / "web-1.0.0.tgz", "archive two");
  EXPECT_NE(digest(dir_ / "web-1.0.0.tgz"), one);
  std::string error;
  EXPECT_FALSE(localChartDigest((dir_ / "nowhere").string(), error).has_value());
  EXPECT_THAT(error, HasSubstr("does not exist"));
}

TEST(ChartRefOf, MakesALocalPathAbsoluteAndKeepsOciAndHttps) {
  const helm::ChartRef local = chartRefOf(
      {.kind = ResolvedChart::Kind::kLocalPath, .reference = "charts/web", .version = "1.0.0"});
  EXPECT_EQ(local.reference, (fs::current_path() / "charts/web").string());
  EXPECT_EQ(local.version, "");
  EXPECT_TRUE(helm::chartArgs(local).ok());
  EXPECT_EQ(withoutUserinfo("https://user:pw@charts.example/x/web-1.tgz"),
            "https://charts.example/x/web-1.tgz");
  EXPECT_EQ(withoutUserinfo("oci://r.example/p/web"), "oci://r.example/p/web");
}

// --- resolve ----------------------------------------------------------------------------------

class ChartSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("envop-chart-source-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    helm_ = std::make_unique<helm::HelmDriver>(helm::HelmConfig{
        .helmBinary = "/fake/helm",
        .stateDir = (root_ / "state").string(),
        .runner = fake_->runner(),
    });
    source_ = std::make_unique<ChartSource>(std::make_shared<kube::Client>(server_), *helm_,
                                            ChartSourceOptions{.digestTtl = 300s, .clock = clock_});
    // A registry login stores itself in the file it is given, as helm does.
    fake_->on("registry", [this](const FakeHelmRunner::Call& call) {
      if (call.stdinData != password_) {
        return FakeHelmRunner::fail("Error: login attempt to https://" + call.argv.at(2) +
                                    "/v2/ failed with status: 401 Unauthorized\n");
      }
      writeFile(call.flag("--registry-config"), "{\"auths\": {}}");
      return FakeHelmRunner::ok("", "Login Succeeded\n");
    });
    fake_->on("show", [this](const FakeHelmRunner::Call& call) {
      if (!registryUp_) {
        return FakeHelmRunner::fail("Error: failed to do request: Head \"https://" + kHost +
                                    "/v2/p/web/manifests/1.0.0\": connection refused\n");
      }
      return FakeHelmRunner::ok("apiVersion: v2\nname: web\nversion: 1.0.0\n",
                                "Pulled: " + call.argv.at(2) + "\nDigest: " + ociDigest_ + "\n");
    });
  }
  void TearDown() override { fs::remove_all(root_); }

  ResolvedChart oci(const std::string& host = kHost) {
    return {.kind = ResolvedChart::Kind::kOci,
            .reference = "oci://" + host + "/p/web",
            .repoUrl = "oci://" + host + "/p",
            .chartName = "web",
            .version = "1.0.0",
            .host = host};
  }
  ChartsSpec privateCharts() {
    return {.repository = "oci://" + kHost + "/p", .credentialsSecret = "charts"};
  }
  void putCredentials(const std::string& password, const std::string& resourceVersion = "1") {
    server_->put("/api/v1/namespaces/pro/secrets/charts",
                 dockerConfigSecret("pro", "charts",
                                    {{kHost, {{"username", "robot"}, {"password", password}}}},
                                    resourceVersion));
  }

  static inline const std::string kHost = "harbor.example.com";
  fs::path root_;
  std::shared_ptr<FakeHelmRunner> fake_ = std::make_shared<FakeHelmRunner>();
  std::shared_ptr<FakeObjectServer> server_ = std::make_shared<FakeObjectServer>();
  std::shared_ptr<util::FakeClock> clock_ = std::make_shared<util::FakeClock>();
  std::unique_ptr<helm::HelmDriver> helm_;
  std::unique_ptr<ChartSource> source_;
  std::string password_ = kPassword;  // what the fake registry accepts
  std::string ociDigest_ = kDigestA;
  bool registryUp_ = true;
};

TEST_F(ChartSourceTest, OciDigestIsCachedForTheTtlAndLookedUpAgainAfter) {
  const ChartsSpec charts{.repository = "oci://" + kHost + "/p"};
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", charts, oci())), kDigestA);
  EXPECT_EQ(fake_->count("show"), 1);
  const auto call = fake_->calls().back();
  EXPECT_THAT(call.argv, ::testing::ElementsAre("show", "chart", "oci://" + kHost + "/p/web",
                                                "--version", "1.0.0"));

  ociDigest_ = kDigestB;  // the tag is pushed again
  clock_->advance(299s);
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", charts, oci())), kDigestA);
  EXPECT_EQ(fake_->count("show"), 1) << "a resolve within the TTL runs no helm";
  clock_->advance(1s);
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", charts, oci())), kDigestB);
  EXPECT_EQ(fake_->count("show"), 2);
}

TEST_F(ChartSourceTest, UnreachableRegistryIsUnavailableNeverAMadeUpDigest) {
  const ChartsSpec charts{.repository = "oci://" + kHost + "/p"};
  registryUp_ = false;
  const ChartUnavailable u = unavailable(source_->resolve("pro", "pro", charts, oci()));
  EXPECT_FALSE(u.stalled);
  EXPECT_THAT(u.message, HasSubstr("chart oci://" + kHost + "/p/web 1.0.0"));
  EXPECT_THAT(u.message, HasSubstr("connection refused"));
  // A failure is not cached: the registry back, the next resolve has the digest.
  registryUp_ = true;
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", charts, oci())), kDigestA);
}

TEST_F(ChartSourceTest, HttpsChartDigestIsTheSha256OfThePulledArchive) {
  std::string archive = "archive bytes one";
  fake_->on("pull", [&](const FakeHelmRunner::Call& call) {
    writeFile(fs::path(call.flag("--destination")) / "redis-17.1.0.tgz", archive);
    return FakeHelmRunner::ok();
  });
  const ResolvedChart https{.kind = ResolvedChart::Kind::kHttpsRepo,
                            .reference = "https://charts.example/stable/redis",
                            .repoUrl = "https://charts.example/stable",
                            .chartName = "redis",
                            .version = "17.1.0",
                            .host = "charts.example"};
  const std::string one = digestOf(source_->resolve("pro", "pro", {}, https));
  EXPECT_THAT(one, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  const auto pull = fake_->calls().back();
  EXPECT_EQ(pull.flag("--repo"), "https://charts.example/stable");
  EXPECT_TRUE(fs::is_empty(root_ / "state" / "tmp")) << "the download directory is removed";

  archive = "archive bytes two";  // republished at the same version
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", {}, https)), one);
  EXPECT_EQ(fake_->count("pull"), 1);
  clock_->advance(301s);
  const std::string two = digestOf(source_->resolve("pro", "pro", {}, https));
  EXPECT_NE(two, one);
  EXPECT_EQ(fake_->count("pull"), 2);
}

TEST_F(ChartSourceTest, CredentialsInAChartUrlAreRedactedFromWhatHelmSays) {
  fake_->on("pull", [](const FakeHelmRunner::Call& call) {
    return FakeHelmRunner::fail("Error: failed to fetch " + call.argv.at(1) + " : 503\n");
  });
  const ResolvedChart https{.kind = ResolvedChart::Kind::kHttpsRepo,
                            .reference = "https://bob:" + kPassword + "@charts.example/web-1.tgz",
                            .chartName = "web-1.tgz",
                            .host = "charts.example"};
  const ChartUnavailable u = unavailable(source_->resolve("pro", "pro", {}, https));
  EXPECT_THAT(u.message, HasSubstr("chart https://charts.example/web-1.tgz"));
  EXPECT_THAT(u.message, HasSubstr("503"));
  EXPECT_THAT(u.message, Not(HasSubstr(kPassword)));
}

TEST_F(ChartSourceTest, LocalChartResolvesWithoutHelmAndAMissingOneStalls) {
  writeFile(root_ / "chart/Chart.yaml", "name: web\nversion: 1.0.0\n");
  const ResolvedChart local{.kind = ResolvedChart::Kind::kLocalPath,
                            .reference = (root_ / "chart").string(),
                            .chartName = "chart",
                            .version = "1.0.0"};
  const ChartResolution r = source_->resolve("pro", "pro", privateCharts(), local);
  ASSERT_TRUE(std::holds_alternative<ChartAvailable>(r));
  EXPECT_EQ(std::get<ChartAvailable>(r).ref.reference, (root_ / "chart").string());
  const std::string before = std::get<ChartAvailable>(r).digest;
  writeFile(root_ / "chart/templates/x.yaml", "kind: ConfigMap\n");
  EXPECT_NE(digestOf(source_->resolve("pro", "pro", {}, local)), before);
  EXPECT_TRUE(fake_->calls().empty());
  EXPECT_EQ(server_->gets(), 0) << "a local chart needs no credentials";

  const ResolvedChart missing{.kind = ResolvedChart::Kind::kLocalPath,
                              .reference = (root_ / "gone").string()};
  const ChartUnavailable u = unavailable(source_->resolve("pro", "pro", {}, missing));
  EXPECT_TRUE(u.stalled);
  EXPECT_THAT(u.message, HasSubstr("does not exist"));
}

TEST_F(ChartSourceTest, LogsInOnceWithThePasswordOnStdinOnly) {
  putCredentials(kPassword);
  const ChartResolution r = source_->resolve("pro", "pro", privateCharts(), oci());
  ASSERT_TRUE(std::holds_alternative<ChartAvailable>(r)) << std::get<ChartUnavailable>(r).message;
  const ChartAvailable& available = std::get<ChartAvailable>(r);
  EXPECT_EQ(available.digest, kDigestA);
  const std::string config = source_->registryConfigPath("pro");
  EXPECT_EQ(config, (root_ / "state/registry/pro.json").string());
  EXPECT_EQ(available.ref.registryConfig, config);
  EXPECT_EQ(fs::status(config).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  const auto calls = fake_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_THAT(calls[0].argv,
              ::testing::ElementsAre("registry", "login", kHost, "--username", "robot",
                                     "--password-stdin", "--registry-config", config));
  EXPECT_EQ(calls[0].stdinData, kPassword);
  EXPECT_EQ(calls[1].flag("--registry-config"), config) << "show chart uses the login";
  for (const auto& call : calls) {
    for (const auto& arg : call.argv) EXPECT_THAT(arg, Not(HasSubstr(kPassword)));
    for (const auto& [key, value] : call.environment) EXPECT_THAT(value, Not(HasSubstr(kPassword)));
  }
  // install/upgrade with the returned ref names the same registry config.
  const helm::Args upgrade = helm::upgradeInstallArgs("web", "pro", available.ref, "", {}, 60s);
  ASSERT_TRUE(upgrade.ok()) << upgrade.error;
  EXPECT_THAT(upgrade.argv, ::testing::Contains(config));

  // Unchanged Secret: no second login, even once the digest has to be looked up again.
  clock_->advance(301s);
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", privateCharts(), oci())), kDigestA);
  EXPECT_EQ(fake_->count("registry"), 1);
  EXPECT_EQ(fake_->count("show"), 2);
  // Unchanged Secret within the TTL: no helm at all.
  fake_->clear();
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", privateCharts(), oci())), kDigestA);
  EXPECT_TRUE(fake_->calls().empty());
  // A new resourceVersion with the same content needs no login either.
  putCredentials(kPassword, "2");
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", privateCharts(), oci())), kDigestA);
  EXPECT_EQ(fake_->count("registry"), 0);

  // The password rotated: one new login.
  password_ = "rotated-" + kPassword;
  putCredentials(password_, "3");
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", privateCharts(), oci())), kDigestA);
  EXPECT_EQ(fake_->count("registry"), 1);
  EXPECT_EQ(fake_->calls().front().stdinData, password_);
}

TEST_F(ChartSourceTest, ReleasesResolvingAtOnceShareOneLogin) {
  putCredentials(kPassword);
  std::vector<std::thread> releases;
  std::vector<std::string> digests(8);
  for (std::size_t i = 0; i < digests.size(); ++i) {
    releases.emplace_back([&, i] {
      const ChartResolution r = source_->resolve("pro", "pro", privateCharts(), oci());
      if (const auto* available = std::get_if<ChartAvailable>(&r)) digests[i] = available->digest;
    });
  }
  for (auto& t : releases) t.join();
  for (const std::string& digest : digests) EXPECT_EQ(digest, kDigestA);
  EXPECT_EQ(fake_->count("registry"), 1) << "logins of one Environment are serialised";
}

TEST_F(ChartSourceTest, WrongPasswordIsUnavailableWithTheRegistrys401AndNoPassword) {
  putCredentials("wrong-" + kPassword);
  const ChartUnavailable u = unavailable(source_->resolve("pro", "pro", privateCharts(), oci()));
  EXPECT_FALSE(u.stalled) << "retried: the registry may accept it later";
  EXPECT_THAT(u.message, HasSubstr("401 Unauthorized"));
  EXPECT_THAT(u.message, HasSubstr(kHost));
  EXPECT_THAT(u.message, HasSubstr("Secret pro/charts"));
  EXPECT_THAT(u.message, Not(HasSubstr(kPassword)));
  EXPECT_EQ(fake_->count("show"), 0) << "no chart command without the login";
  // A failed login is tried again on the next resolve (the lead's backoff paces it).
  EXPECT_TRUE(std::holds_alternative<ChartUnavailable>(
      source_->resolve("pro", "pro", privateCharts(), oci())));
  EXPECT_EQ(fake_->count("registry"), 2);
}

TEST_F(ChartSourceTest, MissingOrMalformedCredentialsStall) {
  ChartUnavailable u = unavailable(source_->resolve("pro", "pro", privateCharts(), oci()));
  EXPECT_TRUE(u.stalled);
  EXPECT_THAT(u.message, HasSubstr("spec.charts.credentialsSecretRef"));
  EXPECT_THAT(u.message, HasSubstr("Secret pro/charts not found"));

  server_->put("/api/v1/namespaces/pro/secrets/charts",
               dockerConfigSecret("pro", "charts",
                                  {{"other.example", {{"username", "u"}, {"password", "p"}}}}));
  u = unavailable(source_->resolve("pro", "pro", privateCharts(), oci()));
  EXPECT_TRUE(u.stalled);
  EXPECT_THAT(u.message, HasSubstr("has no login for " + kHost));

  Json opaque = dockerConfigSecret("pro", "charts", Json::object());
  opaque["type"] = "Opaque";
  server_->put("/api/v1/namespaces/pro/secrets/charts", opaque);
  u = unavailable(source_->resolve("pro", "pro", privateCharts(), oci()));
  EXPECT_TRUE(u.stalled);
  EXPECT_THAT(u.message, HasSubstr("kubernetes.io/dockerconfigjson"));
  EXPECT_TRUE(fake_->calls().empty());
}

TEST_F(ChartSourceTest, AChartOnAnotherHostWithoutALoginIsPulledAnonymously) {
  putCredentials(kPassword);
  const ChartResolution r =
      source_->resolve("pro", "pro", privateCharts(), oci("public.example.org"));
  ASSERT_TRUE(std::holds_alternative<ChartAvailable>(r)) << std::get<ChartUnavailable>(r).message;
  EXPECT_EQ(std::get<ChartAvailable>(r).ref.registryConfig, "");
  EXPECT_EQ(fake_->count("registry"), 0);
}

TEST_F(ChartSourceTest, HttpsRepositoryWithALoginStallsRatherThanPutThePasswordInArgv) {
  server_->put("/api/v1/namespaces/pro/secrets/charts",
               dockerConfigSecret("pro", "charts",
                                  {{"charts.example", {{"username", "u"}, {"password", "p"}}}}));
  const ResolvedChart https{.kind = ResolvedChart::Kind::kHttpsRepo,
                            .reference = "https://charts.example/stable/redis",
                            .repoUrl = "https://charts.example/stable",
                            .chartName = "redis",
                            .host = "charts.example"};
  const ChartUnavailable u = unavailable(source_->resolve(
      "pro", "pro", {.repository = "https://charts.example/stable", .credentialsSecret = "charts"},
      https));
  EXPECT_TRUE(u.stalled);
  EXPECT_THAT(u.message, HasSubstr("OCI registries only"));
  EXPECT_TRUE(fake_->calls().empty());
}

TEST_F(ChartSourceTest, EnvironmentsHaveTheirOwnLoginsAndForgetDropsThem) {
  putCredentials(kPassword);
  server_->put("/api/v1/namespaces/dev/secrets/charts",
               dockerConfigSecret("dev", "charts",
                                  {{kHost, {{"username", "robot"}, {"password", kPassword}}}}));
  const auto pro = std::get<ChartAvailable>(source_->resolve("pro", "pro", privateCharts(), oci()));
  const auto dev = std::get<ChartAvailable>(source_->resolve("dev", "dev", privateCharts(), oci()));
  EXPECT_NE(pro.ref.registryConfig, dev.ref.registryConfig);
  EXPECT_EQ(fake_->count("registry"), 2);
  EXPECT_EQ(fake_->count("show"), 2) << "a digest seen through one login does not serve another";

  source_->forget("pro");
  EXPECT_FALSE(fs::exists(pro.ref.registryConfig));
  EXPECT_TRUE(fs::exists(dev.ref.registryConfig));
  fake_->clear();
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", privateCharts(), oci())), kDigestA);
  EXPECT_EQ(fake_->count("registry"), 1) << "a forgotten Environment logs in again";
  EXPECT_EQ(fake_->count("show"), 1);
}

TEST_F(ChartSourceTest, AWipedRegistryConfigIsLoggedInAgain) {
  putCredentials(kPassword);
  const auto first =
      std::get<ChartAvailable>(source_->resolve("pro", "pro", privateCharts(), oci()));
  fs::remove(first.ref.registryConfig);
  clock_->advance(301s);
  EXPECT_EQ(digestOf(source_->resolve("pro", "pro", privateCharts(), oci())), kDigestA);
  EXPECT_EQ(fake_->count("registry"), 2);
}

}  // namespace
}  // namespace envop::environment

namespace envop::environment {
namespace {

// The Harbor part keeps Harbor's CA in its pull Secret (key ca.crt): helm checks the registry's
// certificate against it on login and on every chart command.
TEST_F(ChartSourceTest, ACaInTheCredentialsSecretIsHelmsCaFile) {
  nlohmann::json secret = dockerConfigSecret(
      "pro", "charts", {{kHost, {{"username", "robot"}, {"password", kPassword}}}}, "1");
  secret["data"]["ca.crt"] =
      "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==";  // "-----BEGIN CERTIFICATE-----\n"
  server_->put("/api/v1/namespaces/pro/secrets/charts", secret);
  const ChartResolution r = source_->resolve("pro", "pro", privateCharts(), oci());
  ASSERT_TRUE(std::holds_alternative<ChartAvailable>(r)) << std::get<ChartUnavailable>(r).message;
  const std::string caFile = std::get<ChartAvailable>(r).ref.caFile;
  ASSERT_FALSE(caFile.empty());
  std::ifstream in(caFile);
  const std::string pem((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(pem, "-----BEGIN CERTIFICATE-----\n");
  const auto calls = fake_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].flag("--ca-file"), caFile) << "the login checks Harbor's certificate";
  EXPECT_EQ(calls[1].flag("--ca-file"), caFile) << "and so does show chart";
  const helm::Args upgrade =
      helm::upgradeInstallArgs("web", "pro", std::get<ChartAvailable>(r).ref, "", {}, 60s);
  EXPECT_THAT(upgrade.argv, ::testing::Contains(caFile));
  source_->forget("pro");
  EXPECT_FALSE(fs::exists(caFile));
}

}  // namespace
}  // namespace envop::environment
