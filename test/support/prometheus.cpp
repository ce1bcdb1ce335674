#include "test/support/prometheus.h"

#include <boost/process/search_path.hpp>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "test/support/local_cluster.h"

namespace envop::testing {

namespace fs = std::filesystem;

namespace {

const char kInstallHint[] =
    " is not installed: it comes with Debian's prometheus package (run scripts/install-deps)";

std::string mustFind(const std::string& tool) {
  const std::string path = boost::process::search_path(tool).string();
  if (path.empty()) throw std::runtime_error(tool + kInstallHint);
  return path;
}

std::map<std::string, std::string> stringMap(const nlohmann::json& object) {
  std::map<std::string, std::string> out;
  if (!object.is_object()) return out;
  for (const auto& [k, v] : object.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

nlohmann::json getJson(const std::vector<std::string>& curlArgs, const std::string& what) {
  std::vector<std::string> argv = {"curl", "-sS"};
  argv.insert(argv.end(), curlArgs.begin(), curlArgs.end());
  const CommandResult r = runCommand(argv);
  if (r.exitCode != 0) throw std::runtime_error(what + ": curl failed: " + r.err);
  nlohmann::json body = nlohmann::json::parse(r.out, nullptr, false);
  if (body.is_discarded()) throw std::runtime_error(what + " answered no JSON: " + r.out);
  return body;
}

nlohmann::json dataOf(const nlohmann::json& body, const std::string& what) {
  if (body.value("status", "") != "success" || !body.contains("data")) {
    throw std::runtime_error(what + " failed: " + body.dump());
  }
  return body["data"];
}

PromtoolResult promtool(const std::string& subcommand, const std::string& fileName,
                        const std::string& text) {
  const std::string tool = mustFind("promtool");
  const fs::path dir = fs::path(ENVOP_BINARY_DIR) / uniqueName("promtool");
  fs::create_directories(dir);
  const fs::path file = dir / fileName;
  std::ofstream(file) << text;
  const CommandResult r = runCommand({tool, "check", subcommand, file.string()});
  PromtoolResult result{r.exitCode == 0, r.out + r.err};
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return result;
}

}  // namespace

PlainPrometheus::PlainPrometheus(const std::string& scrapeConfigs,
                                 const std::vector<std::string>& ruleFiles)
    : dir_(std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("prometheus")) {
  mustFind("prometheus");
  fs::create_directories(dir_);
  std::ofstream config(dir_ + "/prometheus.yml");
  // 1s, so that a test polling for a target's health waits one scrape, not the default 1m.
  config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n";
  if (!ruleFiles.empty()) {
    config << "rule_files:\n";
    for (std::size_t i = 0; i < ruleFiles.size(); ++i) {
      const std::string name = dir_ + "/rules-" + std::to_string(i) + ".yml";
      std::ofstream(name) << ruleFiles[i];
      config << "- " << name << "\n";
    }
  }
  config << "scrape_configs:\n" << scrapeConfigs << "\n";
  config.close();
  const CommandResult up = runCommand({clusterScripts() + "/prometheus-up", dir_});
  if (up.exitCode != 0) {
    throw std::runtime_error("test/cluster/prometheus-up " + dir_ + " failed: " + up.out + up.err);
  }
  std::ifstream env(dir_ + "/prometheus.env");
  for (std::string line; std::getline(env, line);) {
    if (line.rfind("PROMETHEUS_URL=", 0) == 0) url_ = line.substr(sizeof("PROMETHEUS_URL=") - 1);
    if (line.rfind("PROMETHEUS_PORT=", 0) == 0) {
      port_ = std::stoi(line.substr(sizeof("PROMETHEUS_PORT=") - 1));
    }
  }
  if (url_.empty()) {
    runCommand({clusterScripts() + "/prometheus-down", dir_});
    throw std::runtime_error("prometheus-up wrote no PROMETHEUS_URL to " + dir_ +
                             "/prometheus.env");
  }
}

PlainPrometheus::~PlainPrometheus() { runCommand({clusterScripts() + "/prometheus-down", dir_}); }

nlohmann::json PlainPrometheus::api(const std::string& path) const {
  return getJson({url_ + path}, "GET " + url_ + path);
}

std::vector<ScrapeTarget> PlainPrometheus::targets() const {
  const nlohmann::json data = dataOf(api("/api/v1/targets?state=active"), "/api/v1/targets");
  std::vector<ScrapeTarget> out;
  for (const nlohmann::json& t : data.value("activeTargets", nlohmann::json::array())) {
    ScrapeTarget target;
    target.scrapePool = t.value("scrapePool", "");
    target.scrapeUrl = t.value("scrapeUrl", "");
    target.health = t.value("health", "");
    target.labels = stringMap(t.value("labels", nlohmann::json::object()));
    target.discovered = stringMap(t.value("discoveredLabels", nlohmann::json::object()));
    out.push_back(std::move(target));
  }
  return out;
}

nlohmann::json PlainPrometheus::query(const std::string& expr) const {
  const nlohmann::json body =
      getJson({"-G", "--data-urlencode", "query=" + expr, url_ + "/api/v1/query"}, "query " + expr);
  return dataOf(body, "query " + expr).value("result", nlohmann::json::array());
}

nlohmann::json PlainPrometheus::ruleGroups() const {
  return dataOf(api("/api/v1/rules"), "/api/v1/rules").value("groups", nlohmann::json::array());
}

PromtoolResult promtoolCheckRules(const std::string& ruleFile) {
  return promtool("rules", "rules.yml", ruleFile);
}

PromtoolResult promtoolCheckConfig(const std::string& config) {
  return promtool("config", "prometheus.yml", config);
}

}  // namespace envop::testing
