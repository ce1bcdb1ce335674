// A real prometheus-operator (built from source by test/cluster/build-prometheus-operator)
// running against a test's own control plane, with one Prometheus object whose selectors
// match given labels: the operator, not envop, turns ServiceMonitors, PodMonitors and
// PrometheusRules into the configuration it generates, and a test reads that.
// A component that is not there (the operator's build, its CRDs) fails the test with how to
// get it; nothing skips.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace envop::testing {

class ScopedCluster;

// test/cluster/apply-prometheus-operator-crds: the monitoring.coreos.com CRDs of the pinned
// operator, applied server-side and Established. Throws std::runtime_error (with how to build
// them when they are not cached).
void applyPrometheusOperatorCrds(const ScopedCluster& cluster);
// The same script with --delete: the CRDs are deleted and gone (the cluster no longer serves
// ServiceMonitor, ...). Throws on failure.
void deletePrometheusOperatorCrds(const ScopedCluster& cluster);

struct PrometheusObject {
  std::string name = "envop-test";
  std::string ns = "monitoring";  // created when missing
  // serviceMonitorSelector, podMonitorSelector and ruleSelector: matchLabels. Their namespace
  // selectors are {} (every namespace).
  std::map<std::string, std::string> selectorLabels;
};

class PrometheusOperator final {
 public:
  // Applies the CRDs, starts the operator (test/cluster/prometheus-operator-up, its log in
  // dir()) and creates `prometheus`. Throws std::runtime_error with the script's output when a
  // step fails or the operator is not built (run test/cluster/build-prometheus-operator).
  PrometheusOperator(const ScopedCluster& cluster, PrometheusObject prometheus,
                     const std::vector<std::string>& operatorFlags = {});
  ~PrometheusOperator();  // prometheus-operator-down
  PrometheusOperator(const PrometheusOperator&) = delete;
  PrometheusOperator& operator=(const PrometheusOperator&) = delete;

  const std::string& dir() const { return dir_; }
  std::string log() const { return dir_ + "/prometheus-operator.log"; }
  const PrometheusObject& prometheus() const { return prometheus_; }
  // Secret prometheus-<name> and ConfigMap prefix prometheus-<name>-rulefiles-.
  std::string configSecretName() const { return "prometheus-" + prometheus_.name; }
  std::string ruleConfigMapName(int index = 0) const {
    return configSecretName() + "-rulefiles-" + std::to_string(index);
  }

  // The Prometheus configuration the operator generated: Secret prometheus-<name>, key
  // prometheus.yaml.gz, gunzipped. Waits up to `limit` for the Secret to exist; throws
  // std::runtime_error naming the operator's log when it does not.
  std::string generatedConfig(std::chrono::seconds limit = std::chrono::seconds(60)) const;
  // job_name of every scrape_configs entry of generatedConfig(), in order. The operator names
  // them serviceMonitor/<ns>/<name>/<endpoint index> and podMonitor/<ns>/<name>/<index>.
  std::vector<std::string> scrapeJobNames(
      std::chrono::seconds limit = std::chrono::seconds(60)) const;
  // The rule files of ConfigMap prometheus-<name>-rulefiles-0 (key <ns>-<rule name>-<uid>.yaml
  // → the rule file), waiting up to `limit` for it to exist; throws when it does not.
  std::map<std::string, std::string> ruleFiles(
      std::chrono::seconds limit = std::chrono::seconds(60)) const;

 private:
  const ScopedCluster& cluster_;
  PrometheusObject prometheus_;
  std::string dir_;
};

}  // namespace envop::testing
