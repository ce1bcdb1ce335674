// Debian's Prometheus package for tests: a plain Prometheus server of the test's own
// (test/cluster/prometheus-up: a free loopback port, a temporary TSDB, never the system
// service) and promtool. When the package is not installed the test fails, saying to run
// scripts/install-deps; nothing skips.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace envop::testing {

// One of /api/v1/targets' activeTargets.
struct ScrapeTarget {
  std::string scrapePool;                         // the job_name
  std::string scrapeUrl;                          // http://host:port/metrics
  std::string health;                             // "up", "down" or "unknown"
  std::map<std::string, std::string> labels;      // after relabelling (job, instance, ...)
  std::map<std::string, std::string> discovered;  // discoveredLabels (__address__, ...)
};

class PlainPrometheus final {
 public:
  // `scrapeConfigs` is the YAML sequence of prometheus.yml's scrape_configs, e.g.
  //   "- job_name: envop\n  http_sd_configs:\n  - url: http://127.0.0.1:8080/sd/prometheus\n"
  // written under a global block with scrape_interval and evaluation_interval 1s.
  // `ruleFiles`: rule file texts, written beside prometheus.yml and named in rule_files.
  // Throws std::runtime_error with prometheus-up's output (and its log) when it does not come
  // up, or when prometheus is not installed.
  explicit PlainPrometheus(const std::string& scrapeConfigs,
                           const std::vector<std::string>& ruleFiles = {});
  ~PlainPrometheus();  // prometheus-down
  PlainPrometheus(const PlainPrometheus&) = delete;
  PlainPrometheus& operator=(const PlainPrometheus&) = delete;

  const std::string& dir() const { return dir_; }  // prometheus.yml, prometheus.log, tsdb/
  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT
  int port() const { return port_; }

  // GET url()+path, its JSON; throws when nothing answers or it is not JSON.
  nlohmann::json api(const std::string& path) const;
  // /api/v1/targets' activeTargets as they are now (empty until service discovery has run:
  // poll with within()).
  std::vector<ScrapeTarget> targets() const;
  // /api/v1/query?query=expr: data.result (a vector's samples).
  nlohmann::json query(const std::string& expr) const;
  // /api/v1/rules: data.groups.
  nlohmann::json ruleGroups() const;

 private:
  std::string dir_;
  std::string url_;
  int port_ = 0;
};

struct PromtoolResult {
  bool ok = false;
  std::string output;  // promtool's stdout and stderr
};

// `promtool check rules` on a rule file with this text.
PromtoolResult promtoolCheckRules(const std::string& ruleFile);
// `promtool check config` on a prometheus.yml with this text (files it names are resolved
// against a temporary directory).
PromtoolResult promtoolCheckConfig(const std::string& config);

}  // namespace envop::testing
