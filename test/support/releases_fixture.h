// The fixture of the release tests: a control plane with kwok's data plane, a registry of
// the test's own holding test/charts/ as OCI artifacts, real helm, and the controller as a
// process. Each test has its own cluster, registry and controller, so that the helm
// revisions and the helm operations it counts are its own.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/process.hpp>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test/support/charts.h"
#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"

namespace envop::testing {

using Json = nlohmann::json;
using namespace std::chrono_literals;

inline constexpr const char* kEnv = "sc";
inline constexpr const char* kNs = "sc";

// Seconds since the epoch of an RFC 3339 time ("2026-01-02T03:04:05.123456789Z", or with a
// "+08:00" offset), as helm history and the API server write them; NaN when unparsable.
inline double epochSeconds(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nan("");
  double seconds = static_cast<double>(timegm(&tm));
  std::string rest;
  std::getline(in, rest);
  size_t i = 0;
  if (i < rest.size() && rest[i] == '.') {
    size_t j = i + 1;
    while (j < rest.size() && std::isdigit(static_cast<unsigned char>(rest[j]))) ++j;
    seconds += std::stod("0" + rest.substr(i, j - i));
    i = j;
  }
  if (i < rest.size() && (rest[i] == '+' || rest[i] == '-') && rest.size() >= i + 6) {
    const int sign = rest[i] == '+' ? 1 : -1;
    const int hours = std::stoi(rest.substr(i + 1, 2));
    const int minutes = std::stoi(rest.substr(i + 4, 2));
    seconds -= sign * (hours * 3600 + minutes * 60);
  }
  return seconds;
}

// The four-service stage of test (1) and (2). The spec lists the dependents first, so a
// controller that installs in list order rather than dependency order is caught.
// Two releases, and the first alone: for tests that take one out of the spec.
inline constexpr const char* kConfigServerAndRegistry = R"(
    - name: config-server
      chart: config-server
      version: 1.0.0
    - name: registry
      chart: registry
      version: 1.0.0
)";
inline constexpr const char* kConfigServerAlone = R"(
    - name: config-server
      chart: config-server
      version: 1.0.0
)";

inline constexpr const char* kStageReleases = R"(
    - name: gateway
      chart: gateway
      version: 1.0.0
      dependsOn: [config-server]
    - name: orders
      chart: orders
      version: 1.0.0
      dependsOn: [config-server]
      values: {replicaCount: 2}
    - name: registry
      chart: registry
      version: 1.0.0
    - name: config-server
      chart: config-server
      version: 1.0.0
)";

class ReleasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    registry_ = std::make_unique<TestRegistry>();
    helm_ = cluster_->helm();
    pushTestCharts(*registry_, helm_);
    // The controller runs `helm` by its default name: give it the cluster's.
    const std::string helmDir = std::filesystem::path(helm_).parent_path().string();
    const char* path = std::getenv("PATH");
    const std::string current = path == nullptr ? "" : path;
    if (current.rfind(helmDir + ":", 0) != 0) {
      ::setenv("PATH", (helmDir + ":" + current).c_str(), 1);
    }
    startController();
  }
  void TearDown() override {
    controller_.reset();
    cluster_.reset();
    registry_.reset();
  }

  // Starts (again) the controller with the default flags and `flags`.
  void startController(const std::vector<std::string>& flags = {}) {
    controller_.reset();
    controller_ =
        std::make_unique<ControllerProcess>("envop-releases", cluster_->kubeconfig(), flags);
    ASSERT_TRUE(within(60s, [&] { return controller_->probe("/readyz") == 200; }))
        << controller_->log();
  }

  CommandResult kubectl(const std::vector<std::string>& args) { return cluster_->kubectl(args); }

  // The chart registry goes away (SIGKILL, as a crashed or unreachable registry), and comes
  // back on the same address with the same storage.
  void stopRegistry() {
    const std::string pid = registryValue("REGISTRY_PID");
    ASSERT_FALSE(pid.empty());
    ::kill(std::stoi(pid), SIGKILL);
    ASSERT_TRUE(within(10s, [&] { return ::kill(std::stoi(pid), 0) != 0; }));
  }
  void restartRegistry() { ASSERT_NE(registry_->serveAgain(), 0) << "the registry did not answer"; }
  std::string registryValue(const std::string& key) {
    std::ifstream in(registry_->dir + "/registry.env");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    }
    return "";
  }

  // Notes of the events.k8s.io Events with this reason about the Environment.
  std::vector<std::string> eventNotes(const std::string& reason) {
    std::vector<std::string> notes;
    const Json events = get({"events.events.k8s.io", "-A", "--field-selector", "reason=" + reason});
    if (!events.is_object()) return notes;
    for (const Json& e : events.value("items", Json::array())) {
      if (e.value("regarding", Json::object()).value("name", "") == kEnv) {
        notes.push_back(e.value("note", ""));
      }
    }
    return notes;
  }
  bool anEventSays(const std::string& reason, const std::vector<std::string>& words) {
    for (const std::string& note : eventNotes(reason)) {
      bool all = true;
      for (const std::string& w : words) all = all && note.find(w) != std::string::npos;
      if (all) return true;
    }
    return false;
  }
  // Every helm command the controller ran, read-only ones included.
  double allHelmOps() {
    return sumSamples(controller_->metrics(), "envop_helm_operations_total", {});
  }
  Json get(const std::vector<std::string>& what) { return cluster_->get(what); }
  CommandResult apply(const std::string& manifest) { return cluster_->apply(manifest); }
  // The Environment `sc` with the given spec.releases (YAML list items, indented 4).
  CommandResult applyEnvironment(const std::string& releases) {
    return apply(std::string(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: )") +
                 kEnv + R"(}
spec:
  stage: test
  namespace: {name: )" +
                 kNs + R"(}
  charts:
    repository: )" +
                 registry_->repository() +
                 R"(
    plainHTTP: true
  values:
    global: {env: test}
  releases:)" + releases);
  }
  CommandResult patchEnvironment(const std::string& jsonPatch) {
    return kubectl({"patch", "environment", kEnv, "--type=json", "-p", jsonPatch});
  }
  // A failure message with what a human needs to see why.
  std::string diagnostics() {
    return "\nEnvironment: " + get({"environment", kEnv}).dump() +
           "\nhelm list: " + helm({"list", "-a", "-n", kNs, "-o", "json"}).out +
           "\ncontroller log: " + controller_->log();
  }

  // helm against the test's cluster, with helm's own state isolated in the cluster's dir.
  CommandResult helm(std::vector<std::string> args) {
    args.insert(args.begin(), helm_);
    args.insert(args.end(), {"--kubeconfig", cluster_->kubeconfig()});
    return runCommand(args, isolatedHelmEnv(cluster_->dir()));
  }
  // `helm history -o json`, oldest first; an empty array when the release does not exist.
  Json history(const std::string& release) {
    const CommandResult r = helm({"history", release, "-n", kNs, "-o", "json", "--max", "256"});
    if (r.exitCode != 0) return Json::array();
    return Json::parse(r.out);
  }
  // The newest revision's entry; an empty object when the release does not exist.
  Json latest(const std::string& release) {
    const Json h = history(release);
    return h.empty() ? Json::object() : h.back();
  }
  int latestRevision(const std::string& release) { return latest(release).value("revision", 0); }
  // release -> revision, from `helm list -a`.
  std::map<std::string, int> revisions() {
    std::map<std::string, int> out;
    const CommandResult r = helm({"list", "-a", "-n", kNs, "-o", "json"});
    if (r.exitCode != 0) return out;
    for (const Json& rel : Json::parse(r.out)) {
      const Json& rev = rel.at("revision");
      out[rel.at("name")] = rev.is_string() ? std::stoi(rev.get<std::string>()) : rev.get<int>();
    }
    return out;
  }

  // A key of the ConfigMap <release>-settings the charts render their effective values into.
  std::string setting(const std::string& release, const std::string& key) {
    const CommandResult r = kubectl({"get", "configmap", release + "-settings", "-n", kNs, "-o",
                                     "jsonpath={.data." + key + "}"});
    return r.exitCode == 0 ? r.out : "";
  }

  Json environment() { return get({"environment", kEnv}); }
  static Json conditionOf(const Json& env, const std::string& type) {
    if (!env.is_object() || !env.contains("status")) return Json();
    for (const Json& c : env["status"].value("conditions", Json::array())) {
      if (c.value("type", "") == type) return c;
    }
    return Json();
  }
  // The condition, only once it speaks of the Environment's current generation.
  Json currentCondition(const std::string& type) {
    const Json env = environment();
    const Json c = conditionOf(env, type);
    if (!c.is_object() || c.value("observedGeneration", -1) != env["metadata"]["generation"]) {
      return Json();
    }
    return c;
  }
  bool releasesReady() {
    const Json c = currentCondition("ReleasesReady");
    return c.is_object() && c["status"] == "True";
  }
  // The release's entry in status.releases; an empty object when there is none.
  static Json releaseStatusOf(const Json& env, const std::string& name) {
    if (!env.is_object() || !env.contains("status")) return Json::object();
    for (const Json& r : env["status"].value("releases", Json::array())) {
      if (r.value("name", "") == name) return r;
    }
    return Json::object();
  }
  Json releaseStatus(const std::string& name) { return releaseStatusOf(environment(), name); }

  double helmOps(const std::string& op) {
    return sumSamples(controller_->metrics(), "envop_helm_operations_total", {"op=\"" + op + "\""});
  }
  // Every helm command that changes a release.
  double stateChangingHelmOps() {
    double n = 0;
    for (const char* op : {"install", "upgrade", "rollback", "uninstall"}) n += helmOps(op);
    return n;
  }
  std::unique_ptr<ScopedCluster> cluster_;
  std::unique_ptr<TestRegistry> registry_;
  std::unique_ptr<ControllerProcess> controller_;
  std::string helm_;
};

}  // namespace envop::testing
