// The pure parts of the helm driver (argv building, redaction, trimming, parsing) and its
// process runner against /bin tools; the real helm is exercised in test/integration.
#include "controller/helm/helm_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "controller/helm/helm_args.h"
#include "controller/helm/helm_output.h"
#include "controller/helm/helm_process.h"
#include "controller/util/metrics.h"

namespace envop::helm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

using Argv = std::vector<std::string>;

TEST(HelmArgs, OciReferenceWithVersionAndPlainHttp) {
  ChartArgs c = chartArgs(
      {.reference = "oci://127.0.0.1:5000/charts/web", .version = "1.2.3", .plainHttp = true});
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.source, ChartSource::kOci);
  EXPECT_THAT(c.argv,
              ElementsAre("oci://127.0.0.1:5000/charts/web", "--version", "1.2.3", "--plain-http"));
}

TEST(HelmArgs, NameUnderOciRepository) {
  ChartArgs c = chartArgs({.reference = "web", .repoUrl = "oci://registry.example/charts/"});
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.source, ChartSource::kOci);
  EXPECT_THAT(c.argv, ElementsAre("oci://registry.example/charts/web"));
}

TEST(HelmArgs, HttpsRepositoryIgnoresPlainHttp) {
  ChartArgs c = chartArgs({.reference = "nginx",
                           .repoUrl = "https://charts.example/stable",
                           .version = "^15",
                           .plainHttp = true});
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.source, ChartSource::kRepository);
  EXPECT_THAT(c.argv,
              ElementsAre("nginx", "--repo", "https://charts.example/stable", "--version", "^15"));
}

TEST(HelmArgs, LocalPath) {
  ChartArgs c = chartArgs({.reference = "/charts/web"});
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.source, ChartSource::kLocal);
  EXPECT_THAT(c.argv, ElementsAre("/charts/web"));
  EXPECT_TRUE(chartArgs({.reference = "./web"}).ok());
  // As resolveChart reads a release's chart: a relative path without "./" is local too.
  ChartArgs relative = chartArgs({.reference = "charts/web"});
  ASSERT_TRUE(relative.ok()) << relative.error;
  EXPECT_EQ(relative.source, ChartSource::kLocal);
}

TEST(HelmArgs, ChartArchiveUrl) {
  ChartArgs c = chartArgs({.reference = "https://charts.example/stable/web-1.2.3.tgz"});
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.source, ChartSource::kRepository);
  EXPECT_THAT(c.argv, ElementsAre("https://charts.example/stable/web-1.2.3.tgz"));
  EXPECT_FALSE(chartArgs({.reference = "https://x/web-1.tgz", .repoUrl = "https://x"}).ok());
}

TEST(HelmArgs, RegistryConfigGoesToEveryChartCommand) {
  const ChartRef chart{.reference = "oci://r.example/p/web",
                       .version = "1.0.0",
                       .registryConfig = "/state/registry/pro.json"};
  EXPECT_EQ(showChartArgs(chart).argv,
            (Argv{"show", "chart", "oci://r.example/p/web", "--version", "1.0.0",
                  "--registry-config", "/state/registry/pro.json"}));
  EXPECT_EQ(pullArgs(chart, "/tmp/d").argv,
            (Argv{"pull", "oci://r.example/p/web", "--version", "1.0.0", "--registry-config",
                  "/state/registry/pro.json", "--destination", "/tmp/d"}));
  Args upgrade = upgradeInstallArgs("web", "ns", chart, "", {.wait = false}, 60s);
  ASSERT_TRUE(upgrade.ok()) << upgrade.error;
  EXPECT_THAT(upgrade.argv, ::testing::Contains("/state/registry/pro.json"));
  EXPECT_FALSE(chartArgs({.reference = "/c", .registryConfig = "--debug"}).ok());
  EXPECT_EQ(registryLoginArgs("r.example", "robot", false, false, "/state/registry/pro.json").argv,
            (Argv{"registry", "login", "r.example", "--username", "robot", "--password-stdin",
                  "--registry-config", "/state/registry/pro.json"}));
  EXPECT_FALSE(registryLoginArgs("r.example", "robot", false, false, "-x").ok());
}

TEST(HelmArgs, RefusesFlagInjectionAndUnresolvableNames) {
  EXPECT_FALSE(chartArgs({.reference = "--post-renderer=/bin/sh"}).ok());
  EXPECT_FALSE(chartArgs({.reference = "/c", .version = "--devel"}).ok());
  EXPECT_FALSE(chartArgs({.reference = "/c", .version = "1.0 --devel"}).ok());
  EXPECT_FALSE(chartArgs({.reference = "web"}).ok());  // no repository to resolve under
  EXPECT_FALSE(chartArgs({.reference = "a/b", .repoUrl = "oci://r/charts"}).ok());
  EXPECT_FALSE(chartArgs({.reference = "oci://r/c", .repoUrl = "https://x"}).ok());
  EXPECT_FALSE(chartArgs({.reference = "web", .repoUrl = "ftp://x"}).ok());
}

