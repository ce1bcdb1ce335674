// The releases part's actions against a helm that is no process (test/fakes/fake_helm_runner.h):
// which helm command each one runs for which state, and what it makes of helm's answer.
#include "controller/environment/release_actions.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "test/fakes/fake_helm_runner.h"

namespace envop::environment {
namespace {

namespace fs = std::filesystem;
using envop::testing::FakeHelmRunner;

class ReleaseActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("envop-release-actions-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    helm_ =
        std::make_unique<helm::HelmDriver>(helm::HelmConfig{.helmBinary = "/fake/helm",
                                                            .stateDir = (root_ / "state").string(),
                                                            .runner = fake_->runner()});
  }
  void TearDown() override { fs::remove_all(root_); }

  // The one call of the fake (the actions run exactly one helm command each).
  FakeHelmRunner::Call onlyCall() {
    const auto calls = fake_->calls();
    EXPECT_EQ(calls.size(), 1u);
    return calls.empty() ? FakeHelmRunner::Call{} : calls.front();
  }

  std::shared_ptr<FakeHelmRunner> fake_ = std::make_shared<FakeHelmRunner>();
  fs::path root_;
  std::unique_ptr<helm::HelmDriver> helm_;
};

TEST_F(ReleaseActionsTest, ApplyIsOneUpgradeInstallAndReadsTheRevisionHelmMade) {
  fake_->on("upgrade", [](const FakeHelmRunner::Call&) {
    return FakeHelmRunner::ok(
        R"({"name":"gateway","namespace":"pro","version":4,"info":{"status":"deployed"},)"
        R"("chart":{"metadata":{"name":"gateway","version":"1.4.2"}}})");
  });
  const ActionOutcome out = applyRelease(
      *helm_, {.name = "gateway",
               .ns = "pro",
               .chart = {.reference = "oci://harbor.example.com/sc/gateway", .version = "1.4.2"},
               .values = {{"replicaCount", 3}},
               .options = {.wait = true, .timeout = std::chrono::seconds(90)}});
  EXPECT_TRUE(out.ok) << out.message;
  EXPECT_EQ(out.revision, 4);
  EXPECT_EQ(out.status, "deployed");
  EXPECT_EQ(out.chartVersion, "1.4.2");
  const auto call = onlyCall();
  EXPECT_TRUE(call.has("--install"));
  EXPECT_TRUE(call.has("gateway"));
  EXPECT_EQ(call.flag("--namespace"), "pro");
  EXPECT_EQ(call.flag("--version"), "1.4.2");
  EXPECT_TRUE(call.has("--wait"));
}

TEST_F(ReleaseActionsTest, ApplyThatFailsSaysWhatHelmSaid) {
  fake_->on("upgrade", [](const FakeHelmRunner::Call&) {
    return FakeHelmRunner::fail("Error: UPGRADE FAILED: context deadline exceeded\n");
  });
  const ActionOutcome out = applyRelease(
      *helm_, {.name = "orders", .ns = "pro", .chart = {.reference = "oci://h/sc/orders"}});
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.message.find("context deadline exceeded"), std::string::npos) << out.message;
  EXPECT_EQ(out.revision, 0);
}

TEST_F(ReleaseActionsTest, UnlockOfAnInstallUninstallsAndOfAnUpgradeRollsBackToTheOneBefore) {
  fake_->on("uninstall", [](const FakeHelmRunner::Call&) { return FakeHelmRunner::ok(); });
  fake_->on("rollback", [](const FakeHelmRunner::Call&) { return FakeHelmRunner::ok(); });

  ActionOutcome out =
      unlockRelease(*helm_, "orders", "pro", {.revision = 1, .status = "pending-install"});
  EXPECT_TRUE(out.ok) << out.message;
  EXPECT_EQ(onlyCall().argv.front(), "uninstall");
  EXPECT_NE(out.message.find("pending-install"), std::string::npos) << out.message;

  fake_->clear();
  out = unlockRelease(*helm_, "orders", "pro", {.revision = 7, .status = "pending-upgrade"});
  EXPECT_TRUE(out.ok) << out.message;
  const auto call = onlyCall();
  ASSERT_GE(call.argv.size(), 3u);
  EXPECT_EQ(call.argv[0], "rollback");
  EXPECT_EQ(call.argv[1], "orders");
  EXPECT_EQ(call.argv[2], "6") << "a lock is undone to the revision before it";
  EXPECT_NE(out.message.find("rolled back to revision 6"), std::string::npos) << out.message;
}

TEST_F(ReleaseActionsTest, UnlockThatFailsSaysSo) {
  fake_->on("rollback", [](const FakeHelmRunner::Call&) {
    return FakeHelmRunner::fail("Error: the server is currently unable to handle the request\n");
  });
  const ActionOutcome out =
      unlockRelease(*helm_, "orders", "pro", {.revision = 3, .status = "pending-rollback"});
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.message.find("recovery failed"), std::string::npos) << out.message;
}

TEST_F(ReleaseActionsTest, RollbackGoesToThePreviousRevision) {
  fake_->on("rollback", [](const FakeHelmRunner::Call&) { return FakeHelmRunner::ok(); });
  const ActionOutcome out = rollbackRelease(*helm_, "orders", "pro");
  EXPECT_TRUE(out.ok);
  const auto call = onlyCall();
  ASSERT_GE(call.argv.size(), 3u);
  EXPECT_EQ(call.argv[2], "0") << "helm's 0 is the previous revision";
  EXPECT_EQ(call.flag("--namespace"), "pro");
}

TEST_F(ReleaseActionsTest, UninstallOfAReleaseAlreadyGoneIsDone) {
  fake_->on("uninstall", [](const FakeHelmRunner::Call&) {
    return FakeHelmRunner::fail(
        "Error: uninstall: Release not loaded: orders: release: not found\n");
  });
  EXPECT_TRUE(uninstallRelease(*helm_, "orders", "pro").ok);
  fake_->on("uninstall", [](const FakeHelmRunner::Call&) {
    return FakeHelmRunner::fail("Error: uninstallation completed with 1 error(s): timed out\n");
  });
  const ActionOutcome failed = uninstallRelease(*helm_, "orders", "pro");
  EXPECT_FALSE(failed.ok);
  EXPECT_NE(failed.message.find("uninstall failed"), std::string::npos) << failed.message;
}

}  // namespace
}  // namespace envop::environment
