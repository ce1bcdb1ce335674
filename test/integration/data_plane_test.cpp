// The local cluster's data plane: kube-scheduler, the workload controllers and kwok's
// fake kubelets, so that what envop waits for (rollouts, readiness) really happens;
// and an OCI registry on loopback that charts are pushed to and installed from.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

namespace fs = std::filesystem;

// A namespace of the test's own, deleted (without waiting) at the end.
class ScopedNamespace final {
 public:
  explicit ScopedNamespace(const std::string& prefix) : name_(uniqueName(prefix)) {
    const CommandResult r = LocalCluster::get().kubectl({"create", "namespace", name_});
    if (r.exitCode != 0) throw std::runtime_error("create namespace " + name_ + ": " + r.err);
  }
  ~ScopedNamespace() {
    LocalCluster::get().kubectl({"delete", "namespace", name_, "--wait=false"});
  }
  ScopedNamespace(const ScopedNamespace&) = delete;
  ScopedNamespace& operator=(const ScopedNamespace&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// Every pod of the selector is Running and Ready on one of kwok's fake nodes.
void expectRunningAndReadyOnKwokNodes(const std::string& ns, const std::string& selector,
                                      size_t replicas) {
  const LocalCluster& cluster = LocalCluster::get();
  const CommandResult r = cluster.kubectl({"get", "pods", "-n", ns, "-l", selector, "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto pods = nlohmann::json::parse(r.out).at("items");
  ASSERT_EQ(pods.size(), replicas) << r.out;
  for (const auto& pod : pods) {
    const std::string name = pod.at("metadata").at("name");
    EXPECT_EQ(pod.at("status").at("phase"), "Running") << name;
    bool ready = false;
    for (const auto& c : pod.at("status").value("conditions", nlohmann::json::array())) {
      if (c.at("type") == "Ready") ready = c.at("status") == "True";
    }
    EXPECT_TRUE(ready) << name << " is not Ready";
    EXPECT_FALSE(pod.at("status").value("podIP", "").empty()) << name;
    const std::string node = pod.at("spec").value("nodeName", "");
    ASSERT_FALSE(node.empty()) << name << " was not scheduled";
    const CommandResult n =
        cluster.kubectl({"get", "node", node, "-o", "jsonpath={.metadata.labels.type}"});
    ASSERT_EQ(n.exitCode, 0) << n.err;
    EXPECT_EQ(n.out, "kwok") << name << " runs on " << node << ", not on a kwok node";
  }
}

TEST(DataPlaneTest, FakeNodesAreReadyAndSchedulable) {
  const LocalCluster& cluster = LocalCluster::get();
  const CommandResult r = cluster.kubectl({"get", "nodes", "-l", "type=kwok", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto nodes = nlohmann::json::parse(r.out).at("items");
  ASSERT_EQ(nodes.size(), 2u) << r.out;
  for (const auto& node : nodes) {
    const std::string name = node.at("metadata").at("name");
    EXPECT_EQ(node.at("metadata").at("annotations").value("kwok.x-k8s.io/node", ""), "fake");
    EXPECT_EQ(node.at("status").at("allocatable").value("cpu", ""), "32") << name;
    EXPECT_EQ(node.at("status").at("allocatable").value("pods", ""), "110") << name;
    EXPECT_FALSE(node.at("spec").value("unschedulable", false)) << name;
    // No taint at all: not kwok's own, and the not-ready one admission puts on every
    // new node has been lifted by the node-lifecycle controller.
    EXPECT_TRUE(node.at("spec").value("taints", nlohmann::json::array()).empty())
        << name << ": " << node.at("spec").dump();
  }
}

TEST(DataPlaneTest, DeploymentBecomesAvailableWithReadyPodsAndEndpoints) {
  const LocalCluster& cluster = LocalCluster::get();
  const ScopedNamespace ns("envop-dp");

  // No image is ever pulled: kwok plays the kubelet.
  CommandResult r =
      cluster.kubectl({"create", "deployment", "web", "-n", ns.name(),
                       "--image=registry.invalid/web:1", "--replicas=2", "--port=8080"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = cluster.kubectl(
      {"expose", "deployment", "web", "-n", ns.name(), "--port=80", "--target-port=8080"});
  ASSERT_EQ(r.exitCode, 0) << r.err;

  r = cluster.kubectl({"rollout", "status", "deployment/web", "-n", ns.name(), "--timeout=60s"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  r = cluster.kubectl({"get", "deployment", "web", "-n", ns.name(), "-o",
                       "jsonpath={.status.availableReplicas}/{.status.readyReplicas}"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "2/2");

  expectRunningAndReadyOnKwokNodes(ns.name(), "app=web", 2);

  // The endpointslice controller publishes the ready pods behind the Service; a slice
  // exists (with no endpoints) before it does.
  std::string ready;
  for (int i = 0; i < 100; ++i) {
    r = cluster.kubectl({"get", "endpointslices", "-n", ns.name(), "-l",
                         "kubernetes.io/service-name=web", "-o", "json"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    ready.clear();
    for (const auto& slice : nlohmann::json::parse(r.out).value("items", nlohmann::json::array())) {
      for (const auto& endpoint : slice.value("endpoints", nlohmann::json::array())) {
        if (endpoint.value("conditions", nlohmann::json::object()).value("ready", false)) {
          ready += endpoint["addresses"][0].get<std::string>() + " ";
        }
      }
    }
    if (std::count(ready.begin(), ready.end(), ' ') == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(std::count(ready.begin(), ready.end(), ' '), 2) << "ready endpoints: " << ready;
}

// A registry of the test's own, stopped at the end whatever happens.
class ScopedRegistry final {
 public:
  ScopedRegistry() : dir_(std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("registry")) {
    fs::create_directories(dir_);
    const CommandResult r = runCommand({clusterScripts() + "/registry-up", dir_});
    if (r.exitCode != 0) throw std::runtime_error("registry-up: " + r.out + r.err);
    std::ifstream env(dir_ + "/registry.env");
    for (std::string line; std::getline(env, line);) {
      if (line.rfind("REGISTRY_HOST=", 0) == 0) host_ = line.substr(sizeof("REGISTRY_HOST=") - 1);
    }
    if (host_.empty()) throw std::runtime_error("registry-up wrote no REGISTRY_HOST");
  }
  ~ScopedRegistry() { runCommand({clusterScripts() + "/registry-down", dir_}); }
  ScopedRegistry(const ScopedRegistry&) = delete;
  ScopedRegistry& operator=(const ScopedRegistry&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& host() const { return host_; }

 private:
  std::string dir_;
  std::string host_;
};

void writeFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << content;
}

TEST(DataPlaneTest, ChartRoundTripsThroughAnOciRegistryAndInstallsWithWait) {
  const LocalCluster& cluster = LocalCluster::get();
  const ScopedRegistry registry;
  const std::string helm =
      cluster.value("HELM").empty() ? cluster.binDir() + "/helm" : cluster.value("HELM");
  // Helm's config, cache and registry credentials stay in the test's directory.
  const std::map<std::string, std::string> env = {
      {"HELM_CONFIG_HOME", registry.dir() + "/helm/config"},
      {"HELM_CACHE_HOME", registry.dir() + "/helm/cache"},
      {"HELM_DATA_HOME", registry.dir() + "/helm/data"},
      {"HELM_REGISTRY_CONFIG", registry.dir() + "/helm/registry.json"},
      {"KUBECONFIG", cluster.kubeconfig()},
  };

  const std::string chart = uniqueName("dpchart");
  const fs::path src = fs::path(registry.dir()) / "src" / chart;
  writeFile(src / "Chart.yaml", "apiVersion: v2\nname: " + chart +
                                    "\nversion: 0.3.1\nappVersion: \"1.0\"\ntype: application\n");
  writeFile(src / "values.yaml", "replicas: 2\n");
  writeFile(src / "templates" / "deployment.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: app
        image: registry.invalid/app:1
)");

  CommandResult r = runCommand({helm, "package", src.string(), "-d", registry.dir()}, env);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  const std::string tgz = registry.dir() + "/" + chart + "-0.3.1.tgz";
  ASSERT_TRUE(fs::exists(tgz)) << r.out;

  const std::string repo = "oci://" + registry.host() + "/charts";
  r = runCommand({helm, "push", tgz, repo, "--plain-http"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;

  r = runCommand({helm, "show", "chart", repo + "/" + chart, "--version", "0.3.1", "--plain-http"},
                 env);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("name: " + chart + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("version: 0.3.1\n"), std::string::npos) << r.out;

  // From the registry into the cluster; --wait holds until the pods are Ready.
  const ScopedNamespace ns("envop-dp-helm");
  r = runCommand({helm, "install", "rel", repo + "/" + chart, "--version", "0.3.1", "--plain-http",
                  "-n", ns.name(), "--wait", "--timeout", "60s"},
                 env);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  expectRunningAndReadyOnKwokNodes(ns.name(), "app=rel", 2);
  r = runCommand({helm, "uninstall", "rel", "-n", ns.name(), "--wait", "--timeout", "60s"}, env);
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
}

}  // namespace
}  // namespace envop::testing