TEST(HelmArgs, ReleaseAndNamespaceNames) {
  EXPECT_TRUE(isValidReleaseName("web-1"));
  EXPECT_TRUE(isValidReleaseName("web.v2"));
  EXPECT_FALSE(isValidReleaseName(""));
  EXPECT_FALSE(isValidReleaseName("-web"));
  EXPECT_FALSE(isValidReleaseName("Web"));
  EXPECT_FALSE(isValidReleaseName("a..b"));
  EXPECT_FALSE(isValidReleaseName(std::string(54, 'a')));
  EXPECT_TRUE(isValidNamespace(std::string(63, 'a')));
  EXPECT_FALSE(isValidNamespace("a.b"));
  EXPECT_FALSE(statusArgs("web", "--all-namespaces").ok());
}

TEST(HelmArgs, UpgradeInstall) {
  Args a = upgradeInstallArgs("web", "team-a", {.reference = "/charts/web", .version = "0.1.0"},
                              "/state/tmp/values-1.json",
                              {.wait = true, .atomic = true, .createNamespace = true}, 300s);
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.argv, (Argv{"upgrade", "web", "/charts/web", "--version", "0.1.0", "--install",
                          "--namespace", "team-a", "--output", "json", "--values",
                          "/state/tmp/values-1.json", "--history-max", "10", "--timeout", "300s",
                          "--wait", "--atomic", "--create-namespace"}));
  Args b = upgradeInstallArgs("web", "ns", {.reference = "/c"}, "", {.wait = false, .timeout = 45s},
                              300s);
  EXPECT_EQ(b.argv, (Argv{"upgrade", "web", "/c", "--install", "--namespace", "ns", "--output",
                          "json", "--history-max", "10", "--timeout", "45s"}));
  EXPECT_FALSE(upgradeInstallArgs("Bad", "ns", {.reference = "/c"}, "", {}, 1s).ok());
}

TEST(HelmArgs, OtherCommands) {
  EXPECT_EQ(uninstallArgs("web", "ns", true, 60s).argv,
            (Argv{"uninstall", "web", "--namespace", "ns", "--timeout", "60s", "--wait"}));
  EXPECT_EQ(rollbackArgs("web", "ns", 1, false, 60s).argv,
            (Argv{"rollback", "web", "1", "--namespace", "ns", "--timeout", "60s"}));
  EXPECT_FALSE(rollbackArgs("web", "ns", -1, false, 60s).ok());
  EXPECT_EQ(statusArgs("web", "ns").argv,
            (Argv{"status", "web", "--namespace", "ns", "--output", "json"}));
  EXPECT_EQ(historyArgs("web", "ns").argv,
            (Argv{"history", "web", "--namespace", "ns", "--output", "json"}));
  EXPECT_EQ(manifestArgs("web", "ns").argv, (Argv{"get", "manifest", "web", "--namespace", "ns"}));
  EXPECT_EQ(valuesArgs("web", "ns").argv,
            (Argv{"get", "values", "web", "--namespace", "ns", "--output", "json"}));
  EXPECT_EQ(listArgs("ns").argv,
            (Argv{"list", "--namespace", "ns", "--all", "--output", "json", "--max", "0"}));
  EXPECT_EQ(showChartArgs({.reference = "oci://r/c", .version = "1.0.0", .plainHttp = true}).argv,
            (Argv{"show", "chart", "oci://r/c", "--version", "1.0.0", "--plain-http"}));
  EXPECT_EQ(pullArgs({.reference = "oci://r/c"}, "/tmp/d").argv,
            (Argv{"pull", "oci://r/c", "--destination", "/tmp/d"}));
  EXPECT_FALSE(pullArgs({.reference = "/local"}, "/tmp/d").ok());
  EXPECT_EQ(helmDuration(1500ms), "1500ms");
}

TEST(HelmArgs, RegistryLoginNeverCarriesThePassword) {
  Args a = registryLoginArgs("127.0.0.1:5000", "robot$ci", true, false);
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.argv, (Argv{"registry", "login", "127.0.0.1:5000", "--username", "robot$ci",
                          "--password-stdin", "--plain-http"}));
  EXPECT_FALSE(registryLoginArgs("https://r.example", "u", false, false).ok());
  EXPECT_FALSE(registryLoginArgs("r.example", "--password=x", false, false).ok());
}

