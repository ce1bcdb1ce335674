#include "test/support/local_cluster.h"

#include <unistd.h>

#include <atomic>
#include <boost/process.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <stdexcept>

namespace envop::testing {

namespace bp = boost::process;

CommandResult runCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env) {
  CommandResult result;
  if (argv.empty()) throw std::invalid_argument("runCommand: empty argv");
  bp::environment childEnv = boost::this_process::environment();
  for (const auto& [k, v] : env) childEnv.set(k, v);  // not [] (Boost 1.74 overread)
  std::future<std::string> out;
  std::future<std::string> err;
  boost::asio::io_context io;
  const std::string exe =
      argv[0].find('/') == std::string::npos ? bp::search_path(argv[0]).string() : argv[0];
  if (exe.empty()) throw std::runtime_error("runCommand: " + argv[0] + " is not on PATH");
  bp::child child(exe, std::vector<std::string>(argv.begin() + 1, argv.end()), childEnv,
                  bp::std_in.close(), bp::std_out > out, bp::std_err > err, io);
  io.run();
  child.wait();
  result.exitCode = child.exit_code();
  result.out = out.get();
  result.err = err.get();
  return result;
}

const LocalCluster& LocalCluster::get() {
  static const LocalCluster cluster = [] {
    const char* dir = std::getenv("ENVOP_CLUSTER_DIR");
    if (dir == nullptr || *dir == '\0') {
      throw std::runtime_error(
          "ENVOP_CLUSTER_DIR is not set: run integration tests through ctest, which starts "
          "the control plane with test/cluster/up");
    }
    LocalCluster c;
    c.dir_ = dir;
    std::ifstream in(c.dir_ + "/env");
    if (!in) {
      throw std::runtime_error("no control plane in " + c.dir_ + ": " + c.dir_ +
                               "/env is missing (did test/cluster/up fail?)");
    }
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const auto eq = line.find('=');
      if (eq != std::string::npos) c.values_[line.substr(0, eq)] = line.substr(eq + 1);
    }
    c.kubeconfig_ = c.value("KUBECONFIG");
    c.binDir_ = c.value("BIN_DIR");
    if (c.kubeconfig_.empty() || c.binDir_.empty()) {
      throw std::runtime_error(c.dir_ + "/env lacks KUBECONFIG or BIN_DIR");
    }
    return c;
  }();
  return cluster;
}

std::string LocalCluster::value(const std::string& key) const {
  auto it = values_.find(key);
  return it == values_.end() ? "" : it->second;
}

CommandResult LocalCluster::kubectl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {binDir_ + "/kubectl", "--kubeconfig", kubeconfig_};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

std::string clusterScripts() { return std::string(ENVOP_SOURCE_DIR) + "/test/cluster"; }

ScopedCluster::ScopedCluster() {
  dir_ = std::string(ENVOP_BINARY_DIR) + "/" + uniqueName("own-cluster");
  const CommandResult up = runCommand({clusterScripts() + "/up", dir_});
  if (up.exitCode != 0) throw std::runtime_error("test/cluster/up " + dir_ + " failed: " + up.err);
}

bool ScopedCluster::can(const std::string& user, const std::string& verb,
                        const std::string& resource, const std::string& ns,
                        const std::string& subresource) const {
  std::vector<std::string> args = {"auth", "can-i", verb, resource, "--as", user};
  if (!ns.empty()) args.insert(args.end(), {"-n", ns});
  if (!subresource.empty()) args.push_back("--subresource=" + subresource);
  return kubectl(args).out.find("yes") == 0;
}

ScopedCluster::~ScopedCluster() {
  runCommand({clusterScripts() + "/down", dir_});
  // The logs stay for a failure's post-mortem; etcd's data (tens of MB a cluster, hundreds of
  // clusters a CI run) does not.
  std::error_code ignored;
  std::filesystem::remove_all(dir_ + "/etcd-data", ignored);
}

std::string ScopedCluster::value(const std::string& key) const {
  std::ifstream in(dir_ + "/env");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  }
  return "";
}

std::string ScopedCluster::helm() const {
  const std::string helm = value("HELM");
  if (!helm.empty()) return helm;
  return std::filesystem::path(value("KUBECTL")).parent_path().string() + "/helm";
}

CommandResult ScopedCluster::kubectl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {value("KUBECTL"), "--kubeconfig", kubeconfig()};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

nlohmann::json ScopedCluster::get(const std::vector<std::string>& what) const {
  std::vector<std::string> args = {"get"};
  args.insert(args.end(), what.begin(), what.end());
  args.insert(args.end(), {"-o", "json"});
  const CommandResult r = kubectl(args);
  if (r.exitCode != 0) return nullptr;
  return nlohmann::json::parse(r.out, nullptr, false);
}

CommandResult ScopedCluster::apply(const std::string& manifest) const {
  const std::string file = dir_ + "/" + uniqueName("manifest") + ".yaml";
  std::ofstream(file) << manifest;
  return kubectl({"apply", "-f", file});
}

void ScopedCluster::applyCrds() const {
  const CommandResult r = runCommand({clusterScripts() + "/apply-crds", dir_});
  if (r.exitCode != 0) throw std::runtime_error("apply-crds failed: " + r.err);
}

void ScopedCluster::restart(const std::string& component) const {
  const CommandResult r = runCommand({clusterScripts() + "/restart", dir_, component});
  if (r.exitCode != 0) throw std::runtime_error("restart " + component + " failed: " + r.err);
}

std::string uniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  // PIDs come round again, and directories of earlier runs stay under the build tree for a
  // post-mortem: a random tag per process keeps a reused PID from meeting its predecessor's.
  static const std::string tag = [] {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", std::random_device{}());
    return std::string(hex);
  }();
  return prefix + "-" + std::to_string(::getpid()) + tag + "-" + std::to_string(++counter);
}

}  // namespace envop::testing
