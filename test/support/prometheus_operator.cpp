#include "test/support/prometheus_operator.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <thread>

#include "controller/kube/config.h"
#include "controller/util/gzip.h"
#include "test/support/local_cluster.h"

namespace envop::testing {

namespace {

using namespace std::chrono_literals;

std::string output(const CommandResult& r) { return r.out + r.err; }

void runCrdScript(const ScopedCluster& cluster, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {clusterScripts() + "/apply-prometheus-operator-crds",
                                   cluster.dir()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const CommandResult r = runCommand(argv);
  if (r.exitCode != 0) {
    throw std::runtime_error("test/cluster/apply-prometheus-operator-crds " + cluster.dir() +
                             " failed: " + output(r));
  }
}

nlohmann::json labelMap(const std::map<std::string, std::string>& labels) {
  nlohmann::json m = nlohmann::json::object();
  for (const auto& [k, v] : labels) m[k] = v;
  return m;
}

}  // namespace

void applyPrometheusOperatorCrds(const ScopedCluster& cluster) { runCrdScript(cluster, {}); }

void deletePrometheusOperatorCrds(const ScopedCluster& cluster) {
  runCrdScript(cluster, {"--delete"});
}

PrometheusOperator::PrometheusOperator(const ScopedCluster& cluster, PrometheusObject prometheus,
                                       const std::vector<std::string>& operatorFlags)
    : cluster_(cluster),
      prometheus_(std::move(prometheus)),
      dir_(std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("prometheus-operator")) {
  std::filesystem::create_directories(dir_);
  std::vector<std::string> up = {clusterScripts() + "/prometheus-operator-up", dir_, cluster.dir()};
  up.insert(up.end(), operatorFlags.begin(), operatorFlags.end());
  const CommandResult started = runCommand(up);
  if (started.exitCode != 0) {
    throw std::runtime_error("test/cluster/prometheus-operator-up " + dir_ +
                             " failed: " + output(started));
  }
  const nlohmann::json selector = {{"matchLabels", labelMap(prometheus_.selectorLabels)}};
  const nlohmann::json everyNamespace = nlohmann::json::object();
  const nlohmann::json ns = {
      {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", prometheus_.ns}}}};
  const nlohmann::json object = {
      {"apiVersion", "monitoring.coreos.com/v1"},
      {"kind", "Prometheus"},
      {"metadata", {{"name", prometheus_.name}, {"namespace", prometheus_.ns}}},
      {"spec",
       {{"replicas", 1},
        {"serviceMonitorSelector", selector},
        {"serviceMonitorNamespaceSelector", everyNamespace},
        {"podMonitorSelector", selector},
        {"podMonitorNamespaceSelector", everyNamespace},
        {"ruleSelector", selector},
        {"ruleNamespaceSelector", everyNamespace}}}};
  for (const nlohmann::json& manifest : {ns, object}) {
    const CommandResult applied = cluster_.apply(manifest.dump());
    if (applied.exitCode != 0) {
      runCommand({clusterScripts() + "/prometheus-operator-down", dir_});
      throw std::runtime_error("applying " + manifest["kind"].get<std::string>() + " " +
                               prometheus_.name + " failed: " + output(applied));
    }
  }
}

PrometheusOperator::~PrometheusOperator() {
  runCommand({clusterScripts() + "/prometheus-operator-down", dir_});
}

std::string PrometheusOperator::generatedConfig(std::chrono::seconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  const std::string key = "prometheus.yaml.gz";
  for (;;) {
    const nlohmann::json secret =
        cluster_.get({"secret", configSecretName(), "-n", prometheus_.ns});
    if (secret.is_object() && secret.contains("data") && secret["data"].contains(key)) {
      const auto gz = kube::decodeBase64(secret["data"][key].get<std::string>());
      const auto text = gz ? util::gunzip(*gz) : std::nullopt;
      if (!text)
        throw std::runtime_error("Secret " + configSecretName() + " key " + key +
                                 " is not base64 of gzip");
      return *text;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("the operator wrote no Secret " + prometheus_.ns + "/" +
                               configSecretName() + " with " + key + " within " +
                               std::to_string(limit.count()) + "s; its log: " + log());
    }
    std::this_thread::sleep_for(200ms);
  }
}

std::vector<std::string> PrometheusOperator::scrapeJobNames(std::chrono::seconds limit) const {
  const YAML::Node config = YAML::Load(generatedConfig(limit));
  std::vector<std::string> names;
  for (const YAML::Node& job : config["scrape_configs"]) {
    names.push_back(job["job_name"].as<std::string>());
  }
  return names;
}

std::map<std::string, std::string> PrometheusOperator::ruleFiles(std::chrono::seconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const nlohmann::json cm =
        cluster_.get({"configmap", ruleConfigMapName(), "-n", prometheus_.ns});
    if (cm.is_object()) {
      std::map<std::string, std::string> files;
      if (cm.contains("data")) {
        for (const auto& [k, v] : cm["data"].items()) files[k] = v.get<std::string>();
      }
      return files;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("the operator wrote no ConfigMap " + prometheus_.ns + "/" +
                               ruleConfigMapName() + " within " + std::to_string(limit.count()) +
                               "s; its log: " + log());
    }
    std::this_thread::sleep_for(200ms);
  }
}

}  // namespace envop::testing