TEST(HelmOutput, RedactsEverySecretLongestFirst) {
  EXPECT_EQ(redact("login s3cret and s3cret-token failed", {"s3cret", "s3cret-token", ""}),
            "login *** and *** failed");
  EXPECT_EQ(redact("no secret here", {}), "no secret here");
  EXPECT_EQ(redact("aaaa", {"aa"}), "******");
}

TEST(HelmOutput, TrimTailKeepsTheLastLines) {
  EXPECT_EQ(trimTail("Error: boom\n\n  "), "Error: boom");
  std::string noisy;
  for (int i = 0; i < 500; ++i) noisy += "warning line " + std::to_string(i) + "\n";
  noisy += "Error: INSTALLATION FAILED: template: web/templates/cm.yaml:4: bad\n";
  const std::string t = trimTail(noisy);
  EXPECT_LE(t.size(), kStderrTailBytes);
  EXPECT_EQ(t.rfind("...warning line", 0), 0u) << t.substr(0, 40);
  EXPECT_THAT(t, HasSubstr("Error: INSTALLATION FAILED"));
  // One long line of multi-byte characters is cut on a character boundary.
  std::string wide;
  for (int i = 0; i < 2000; ++i) wide += "é";
  const std::string w = trimTail(wide, 101);
  EXPECT_LE(w.size(), 101u);
  EXPECT_EQ(w.substr(0, 3), "...");
  EXPECT_EQ(static_cast<unsigned char>(w[3]), 0xC3);
}

TEST(HelmOutput, ParsesDigestLine) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(parseDigest("Pulled: r/c:1.0.0\nDigest: " + digest + "\n"), digest);
  EXPECT_EQ(parseDigest("Digest: sha256:short\n"), std::nullopt);
  EXPECT_EQ(parseDigest("no digest"), std::nullopt);
}

TEST(HelmOutput, ParsesStatus) {
  const auto s = parseStatus(R"({"name":"web","namespace":"team-a","version":3,
    "info":{"status":"pending-upgrade","description":"Upgrade in progress"},
    "chart":{"metadata":{"name":"web","version":"0.2.0","appVersion":"1.0"}},
    "config":{"replicas":2}})");
  ASSERT_TRUE(s.value) << s.error;
  EXPECT_EQ(s.value->name, "web");
  EXPECT_EQ(s.value->ns, "team-a");
  EXPECT_EQ(s.value->revision, 3);
  EXPECT_EQ(s.value->status, "pending-upgrade");
  EXPECT_TRUE(isPendingStatus(s.value->status));
  EXPECT_FALSE(isPendingStatus("deployed"));
  EXPECT_EQ(s.value->chartVersion, "0.2.0");
  EXPECT_EQ(s.value->config["replicas"], 2);
  EXPECT_FALSE(parseStatus("not json").value);
  EXPECT_FALSE(parseStatus(R"({"name":"web"})").value);
}

TEST(HelmOutput, ParsesHistoryListAndValues) {
  const auto h = parseHistory(
      R"([{"revision":1,"updated":"t1","status":"superseded","chart":"web-0.1.0","app_version":"1","description":"Install complete"},
          {"revision":2,"updated":"t2","status":"deployed","chart":"web-0.1.0","app_version":"1","description":"Upgrade complete"}])");
  ASSERT_TRUE(h.value) << h.error;
  ASSERT_EQ(h.value->size(), 2u);
  EXPECT_EQ((*h.value)[1].revision, 2);
  EXPECT_EQ((*h.value)[0].status, "superseded");
  EXPECT_EQ((*h.value)[0].chart, "web-0.1.0");
  // list prints the revision as a string.
  const auto l = parseList(
      R"([{"name":"web","namespace":"ns","revision":"4","status":"failed","chart":"web-0.1.0"}])");
  ASSERT_TRUE(l.value) << l.error;
  EXPECT_EQ((*l.value)[0].revision, 4);
  EXPECT_EQ((*l.value)[0].status, "failed");
  EXPECT_EQ(*parseValues("null").value, nlohmann::json::object());
  EXPECT_EQ((*parseValues(R"({"a":1})").value)["a"], 1);
  EXPECT_FALSE(parseValues("[1]").value);
  EXPECT_FALSE(parseHistory("{}").value);
}

