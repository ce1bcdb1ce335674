#include "test/support/charts.h"

#include <boost/process.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"

namespace envop::testing {

namespace fs = std::filesystem;

std::string testChartsDir() { return std::string(ENVOP_SOURCE_DIR) + "/test/charts"; }

namespace {

// Runs argv with `input` on its stdin (runCommand closes stdin): through sh, the input in the
// environment, so it is in no argument of any process.
CommandResult runWithStdin(const std::vector<std::string>& argv, const std::string& input,
                           std::map<std::string, std::string> env = {}) {
  std::vector<std::string> shell = {"/bin/sh", "-c",
                                    "printf '%s\\n' \"$ENVOP_TEST_STDIN\" | \"$0\" \"$@\""};
  shell.insert(shell.end(), argv.begin(), argv.end());
  env["ENVOP_TEST_STDIN"] = input;
  return runCommand(shell, env);
}

}  // namespace

TestRegistry::TestRegistry() : TestRegistry(RegistryAccount{}) {}

TestRegistry::TestRegistry(RegistryAccount login)
    : dir(std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("chart-registry")) {
  fs::create_directories(dir);
  CommandResult r;
  if (login.username.empty()) {
    r = runCommand({clusterScripts() + "/registry-up", dir});
  } else {
    r = runWithStdin({clusterScripts() + "/registry-up", dir, "--htpasswd", login.username},
                     login.password);
    account = std::move(login);
  }
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

TestRegistry::~TestRegistry() { stop(); }

void TestRegistry::stop() { runCommand({clusterScripts() + "/registry-down", dir}); }

int TestRegistry::serveAgain() {
  namespace bp = boost::process;
  bp::child registry(bp::search_path("docker-registry"), "serve", dir + "/registry.yml",
                     bp::std_out > (dir + "/registry.restarted.log"),
                     bp::std_err > (dir + "/registry.restarted.log"), bp::std_in < bp::null);
  const int pid = registry.id();
  registry.detach();
  std::ifstream in(dir + "/registry.env");
  std::string text, line;
  while (std::getline(in, line)) {
    text +=
        (line.rfind("REGISTRY_PID=", 0) == 0 ? "REGISTRY_PID=" + std::to_string(pid) : line) + "\n";
  }
  in.close();
  std::ofstream(dir + "/registry.env") << text;
  const bool answers = within(std::chrono::seconds(30), [&] {
    return runCommand({"curl", "-fsS", "-o", "/dev/null", "http://" + host + "/v2/"}).exitCode == 0;
  });
  return answers ? pid : 0;
}

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

// A private registry's login, into the registry config of `env` (HELM_REGISTRY_CONFIG).
void logIn(const TestRegistry& registry, const std::string& helmBinary,
           const std::map<std::string, std::string>& env) {
  if (!registry.account) return;
  const CommandResult r =
      runWithStdin({helmBinary, "registry", "login", registry.host, "--username",
                    registry.account->username, "--password-stdin", "--plain-http"},
                   registry.account->password, env);
  if (r.exitCode != 0) {
    throw std::runtime_error("helm registry login " + registry.host + " exited " +
                             std::to_string(r.exitCode) + ": " + r.out + r.err);
  }
}

}  // namespace

PushedChart pushChart(const TestRegistry& registry, const std::string& helmBinary,
                      const std::string& chart, const std::string& version,
                      const std::string& project) {
  const fs::path work = fs::path(registry.dir) / uniqueName("push");
  fs::create_directories(work / "packages");
  const std::map<std::string, std::string> env = isolatedHelmEnv(work.string());
  logIn(registry, helmBinary, env);
  mustRun({helmBinary, "package", chart, "--version", version, "-d", (work / "packages").string()},
          env);
  std::string name;
  for (const auto& entry : fs::directory_iterator(work / "packages")) {
    name = entry.path().filename().string();
  }
  if (name.empty()) throw std::runtime_error("helm package made nothing of " + chart);
  const std::string repository = "oci://" + registry.host + "/" + project;
  const CommandResult pushed = mustRun(
      {helmBinary, "push", (work / "packages" / name).string(), repository, "--plain-http"}, env);
  std::error_code ignored;
  fs::remove_all(work, ignored);
  PushedChart out;
  // <name>-<version>.tgz → oci://HOST/<project>/<name>:<version>
  const std::string suffix = "-" + version + ".tgz";
  out.reference = repository + "/" + name.substr(0, name.size() - suffix.size()) + ":" + version;
  const std::string text = pushed.out + "\n" + pushed.err;
  const std::size_t at = text.find("Digest: ");
  if (at != std::string::npos) out.digest = text.substr(at + 8, text.find('\n', at) - at - 8);
  if (out.digest.rfind("sha256:", 0) != 0) {
    throw std::runtime_error("helm push reported no digest: " + text);
  }
  return out;
}

std::vector<std::string> pushTestCharts(const TestRegistry& registry,
                                        const std::string& helmBinary) {
  const fs::path work = fs::path(registry.dir) / uniqueName("push");
  fs::create_directories(work / "packages");
  const std::map<std::string, std::string> env = isolatedHelmEnv(work.string());
  logIn(registry, helmBinary, env);
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
