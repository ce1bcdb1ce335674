#include "test/support/charts.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "test/support/local_cluster.h"

namespace envop::testing {

namespace fs = std::filesystem;

std::string testChartsDir() { return std::string(ENVOP_SOURCE_DIR) + "/test/charts"; }

TestRegistry::TestRegistry()
    : dir(std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("chart-registry")) {
  fs::create_directories(dir);
  const CommandResult r = runCommand({clusterScripts() + "/registry-up", dir});
  if (r.exitCode != 0) throw std::runtime_error("registry-up " + dir + ": " + r.out + r.err);
  std::ifstream env(dir + "/registry.env");
  for (std::string line; std::getline(env, line);) {
    if (line.rfind("REGISTRY_HOST=", 0) == 0) host = line.substr(sizeof("REGISTRY_HOST=") - 1);
  }
  if (host.empty()) {
    runCommand({clusterScripts() + "/registry-down", dir});
    throw std::runtime_error("registry-up wrote no REGISTRY_HOST to " + dir + "/registry.env");
  }
}

TestRegistry::~TestRegistry() { runCommand({clusterScripts() + "/registry-down", dir}); }

std::map<std::string, std::string> isolatedHelmEnv(const std::string& dir) {
  return {
      {"HELM_CONFIG_HOME", dir + "/helm/config"},
      {"HELM_CACHE_HOME", dir + "/helm/cache"},
      {"HELM_DATA_HOME", dir + "/helm/data"},
      {"HELM_REGISTRY_CONFIG", dir + "/helm/registry.json"},
  };
}

namespace {

CommandResult mustRun(const std::vector<std::string>& argv,
                      const std::map<std::string, std::string>& env) {
  const CommandResult r = runCommand(argv, env);
  if (r.exitCode != 0) {
    std::string line;
    for (const std::string& a : argv) line += (line.empty() ? "" : " ") + a;
    throw std::runtime_error(line + " exited " + std::to_string(r.exitCode) + ": " + r.out + r.err);
  }
  return r;
}

}  // namespace

std::vector<std::string> pushTestCharts(const TestRegistry& registry,
                                        const std::string& helmBinary) {
  const fs::path work = fs::path(registry.dir) / uniqueName("push");
  fs::create_directories(work / "packages");
  const std::map<std::string, std::string> env = isolatedHelmEnv(work.string());
  const fs::path charts = testChartsDir();

  struct Build {
    std::string chart;
    fs::path source;
    std::string version;
  };
  std::vector<Build> builds;
  for (const std::string& chart : kTestCharts) {
    for (const std::string& version : kTestChartVersions) {
      builds.push_back({chart, charts / chart, version});
    }
  }
  // The broken variant: the chart with test/charts/broken/ laid over it.
  const fs::path broken = work / "src" / kBrokenChart;
  fs::create_directories(broken.parent_path());
  fs::copy(charts / kBrokenChart, broken, fs::copy_options::recursive);
  fs::copy(charts / "broken" / "templates", broken / "templates",
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  builds.push_back({kBrokenChart, broken, kBrokenVersion});

  std::vector<std::string> pushed;
  for (const Build& b : builds) {
    const fs::path out = work / "packages" / b.version;
    fs::create_directories(out);
    mustRun({helmBinary, "package", b.source.string(), "--version", b.version, "--app-version",
             b.version, "-d", out.string()},
            env);
    const fs::path tgz = out / (b.chart + "-" + b.version + ".tgz");
    if (!fs::exists(tgz)) throw std::runtime_error("helm package made no " + tgz.string());
    mustRun({helmBinary, "push", tgz.string(), registry.repository(), "--plain-http"}, env);
    pushed.push_back(registry.repository() + "/" + b.chart + ":" + b.version);
  }
  std::error_code ignored;
  fs::remove_all(work, ignored);
  return pushed;
}

}  // namespace envop::testing
