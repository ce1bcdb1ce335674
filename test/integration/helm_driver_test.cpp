// HelmDriver against the real helm binary and the real local control plane: a release's whole
// life (install, upgrade, values, history, rollback, uninstall), a chart that fails to render,
// and a helm that hangs on a hook and must be killed. OCI registries are tested elsewhere.
#include "controller/helm/helm_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

namespace fs = std::filesystem;
using helm::HelmDriver;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

void writeFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A chart of one ConfigMap whose data comes from .Values; `extra` adds templates.
fs::path makeChart(const fs::path& dir, const std::map<std::string, std::string>& extra = {}) {
  writeFile(dir / "Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.0\"\n");
  writeFile(dir / "values.yaml", "greeting: hello\n");
  writeFile(dir / "templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
            "data:\n  greeting: {{ .Values.greeting | quote }}\n");
  for (const auto& [name, text] : extra) writeFile(dir / "templates" / name, text);
  return dir;
}

class HelmDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const LocalCluster& cluster = LocalCluster::get();
    root_ = fs::temp_directory_path() / uniqueName("envop-helm");
    ns_ = uniqueName("helm");
    driver_ = std::make_unique<HelmDriver>(helm::HelmConfig{
        .helmBinary = cluster.binDir() + "/helm",
        .kubeconfig = cluster.kubeconfig(),
        .stateDir = (root_ / "state").string(),
        .defaultTimeout = 60s,
    });
  }
  void TearDown() override {
    LocalCluster::get().kubectl({"delete", "namespace", ns_, "--ignore-not-found", "--wait=false"});
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::string configMapGreeting(const std::string& release) const {
    const CommandResult r = LocalCluster::get().kubectl(
        {"get", "configmap", release + "-settings", "-n", ns_, "-o", "jsonpath={.data.greeting}"});
    return r.exitCode == 0 ? r.out : "<" + r.err + ">";
  }

  fs::path root_;
  std::string ns_;
  std::unique_ptr<HelmDriver> driver_;
};

TEST_F(HelmDriverTest, ReleaseLifecycle) {
  const helm::ChartRef chart{.reference = makeChart(root_ / "chart").string()};

  auto installed = driver_->upgradeInstall("web", ns_, chart, {{"greeting", "one"}},
                                           {.wait = true, .createNamespace = true});
  ASSERT_TRUE(installed.ok()) << installed.result.message();
  EXPECT_EQ(installed.value.revision, 1);
  EXPECT_EQ(installed.value.status, "deployed");
  EXPECT_EQ(installed.value.chartName, "web");
  EXPECT_EQ(installed.value.chartVersion, "0.1.0");
  EXPECT_EQ(installed.value.config, (nlohmann::json{{"greeting", "one"}}));
  EXPECT_EQ(configMapGreeting("web"), "one");
  // The values file lives only for the command.
  EXPECT_TRUE(fs::is_empty(root_ / "state" / "tmp"));

  auto status = driver_->status("web", ns_);
  ASSERT_TRUE(status.ok()) << status.result.message();
  EXPECT_EQ(status.value.status, "deployed");
  EXPECT_EQ(status.value.revision, 1);

  auto upgraded = driver_->upgradeInstall("web", ns_, chart, {{"greeting", "two"}});
  ASSERT_TRUE(upgraded.ok()) << upgraded.result.message();
  EXPECT_EQ(upgraded.value.revision, 2);
  EXPECT_EQ(configMapGreeting("web"), "two");

  auto values = driver_->getValues("web", ns_);
  ASSERT_TRUE(values.ok()) << values.result.message();
  EXPECT_EQ(values.value, (nlohmann::json{{"greeting", "two"}}));

  auto manifest = driver_->getManifest("web", ns_);
  ASSERT_TRUE(manifest.ok()) << manifest.result.message();
  EXPECT_THAT(manifest.value, HasSubstr("name: web-settings"));
  EXPECT_THAT(manifest.value, HasSubstr("greeting: \"two\""));

  auto history = driver_->history("web", ns_);
  ASSERT_TRUE(history.ok()) << history.result.message();
  ASSERT_EQ(history.value.size(), 2u);
  EXPECT_EQ(history.value[0].status, "superseded");
  EXPECT_EQ(history.value[1].status, "deployed");
  EXPECT_EQ(history.value[1].chart, "web-0.1.0");

  auto list = driver_->list(ns_);
  ASSERT_TRUE(list.ok()) << list.result.message();
  ASSERT_EQ(list.value.size(), 1u);
  EXPECT_EQ(list.value[0].name, "web");
  EXPECT_EQ(list.value[0].revision, 2);

  auto rolledBack = driver_->rollback("web", ns_, 1);
  ASSERT_TRUE(rolledBack.ok) << rolledBack.message();
  status = driver_->status("web", ns_);
  ASSERT_TRUE(status.ok()) << status.result.message();
  EXPECT_EQ(status.value.revision, 3);
  EXPECT_EQ(status.value.status, "deployed");
  EXPECT_EQ(configMapGreeting("web"), "one");

  auto shown = driver_->showChart(chart);
  ASSERT_TRUE(shown.ok()) << shown.result.message();
  EXPECT_EQ(shown.value.name, "web");
  EXPECT_EQ(shown.value.version, "0.1.0");
  EXPECT_EQ(shown.value.digest, "");  // only OCI charts have one

  auto removed = driver_->uninstall("web", ns_, true);
  ASSERT_TRUE(removed.ok) << removed.message();
  EXPECT_THAT(configMapGreeting("web"), HasSubstr("NotFound"));
  status = driver_->status("web", ns_);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(status.result.releaseNotFound) << status.result.message();
}

