#include "test/support/harbor.h"

#include <fstream>
#include <stdexcept>

namespace envop::testing {

std::map<std::string, std::string> readEnvFile(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

TestHarbor::TestHarbor(std::string d) : dir(std::move(d)) {
  const CommandResult up = runCommand({clusterScripts() + "/harbor-up", dir});
  if (up.exitCode != 0) {
    throw std::runtime_error("the Harbor double did not start: " + up.out + up.err);
  }
  env = readEnvFile(dir + "/harbor.env");
  if (env["HARBOR_URL"].empty())
    throw std::runtime_error("no HARBOR_URL in " + dir + "/harbor.env");
}

TestHarbor::~TestHarbor() { (void)runCommand({clusterScripts() + "/harbor-down", dir}); }

void TestHarbor::installCredentials(const ScopedCluster& cluster,
                                    const std::string& controllerNamespace) const {
  const auto must = [&](const CommandResult& r, const std::string& what) {
    if (r.exitCode != 0) throw std::runtime_error(what + ": " + r.err);
  };
  if (cluster.kubectl({"get", "namespace", controllerNamespace}).exitCode != 0) {
    must(cluster.kubectl({"create", "namespace", controllerNamespace}),
         "creating namespace " + controllerNamespace);
  }
  must(cluster.kubectl({"-n", controllerNamespace, "create", "secret", "generic", "harbor-admin",
                        "--from-literal=username=" + env.at("HARBOR_ADMIN_USER"),
                        "--from-literal=password=" + env.at("HARBOR_ADMIN_PASSWORD")}),
       "creating Secret harbor-admin");
  must(cluster.kubectl({"-n", controllerNamespace, "create", "secret", "generic", "harbor-ca",
                        "--from-file=ca.crt=" + env.at("HARBOR_CA")}),
       "creating Secret harbor-ca");
}

}  // namespace envop::testing
