// LocalCluster is an integration test's handle on the control plane that
// test/cluster/up started for the suite (a ctest fixture): where its kubeconfig
// and binaries are, and a way to run kubectl against it. A test that cannot find
// the cluster fails; it never skips.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace envop::testing {

struct CommandResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

// Runs argv (no shell) with the given extra environment, capturing stdout and stderr.
CommandResult runCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {});

class LocalCluster final {
 public:
  // Reads $ENVOP_CLUSTER_DIR/env; throws std::runtime_error naming what is missing.
  static const LocalCluster& get();

  const std::string& dir() const { return dir_; }
  const std::string& kubeconfig() const { return kubeconfig_; }
  const std::string& binDir() const { return binDir_; }
  // A value from DIR/env (ETCD_ENDPOINT, APISERVER_URL, ...), or "" when absent.
  std::string value(const std::string& key) const;

  CommandResult kubectl(const std::vector<std::string>& args) const;

 private:
  std::string dir_;
  std::string kubeconfig_;
  std::string binDir_;
  std::map<std::string, std::string> values_;
};

// A control plane of a test's own, for tests that break it on purpose (restart the
// apiserver, compact etcd) and must not disturb the suite's shared one.
class ScopedCluster final {
 public:
  ScopedCluster();   // test/cluster/up into a fresh directory; throws with its log on failure
  ~ScopedCluster();  // test/cluster/down
  ScopedCluster(const ScopedCluster&) = delete;
  ScopedCluster& operator=(const ScopedCluster&) = delete;

  const std::string& dir() const { return dir_; }
  std::string kubeconfig() const { return dir_ + "/kubeconfig"; }
  std::string value(const std::string& key) const;  // from DIR/env, re-read on each call
  // The cached helm built with the control plane ($HELM, else beside kubectl).
  std::string helm() const;
  CommandResult kubectl(const std::vector<std::string>& args) const;
  // `kubectl get WHAT -o json`, parsed; null when kubectl fails (e.g. NotFound).
  nlohmann::json get(const std::vector<std::string>& what) const;
  // Writes a manifest to a file in dir() and applies it.
  CommandResult apply(const std::string& manifest) const;
  // test/cluster/apply-crds DIR; throws on failure.
  void applyCrds() const;
  // `kubectl auth can-i VERB RESOURCE --as USER [-n NS] [--subresource=SUB]`: whether the
  // authorizer allows it (anything but "yes" is no).
  bool can(const std::string& user, const std::string& verb, const std::string& resource,
           const std::string& ns = "", const std::string& subresource = "") const;
  // test/cluster/restart DIR component; throws when it does not come back.
  void restart(const std::string& component) const;

 private:
  std::string dir_;
};

// The repository's test/cluster directory.
std::string clusterScripts();

// A DNS-1123 name unique to this process and call, so tests never collide.
std::string uniqueName(const std::string& prefix);

}  // namespace envop::testing
