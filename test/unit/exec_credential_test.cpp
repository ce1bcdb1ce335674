// Exec credential plugins: what a plugin prints, how its answer is cached and refreshed (on a
// FakeClock), what it is told through KUBERNETES_EXEC_INFO, and a real child process.
#include "controller/kube/exec_credential.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "controller/kube/config.h"

namespace envop::kube {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kV1 = "client.authentication.k8s.io/v1";
constexpr const char* kV1beta1 = "client.authentication.k8s.io/v1beta1";

const util::WallTime kNow = *parseRfc3339("2026-12-01T10:00:00Z");

std::string credentialJson(const Json& status, const std::string& apiVersion = kV1) {
  return Json{{"apiVersion", apiVersion}, {"kind", "ExecCredential"}, {"status", status}}.dump();
}

TEST(ParseRfc3339Test, ReadsUtcFractionsAndOffsets) {
  EXPECT_EQ(*parseRfc3339("2026-12-01T10:00:30Z") - kNow, 30s);
  EXPECT_EQ(*parseRfc3339("2026-12-01T10:00:00.250Z") - kNow, 250ms);
  EXPECT_EQ(*parseRfc3339("2026-12-01T11:00:00+01:00"), kNow);
  EXPECT_EQ(*parseRfc3339("2026-12-01T09:30:00-00:30"), kNow);
  EXPECT_FALSE(parseRfc3339("2026-12-01 10:00:00Z"));
  EXPECT_FALSE(parseRfc3339("2026-12-01T10:00:00"));
  EXPECT_FALSE(parseRfc3339("tomorrow"));
}

// Found by test/fuzz/kubeconfig_fuzzer in CI: an expiry in the year 1014 overflowed the
// nanosecond clock (UBSan); a year the clock cannot hold is refused.
TEST(ParseRfc3339Test, AYearTheClockCannotHoldIsRefused) {
  EXPECT_FALSE(parseRfc3339("1014-01-01T00:00:00Z").has_value());
  EXPECT_FALSE(parseRfc3339("4052-01-01T00:00:00Z").has_value());
  EXPECT_TRUE(parseRfc3339("2261-12-31T00:00:00Z").has_value());
}

TEST(ParseExecCredentialTest, ReadsATokenAndItsExpiry) {
  const auto parsed = parseExecCredential(
      credentialJson({{"token", "tok-123"}, {"expirationTimestamp", "2026-12-01T10:15:00Z"}}), kV1,
      kNow);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed.value().token, "tok-123");
  ASSERT_TRUE(parsed.value().expiry);
  EXPECT_EQ(*parsed.value().expiry - kNow, 15min);
}

TEST(ParseExecCredentialTest, ReadsAClientCertificateWithoutExpiry) {
  const auto parsed = parseExecCredential(
      credentialJson({{"clientCertificateData", "-----BEGIN CERTIFICATE-----\nMII\n"},
                      {"clientKeyData", "-----BEGIN EC PRIVATE KEY-----\nMHc\n"}},
                     kV1beta1),
      kV1beta1, kNow);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_TRUE(parsed.value().token.empty());
  EXPECT_NE(parsed.value().clientKeyPem.find("PRIVATE KEY"), std::string::npos);
  EXPECT_FALSE(parsed.value().expiry);
}

TEST(ParseExecCredentialTest, RefusesAnExpiredCredential) {
  const auto parsed = parseExecCredential(
      credentialJson({{"token", "tok-123"}, {"expirationTimestamp", "2026-12-01T09:59:59Z"}}), kV1,
      kNow);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().find("status.expirationTimestamp"), std::string::npos) << parsed.error();
  EXPECT_NE(parsed.error().find("already passed"), std::string::npos) << parsed.error();
}

TEST(ParseExecCredentialTest, MalformedAnswersNameTheFieldAndNoSecret) {
  struct Case {
    std::string output;
    std::string mustMention;
  };
  const std::vector<Case> cases = {
      {"token=tok-secret", "not a JSON object"},
      {Json{{"apiVersion", kV1}, {"kind", "Pod"}, {"status", {{"token", "tok-secret"}}}}.dump(),
       "kind"},
      {credentialJson({{"token", "tok-secret"}}, kV1beta1),
       "apiVersion is " + std::string(kV1beta1)},
      {Json{{"apiVersion", kV1}, {"kind", "ExecCredential"}}.dump(), "status is missing"},
      {credentialJson({{"token", 42}}), "status.token is not a string"},
      {credentialJson(Json::object()), "neither a token nor clientCertificateData"},
      {credentialJson({{"clientCertificateData", "-----BEGIN CERTIFICATE-----"}}),
       "status.clientCertificateData and status.clientKeyData must be given together"},
      {credentialJson({{"token", "tok-secret"}, {"expirationTimestamp", "soon"}}),
       "status.expirationTimestamp is not an RFC 3339 time"},
      {credentialJson({{"token", "tok-secret"}, {"expirationTimestamp", 1700000000}}),
       "status.expirationTimestamp is not a string"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.output);
    const auto parsed = parseExecCredential(c.output, kV1, kNow);
    ASSERT_FALSE(parsed);
    EXPECT_NE(parsed.error().find(c.mustMention), std::string::npos) << parsed.error();
    EXPECT_EQ(parsed.error().find("tok-secret"), std::string::npos) << parsed.error();
  }
}

TEST(ExecInfoTest, SaysNotInteractiveAndGivesTheClusterOnlyWhenAsked) {
  ExecPlugin plugin{.command = "aws", .apiVersion = kV1};
  plugin.cluster = {{"server", "https://10.0.0.1:6443"}};
  Json info = Json::parse(execInfo(plugin));
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["apiVersion"], kV1);
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_FALSE(info["spec"].contains("cluster"));
  plugin.provideClusterInfo = true;
  info = Json::parse(execInfo(plugin));
  EXPECT_EQ(info["spec"]["cluster"]["server"], "https://10.0.0.1:6443");
}

