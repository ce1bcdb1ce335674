// The registry part of an Environment: the stage's Harbor project (created if missing, its
// settings put back when a human changes them in Harbor), a robot account of its own in that
// project, rotated before it expires (robot_rotation), and the image pull Secret with the robot's
// credentials in the stage namespace, listed in the ServiceAccounts' imagePullSecrets. Several
// Environments may share a project; two that want different settings for it stall the later one.
//
// Every pass reads first and writes only what differs: a resync of an unchanged Environment makes
// Harbor GETs only. The robot's secret is only ever in the pull Secret: never in a log line, an
// event, a condition or the status.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/environment/applier.h"
#include "controller/environment/part_report.h"
#include "controller/environment/releases_part.h"
#include "controller/environment/spec.h"
#include "controller/harbor/harbor_api.h"
#include "controller/runtime/store.h"
#include "controller/util/wall_time.h"

namespace envop::environment {

struct RegistryReport : PartReport {
  RegistryReport() : PartReport(kPartRegistry) {}
  nlohmann::json status = nullptr;  // status.registry; null: none
  // A rotation or a revocation comes due then, or something outside the cluster is to be looked
  // at again (a ServiceAccount not made yet, a project not empty yet).
  std::optional<std::chrono::seconds> recheckAfter;
  struct Note {
    bool warning = false;
    std::string reason;  // ProjectCreated, ProjectRepaired, RobotCreated, RobotRotated, ...
    std::string text;
  };
  std::vector<Note> notes;  // one event each
};

struct RegistryPartOptions {
  std::string controllerNamespace = "envop-system";  // where credentials Secrets live
  std::function<util::WallTime()> now = [] { return std::chrono::system_clock::now(); };
  // How often a stage in sync compares its project with Harbor (--harbor-recheck-interval).
  std::chrono::seconds harborRecheck{300};
};

class RegistryPart final {
 public:
  // environments: the Environment cache, to find the others sharing a project.
  RegistryPart(kube::ClientPtr client, Applier& applier, runtime::StorePtr environments,
               harbor::HarborApiFactory factory, RegistryPartOptions options = {});

  // namespaceUsable: the stage namespace exists, so the pull Secret can be written.
  RegistryReport reconcile(const EnvironmentSpec& env, bool namespaceUsable);

  // On deletion. retain (the namespace stays): the pull Secret and the robot stay, the Secret
  // without envop's labels. Otherwise the Environment's robots are deleted. A project with
  // deletionPolicy Delete goes once no other Environment names it; Harbor's 412 (repositories
  // left) is ProjectNotEmpty, looked at again slowly.
  RegistryReport finalize(const EnvironmentSpec& env, bool retain);

  void forget(const EnvironmentSpec& env);

  // The Environments whose Harbor credentials or CA are in this Secret ("Secret/ns/name").
  std::vector<std::string> environmentsReading(const std::string& key) const;

 private:
  // One pass over the part; reconcile() adds the periodic recheck.
  RegistryReport reconcilePass(const EnvironmentSpec& env, bool namespaceUsable);
  struct Session;  // one pass's Harbor client and what it found
  std::optional<Session> open(const EnvironmentSpec& env, RegistryReport& report);
  void reconcileProject(const EnvironmentSpec& env, Session& s, RegistryReport& report);
  void reconcileRobot(const EnvironmentSpec& env, Session& s, RegistryReport& report);
  void reconcileServiceAccounts(const EnvironmentSpec& env, RegistryReport& report);
  // status.registry as last written, from the Environment cache; null when none.
  nlohmann::json storedRegistryStatus(const EnvironmentSpec& env) const;
  // The pull Secret status.registry names that the spec no longer wants; "" when none.
  std::string previousPullSecret(const EnvironmentSpec& env) const;
  // Removes that Secret (if it is this Environment's), takes it out of the ServiceAccounts it
  // was listed in, and deletes its robot unless the spec still uses the same one. The Secret's
  // annotation (registryRecord) says which Harbor and project. False: a step failed (reported).
  bool retire(const EnvironmentSpec& env, const std::string& name, RegistryReport& report);
  // The other Environment whose settings for the same project differ and that came first.
  std::optional<std::string> settingsConflict(const EnvironmentSpec& env) const;
  // The other Environments (not this one) naming the same Harbor project.
  std::vector<runtime::ObjectPtr> sharing(const EnvironmentSpec& env) const;
  harbor::HarborApiPtr clientFor(const harbor::HarborEndpoint& endpoint);

  kube::ClientPtr client_;
  Applier& applier_;
  runtime::StorePtr environments_;
  harbor::HarborApiFactory factory_;
  RegistryPartOptions options_;
  ValuesReferences references_;
  std::mutex mu_;
  std::map<std::string, std::pair<harbor::HarborEndpoint, harbor::HarborApiPtr>> clients_;
};

// Whether a chart repository ("oci://harbor.example.com/springcloud") is on the Harbor of the
// registry spec, so that its charts are pulled with the robot.
bool chartsOnHarbor(const RegistrySpec& registry, const std::string& repository);

}  // namespace envop::environment