TEST_F(HelmDriverTest, BadTemplateFailsWithATrimmedRedactedMessage) {
  // `required` fails rendering with a message that (here) carries a configured secret.
  const helm::ChartRef chart{
      .reference = makeChart(root_ / "chart", {{"broken.yaml",
                                                "{{ required (printf \"token %s needs a "
                                                "port\" .Values.token) .Values.port }}\n"}})
                       .string()};
  driver_->addSecret("hunter2-token");
  auto r = driver_->upgradeInstall("broken", ns_, chart, {{"token", "hunter2-token"}},
                                   {.wait = false, .createNamespace = true});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.result.timedOut);
  EXPECT_NE(r.result.exitCode, 0);
  EXPECT_LE(r.result.stderrTrimmed.size(), helm::kStderrTailBytes);
  EXPECT_THAT(r.result.message(), HasSubstr("templates/broken.yaml"));
  EXPECT_THAT(r.result.message(), HasSubstr("token *** needs a port"));
  EXPECT_THAT(r.result.message(), Not(HasSubstr("hunter2")));
}

TEST_F(HelmDriverTest, HungHookIsKilledAtTheDeadline) {
  // The hook Job's pod asks for a node that does not exist, so it never runs, the Job never
  // completes and helm waits on it for its whole --timeout; the driver kills it first.
  const std::string job =
      "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-hook\n"
      "  annotations:\n    helm.sh/hook: pre-install\nspec:\n  template:\n    spec:\n"
      "      restartPolicy: Never\n      nodeSelector:\n        envop.io/no-such-node: \"true\"\n"
      "      containers:\n      - name: wait\n"
      "        image: busybox\n        command: [\"sleep\", \"3600\"]\n";
  const helm::ChartRef chart{.reference =
                                 makeChart(root_ / "chart", {{"hook.yaml", job}}).string()};
  auto r = driver_->upgradeInstall(
      "hung", ns_, chart, {},
      {.wait = true, .timeout = 120s, .createNamespace = true, .killAfter = 3s});
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.result.timedOut);
  EXPECT_GE(r.result.took, 3s);
  EXPECT_LT(r.result.took, 15s);
  EXPECT_THAT(r.result.message(), HasSubstr("killed"));
  // helm recorded the release before running the hook; killed, it stays pending.
  auto status = driver_->status("hung", ns_);
  ASSERT_TRUE(status.ok()) << status.result.message();
  EXPECT_EQ(status.value.status, "pending-install");
  EXPECT_TRUE(helm::isPendingStatus(status.value.status));
}

}  // namespace
}  // namespace envop::testing