// Answers every run with a token "tok-<run>" valid for `validity` of real time.
struct CountingRunner {
  std::chrono::seconds validity{600};
  int exitCode = 0;
  std::shared_ptr<int> runs = std::make_shared<int>(0);
  std::shared_ptr<std::string> info = std::make_shared<std::string>();
  PluginRunner runner() const {
    return [*this](const ExecPlugin&, const std::string& execInfo) {
      ++*runs;
      *info = execInfo;
      const auto expiry =
          std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now() + validity);
      PluginRun run;
      run.exitCode = exitCode;
      run.err = exitCode == 0 ? "" : "error: the SSO session has expired\nsecond line";
      run.out = credentialJson({{"token", "tok-" + std::to_string(*runs)},
                                {"expirationTimestamp", util::formatMicroTime(expiry)}});
      return run;
    };
  }
};

TEST(ExecCredentialSourceTest, CachesTheCredentialUntilItExpires) {
  auto clock = std::make_shared<util::FakeClock>();
  CountingRunner plugin;
  ExecCredentialSource source(ExecPlugin{.command = "p", .apiVersion = kV1}, clock,
                              plugin.runner());
  EXPECT_EQ(source.credential().value().token, "tok-1");
  EXPECT_EQ(source.credential().value().token, "tok-1");
  clock->advance(590s);
  EXPECT_EQ(source.credential().value().token, "tok-1");
  EXPECT_EQ(*plugin.runs, 1);
  clock->advance(11s);  // past the 10 minutes the plugin said
  EXPECT_EQ(source.credential().value().token, "tok-2");
  EXPECT_EQ(source.runs(), 2);
}

TEST(ExecCredentialSourceTest, RunsThePluginAgainAfterA401) {
  auto clock = std::make_shared<util::FakeClock>();
  CountingRunner plugin;
  ExecCredentialSource source(ExecPlugin{.command = "p", .apiVersion = kV1}, clock,
                              plugin.runner());
  EXPECT_EQ(source.credential().value().token, "tok-1");
  source.invalidate();
  EXPECT_EQ(source.credential().value().token, "tok-2");
  const Json info = Json::parse(*plugin.info);
  EXPECT_EQ(info["spec"]["interactive"], false);
}

TEST(ExecCredentialSourceTest, AFailingPluginIsReportedAndNotRunForEveryRequest) {
  auto clock = std::make_shared<util::FakeClock>();
  CountingRunner plugin{.exitCode = 1};
  ExecCredentialSource source(ExecPlugin{.command = "aws", .apiVersion = kV1}, clock,
                              plugin.runner());
  const auto first = source.credential();
  ASSERT_FALSE(first);
  EXPECT_NE(first.error().find("exec plugin aws: exited with status 1: error: the SSO session"),
            std::string::npos)
      << first.error();
  EXPECT_EQ(first.error().find("tok-"), std::string::npos) << "stdout is never shown";
  EXPECT_EQ(first.error().find("second line"), std::string::npos);
  EXPECT_FALSE(source.credential());
  EXPECT_EQ(*plugin.runs, 1);
  clock->advance(ExecCredentialSource::kHoldAfterFailure);
  EXPECT_FALSE(source.credential());
  EXPECT_EQ(*plugin.runs, 2);
}

class ExecPluginFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("envop-exec-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ExecPluginFilesTest, AKubeconfigExecStanzaRunsTheScriptWithItsArgsEnvAndExecInfo) {
  // Prints its argument and $GREETING as the token, and what KUBERNETES_EXEC_INFO said.
  const fs::path script = dir_ / "bin" / "plugin.sh";
  std::ofstream(script) << R"(#!/bin/sh
case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) i=noninteractive ;; *) i=unknown ;; esac
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
printf '"status":{"token":"%s-%s-%s"}}' "$1" "$GREETING" "$i"
)";
  fs::permissions(script, fs::perms::owner_all);
  std::ofstream(dir_ / "kubeconfig")
      << "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
      << "clusters: [{name: c, cluster: {server: 'https://10.0.0.1:6443', "
         "tls-server-name: api.internal}}]\n"
      << "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      << "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
         "command: bin/plugin.sh, args: [hello], env: [{name: GREETING, value: world}], "
         "interactiveMode: Never, provideClusterInfo: true}}}]\n";
  const auto config = loadKubeconfig((dir_ / "kubeconfig").string());
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_TRUE(config.value().execCredentials);
  const ExecPlugin& plugin = config.value().execCredentials->plugin();
  EXPECT_EQ(plugin.command, script.string()) << "relative to the kubeconfig";
  EXPECT_EQ(plugin.cluster["server"], "https://10.0.0.1:6443");
  EXPECT_EQ(plugin.cluster["tls-server-name"], "api.internal");
  EXPECT_EQ(config.value().bearerToken(), "hello-world-noninteractive");
}

TEST_F(ExecPluginFilesTest, AMissingCommandNamesTheInstallHint) {
  ExecCredentialSource source(ExecPlugin{.command = "envop-no-such-plugin",
                                         .apiVersion = kV1,
                                         .installHint = "install it with: apt-get install it"},
                              std::make_shared<util::FakeClock>());
  const auto result = source.credential();
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().find("not found in PATH"), std::string::npos) << result.error();
  EXPECT_NE(result.error().find("apt-get install it"), std::string::npos) << result.error();
}

}  // namespace
}  // namespace envop::kube
