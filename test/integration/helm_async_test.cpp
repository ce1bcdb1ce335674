// No Environment waits behind another's helm: ten stages each install a release whose pods
// never become Ready (`wait: true`, timeout 5m: the chart's nodeSelector matches no kwok node,
// so its pods stay Pending and helm waits out its five minutes), with one reconcile worker —
// the old default, where a helm that held the worker kept every other Environment waiting.
// A new stage's namespace part must then reach Ready while all ten are still installing.
// The time it took is a benchmark figure (bench/README.md), printed, never asserted.
#include <iostream>

#include "test/support/releases_fixture.h"

namespace envop::testing {
namespace {

constexpr int kBusy = 10;

std::string busyName(int i) { return "busy-" + std::to_string(i); }

class HelmAsyncTest : public ReleasesTest {
 protected:
  std::string busyEnvironment(int i) {
    const std::string name = busyName(i);
    return "apiVersion: envop.io/v1alpha1\nkind: Environment\nmetadata: {name: " + name +
           "}\nspec:\n  stage: test\n  namespace: {name: " + name +
           "}\n  charts:\n    repository: " + registry_->repository() +
           "\n    plainHTTP: true\n  releases:\n"
           "    - name: orders\n      chart: orders\n      version: 1.0.0\n"
           "      wait: true\n      timeout: 5m\n"
           "      values: {nodeSelector: {envop.io/no-such-node: \"true\"}}\n";
  }
  Json conditionOfEnv(const std::string& name, const std::string& type) {
    return conditionOf(get({"environment", name}), type);
  }
  // ReleasesReady=False because its install is running or queued behind --max-concurrent-helm.
  bool installing(const std::string& name) {
    const Json c = conditionOfEnv(name, "ReleasesReady");
    if (!c.is_object() || c.value("status", "") != "False") return false;
    const std::string reason = c.value("reason", "");
    return (reason == "Installing" || reason == "HelmRunQueued") &&
           c.value("message", "").find("release orders") != std::string::npos;
  }
  double runs(const std::string& state) {
    return sumSamples(controller_->metrics(), "envop_helm_runs", {"state=\"" + state + "\""});
  }
};

TEST_F(HelmAsyncTest, ANewEnvironmentIsReadyWhileTenOthersWaitForTheirHelm) {
  startController({"--max-concurrent-reconciles=1"});
  std::string all;
  for (int i = 0; i < kBusy; ++i) all += (i ? "---\n" : "") + busyEnvironment(i);
  ASSERT_EQ(apply(all).exitCode, 0);

  // All ten installs started (eight running, at the default --max-concurrent-helm, two queued
  // behind them and reported as such), and the rest of each stage reconciled as usual.
  ASSERT_TRUE(within(180s,
                     [&] {
                       for (int i = 0; i < kBusy; ++i) {
                         if (!installing(busyName(i))) return false;
                       }
                       return runs("running") == 8 && runs("queued") == 2;
                     }))
      << diagnostics() << "\nbusy-0: " << get({"environment", busyName(0)}).dump();
  int queued = 0;
  for (int i = 0; i < kBusy; ++i) {
    const Json env = get({"environment", busyName(i)});
    EXPECT_EQ(conditionOf(env, "NamespaceReady").value("status", ""), "True") << env.dump();
    EXPECT_EQ(conditionOf(env, "Ready").value("status", ""), "False") << env.dump();
    const Json releases = conditionOf(env, "ReleasesReady");
    if (releases.value("reason", "") == "HelmRunQueued") {
      ++queued;
      EXPECT_NE(releases.value("message", "").find("queued behind --max-concurrent-helm=8"),
                std::string::npos)
          << releases.dump();
    } else {
      EXPECT_NE(releases.value("message", "").find("install of orders 1.0.0 running (helm --wait"),
                std::string::npos)
          << releases.dump();
    }
  }
  EXPECT_EQ(queued, 2);

  const auto created = std::chrono::steady_clock::now();
  ASSERT_EQ(apply("apiVersion: envop.io/v1alpha1\nkind: Environment\nmetadata: {name: fresh}\n"
                  "spec:\n  stage: test\n  namespace: {name: fresh}\n")
                .exitCode,
            0);
  // Bounded only against a hang: the figure that matters is printed below.
  ASSERT_TRUE(within(120s,
                     [&] {
                       const Json c = conditionOfEnv("fresh", "Ready");
                       return c.is_object() && c.value("status", "") == "True";
                     }))
      << get({"environment", "fresh"}).dump() << "\ncontroller log: " << controller_->log();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - created).count();
  // The order that matters: fresh is Ready while the ten still wait for their helm.
  EXPECT_EQ(conditionOfEnv("fresh", "NamespaceReady").value("status", ""), "True");
  for (int i = 0; i < kBusy; ++i) {
    EXPECT_TRUE(installing(busyName(i))) << get({"environment", busyName(i)}).dump()
                                         << "\n(fresh became Ready after " << seconds << " s)";
  }
  EXPECT_EQ(runs("running"), 8) << controller_->metrics();
  std::cout << "[bench] helm-async: a namespace-only Environment Ready in " << seconds
            << " s while " << kBusy << " others' helm installs (wait, 5m) ran\n";

  // Deleted while their installs run: queued runs are dropped, running helms killed (stage
  // test's namespaces go with the Environment), and the finalizers let go.
  std::vector<std::string> del = {"delete", "environment", "--wait=false"};
  for (int i = 0; i < kBusy; ++i) del.push_back(busyName(i));
  ASSERT_EQ(kubectl(del).exitCode, 0);
  ASSERT_TRUE(within(180s, [&] {
    for (int i = 0; i < kBusy; ++i) {
      if (kubectl({"get", "environment", busyName(i)}).exitCode == 0) return false;
    }
    return true;
  })) << controller_->log();
  EXPECT_TRUE(within(30s, [&] { return runs("running") == 0 && runs("queued") == 0; }))
      << controller_->metrics();
  // The helm children are gone, not left running against deleted namespaces.
  EXPECT_TRUE(within(30s, [&] {
    return runCommand({"pgrep", "-P", std::to_string(controller_->pid())}).exitCode != 0;
  })) << runCommand({"ps", "-o", "pid,args", "--ppid", std::to_string(controller_->pid())}).out;
}

}  // namespace
}  // namespace envop::testing
