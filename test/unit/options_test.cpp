#include "controller/app/options.h"

#include <gtest/gtest.h>

namespace envop::app {
namespace {

using Outcome = ParsedOptions::Outcome;

TEST(OptionsTest, DefaultsMatchKubebuilderOperators) {
  const ParsedOptions parsed = parseOptions({});
  ASSERT_EQ(parsed.outcome, Outcome::kRun);
  EXPECT_EQ(parsed.options.metricsBindAddress, ":8080");
  EXPECT_EQ(parsed.options.healthProbeBindAddress, ":8081");
  EXPECT_EQ(parsed.options.leaderElectionId, "envop-controller-leader");
  EXPECT_FALSE(parsed.options.leaderElect);
  EXPECT_EQ(parsed.options.maxConcurrentReconciles, 4);
  EXPECT_EQ(parsed.options.maxConcurrentHelm, 8);
  EXPECT_EQ(parsed.options.logFormat, util::LogFormat::kJson);
}

TEST(OptionsTest, MaxConcurrentHelmIsAWholeNumberFrom1To256) {
  const ParsedOptions parsed = parseOptions({"--max-concurrent-helm=3"});
  ASSERT_EQ(parsed.outcome, Outcome::kRun) << parsed.error;
  EXPECT_EQ(parsed.options.maxConcurrentHelm, 3);
  for (const char* bad : {"--max-concurrent-helm=0", "--max-concurrent-helm=257",
                          "--max-concurrent-helm=-1", "--max-concurrent-helm=8x"}) {
    const ParsedOptions refused = parseOptions({bad});
    EXPECT_EQ(refused.outcome, Outcome::kError) << bad;
    EXPECT_NE(refused.error.find("--max-concurrent-helm"), std::string::npos) << refused.error;
    EXPECT_NE(refused.error.find("from 1 to 256"), std::string::npos) << refused.error;
  }
}

TEST(OptionsTest, AcceptsBothValueSpellingsAndSingleDash) {
  const ParsedOptions parsed = parseOptions(
      {"--kubeconfig=/tmp/kc", "--metrics-bind-address", "127.0.0.1:9090", "-leader-elect",
       "--max-concurrent-reconciles=4", "--log-format", "text", "--namespace=ops"});
  ASSERT_EQ(parsed.outcome, Outcome::kRun) << parsed.error;
  EXPECT_EQ(parsed.options.kubeconfig, "/tmp/kc");
  EXPECT_EQ(parsed.options.metricsBindAddress, "127.0.0.1:9090");
  EXPECT_TRUE(parsed.options.leaderElect);
  EXPECT_EQ(parsed.options.maxConcurrentReconciles, 4);
  EXPECT_EQ(parsed.options.logFormat, util::LogFormat::kText);
  EXPECT_EQ(parsed.options.namespace_, "ops");
}

TEST(OptionsTest, GracefulShutdownTimeoutIsAGoDuration) {
  using std::chrono::milliseconds;
  EXPECT_EQ(parseOptions({}).options.gracefulShutdownTimeout, std::chrono::seconds(330));
  const ParsedOptions parsed = parseOptions({"--graceful-shutdown-timeout=5m30s"});
  ASSERT_EQ(parsed.outcome, Outcome::kRun) << parsed.error;
  EXPECT_EQ(parsed.options.gracefulShutdownTimeout, std::chrono::seconds(330));
  EXPECT_EQ(parseDuration("0"), milliseconds(0));
  EXPECT_EQ(parseDuration("1500ms"), milliseconds(1500));
  EXPECT_EQ(parseDuration("1h2m3s"), milliseconds(3723000));
  for (const char* bad : {"", "30", "-5s", "5x", "s", "1.5s", "5m30"}) {
    EXPECT_FALSE(parseDuration(bad)) << bad;
  }
  const ParsedOptions wrong = parseOptions({"--graceful-shutdown-timeout", "soon"});
  EXPECT_EQ(wrong.outcome, Outcome::kError);
  EXPECT_NE(wrong.error.find("--graceful-shutdown-timeout"), std::string::npos) << wrong.error;
}

TEST(OptionsTest, BoolFlagTakesExplicitFalse) {
  const ParsedOptions parsed = parseOptions({"--leader-elect=true", "--leader-elect=false"});
  ASSERT_EQ(parsed.outcome, Outcome::kRun);
  EXPECT_FALSE(parsed.options.leaderElect);
}

TEST(OptionsTest, HelpWins) {
  EXPECT_EQ(parseOptions({"--log-format=text", "--help"}).outcome, Outcome::kHelp);
  EXPECT_EQ(parseOptions({"-h"}).outcome, Outcome::kHelp);
}

TEST(OptionsTest, BadInputNamesTheFlagOnOneLine) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {{"--no-such-flag"}, "--no-such-flag"},
      {{"--max-concurrent-reconciles=0"}, "--max-concurrent-reconciles"},
      {{"--max-concurrent-reconciles=two"}, "--max-concurrent-reconciles"},
      {{"--log-format=yaml"}, "--log-format"},
      {{"--log-level=loud"}, "--log-level"},
      {{"--leader-elect=maybe"}, "--leader-elect"},
      {{"--metrics-bind-address=8080"}, "--metrics-bind-address"},
      {{"--kubeconfig"}, "--kubeconfig"},
      {{"stray"}, "stray"},
  };
  for (const Case& c : cases) {
    const ParsedOptions parsed = parseOptions(c.args);
    EXPECT_EQ(parsed.outcome, Outcome::kError) << c.args.front();
    EXPECT_NE(parsed.error.find(c.mentions), std::string::npos) << parsed.error;
    EXPECT_EQ(parsed.error.find('\n'), std::string::npos) << parsed.error;
  }
}

TEST(OptionsTest, UsageListsEveryFlagOfTheContract) {
  const std::string text = usage("envop-controller");
  for (const char* flag :
       {"--kubeconfig", "--metrics-bind-address", "--health-probe-bind-address", "--leader-elect",
        "--leader-election-namespace", "--leader-election-id", "--max-concurrent-reconciles",
        "--max-concurrent-helm", "--log-format", "--log-level", "--namespace", "--help"}) {
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace envop::app