TEST(HelmOutput, ParsesChartYaml) {
  const auto c = parseChartYaml(
      "apiVersion: v2\nname: web\nversion: \"0.3.0\"\nappVersion: '2.1'\n"
      "maintainers:\n- name: someone\n  version: nested\ndependencies:\n  - name: dep\n");
  ASSERT_TRUE(c.value) << c.error;
  EXPECT_EQ(c.value->name, "web");
  EXPECT_EQ(c.value->version, "0.3.0");
  EXPECT_EQ(c.value->appVersion, "2.1");
  EXPECT_FALSE(parseChartYaml("apiVersion: v2\n").value);
}

TEST(HelmProcess, PassesStdinAndCapturesBothPipes) {
  const ProcessOutput p = runProcess("/bin/cat", {}, {}, "from stdin", 10s);
  EXPECT_TRUE(p.error.empty()) << p.error;
  EXPECT_FALSE(p.timedOut);
  EXPECT_EQ(p.exitCode, 0);
  EXPECT_EQ(p.out, "from stdin");
  const ProcessOutput f = runProcess("/bin/ls", {"/nonexistent-envop"}, {}, "", 10s);
  EXPECT_NE(f.exitCode, 0);
  EXPECT_THAT(f.err, HasSubstr("nonexistent-envop"));
}

TEST(HelmProcess, KillsTheWholeGroupAtTheDeadline) {
  // A child that forks a grandchild holding the pipes: both must die.
  const ProcessOutput p =
      runProcess("/bin/sh", {"-c", "sleep 30 & echo $!; sleep 30"}, {}, "", 300ms);
  EXPECT_TRUE(p.timedOut);
  EXPECT_LT(p.took, 5s);
  const pid_t grandchild = std::stoi(p.out);
  // Killed but perhaps not yet reaped by its new parent: a zombie counts as dead.
  auto alive = [grandchild] {
    std::ifstream stat("/proc/" + std::to_string(grandchild) + "/stat");
    std::string pid, comm, state;
    return static_cast<bool>(stat >> pid >> comm >> state) && state != "Z";
  };
  for (int i = 0; i < 50 && alive(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(alive()) << "grandchild " << grandchild << " survived";
}

TEST(HelmProcess, ReportsASpawnFailureWithoutThrowing) {
  const ProcessOutput p = runProcess("/nonexistent/helm", {"version"}, {}, "", 1s);
  EXPECT_FALSE(p.error.empty());
}

TEST(HelmDriver, IsolatesHelmStateAndUsesTheControllerKubeconfig) {
  ::setenv("HELM_CONFIG_HOME", "/root/.config/helm", 1);
  HelmDriver d({.kubeconfig = "/etc/envop/kubeconfig", .stateDir = "/var/lib/envop/helm"});
  const auto env = d.childEnvironment();
  ::unsetenv("HELM_CONFIG_HOME");
  EXPECT_EQ(env.at("HELM_CONFIG_HOME"), "/var/lib/envop/helm/config");
  EXPECT_EQ(env.at("HELM_CACHE_HOME"), "/var/lib/envop/helm/cache");
  EXPECT_EQ(env.at("HELM_DATA_HOME"), "/var/lib/envop/helm/data");
  EXPECT_EQ(env.at("HELM_REGISTRY_CONFIG"), "/var/lib/envop/helm/config/registry/config.json");
  EXPECT_EQ(env.at("KUBECONFIG"), "/etc/envop/kubeconfig");
  // Not $HOME/.kube/cache: read-only in the image, a human's own on a workstation.
  EXPECT_EQ(env.at("KUBECACHEDIR"), "/var/lib/envop/helm/cache/kube");
}

TEST(HelmDriver, FailsWithoutThrowingAndCountsEveryLabelSet) {
  const auto dir = std::filesystem::temp_directory_path() / "envop-helm-unit";
  HelmDriver d({.helmBinary = "/nonexistent/helm", .stateDir = dir.string()});
  const auto s = d.status("web", "ns");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.result.message(), HasSubstr("/nonexistent/helm"));
  const auto bad = d.status("Bad_Name", "ns");
  EXPECT_THAT(bad.result.message(), HasSubstr("invalid release name"));
  EXPECT_EQ(std::filesystem::status(dir).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  const std::string text =
      prometheus::TextSerializer().Serialize(util::metricsRegistry().Collect());
  EXPECT_THAT(text, HasSubstr(R"(envop_helm_operations_total{op="rollback",result="timeout"} 0)"));
  // Present, whatever other tests in this process (ChartSource's pulls) have counted.
  EXPECT_THAT(text, HasSubstr(R"(envop_helm_operation_duration_seconds_count{op="pull"} )"));
  EXPECT_THAT(text,
              Not(HasSubstr(R"(envop_helm_operations_total{op="status",result="failure"} 0)")));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace envop::helm
