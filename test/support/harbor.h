// The Harbor API double (test/fakes/harbor) for tests: started with test/cluster/harbor-up into
// a directory of the test's and stopped with harbor-down when this goes. `env` is its harbor.env
// (HARBOR_URL, HARBOR_HOST, HARBOR_ADMIN_USER, HARBOR_ADMIN_PASSWORD, HARBOR_CA, HARBOR_CONTROL).
#pragma once

#include <map>
#include <string>

#include "test/support/local_cluster.h"

namespace envop::testing {

// KEY=VALUE lines, as the test/cluster scripts write them.
std::map<std::string, std::string> readEnvFile(const std::string& path);

struct TestHarbor {
  // Throws std::runtime_error with harbor-up's output when the double does not start.
  explicit TestHarbor(std::string dir);
  ~TestHarbor();
  TestHarbor(const TestHarbor&) = delete;
  TestHarbor& operator=(const TestHarbor&) = delete;

  const std::string& value(const std::string& key) const { return env.at(key); }
  // The Secrets a registry.harbor spec names, harbor-admin (username, password) and harbor-ca
  // (ca.crt), in the controller's namespace (created if missing). Throws on a kubectl failure.
  void installCredentials(const ScopedCluster& cluster,
                          const std::string& controllerNamespace = "envop-system") const;

  std::string dir;
  std::map<std::string, std::string> env;
};

}  // namespace envop::testing
