// The registry part's desired state, as pure functions: the Harbor bodies (ProjectReq, project
// metadata, the storage quota, immutable tag rules, the retention policy, RobotCreate) in
// Harbor's own field names, the comparisons that say which of the project's settings differ from
// the spec (named as a human reads them, for the ProjectRepaired event), and the pull Secret.
// Nothing here does I/O, so what is sent and when is checked by unit tests.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controller/environment/registry_spec.h"
#include "controller/environment/robot_rotation.h"

namespace envop::environment {

// metadata of a ProjectReq/Project as the spec wants it; values are strings, as Harbor has them.
nlohmann::json desiredProjectMetadata(const ProjectSpec& project);
// POST /projects.
nlohmann::json projectRequest(const ProjectSpec& project);
// The spec's metadata keys whose value in `project` (a Project) differs: "public", "auto_scan",
// "prevent_vul", "severity".
std::vector<std::string> projectMetadataDrift(const ProjectSpec& spec,
                                              const nlohmann::json& project);

// Whether a Quota's hard.storage is what the spec wants (a spec of -1 leaves Harbor's default).
bool quotaMatches(const ProjectSpec& spec, const nlohmann::json& quota);

// One immutable rule per pattern: tags matching it in every repository of the project.
nlohmann::json immutableRule(const std::string& pattern);
// The pattern an ImmutableRule of envop's shape protects; nullopt for a rule of another shape.
std::optional<std::string> immutableRulePattern(const nlohmann::json& rule);

struct ImmutableRulesPlan {
  std::vector<std::string> create;   // patterns without a rule
  std::vector<std::int64_t> remove;  // ids of rules no pattern asks for (or duplicates)
  bool empty() const { return create.empty() && remove.empty(); }
};
ImmutableRulesPlan planImmutableRules(const ProjectSpec& spec,
                                      const std::vector<nlohmann::json>& rules);

// Keep the N latest pushed artifacts of every repository of the project.
nlohmann::json retentionPolicy(std::int64_t projectId, int keepLatestPushed);
// Whether a RetentionPolicy keeps exactly the N latest pushed, as retentionPolicy() writes it.
bool retentionMatches(const nlohmann::json& policy, int keepLatestPushed);

// POST /robots: a project robot that may pull from the project and nothing else.
nlohmann::json robotCreate(const std::string& project, const std::string& fullName,
                           const std::string& description, std::int64_t durationDays);
// A Robot of Harbor's list → what the rotation looks at.
ObservedRobot observedRobot(const nlohmann::json& robot);

// The pull Secret: type kubernetes.io/dockerconfigjson, auths[host] = {username, password, auth},
// the rotation record as an annotation, envop's ownership labels. `dockerConfigJson` is the
// decoded value of .dockerconfigjson (kept as it is when no new credential is written).
// caPem: Harbor's CA (caSecretRef), kept as key ca.crt so that helm, pulling charts as the robot,
// checks Harbor's certificate against it; "" leaves the key out.
// registry: registryRecord() of the spec it is made for, kept as an annotation; null leaves it out.
nlohmann::json desiredPullSecret(const std::string& environment, const std::string& ns,
                                 const std::string& name, const std::string& dockerConfigJson,
                                 const RotationRecord& record, const std::string& caPem = "",
                                 const nlohmann::json& registry = nullptr);

// The pull Secret's annotation naming the Harbor, project and ServiceAccounts it was made for, so
// that a later spec without it (spec.registry or its pullSecret removed, the Secret renamed) can
// still revoke its robot and take it out of the ServiceAccounts. Names only, never a secret.
inline constexpr const char* kRegistryRecordAnnotation = "envop.io/registry";
// {"harbor": {url, credentialsSecretRef, caSecretRef, project: {name}, pullSecret: {name,
// serviceAccounts}}}: spec.registry's own shape, so parseRegistrySpec reads it back.
nlohmann::json registryRecord(const RegistrySpec& registry);
// The RegistrySpec of a recorded annotation; nullopt when it is absent or unreadable.
std::optional<RegistrySpec> registryFromRecord(const nlohmann::json& secret);
// {"auths":{"<host>":{"username","password","auth"}}}.
std::string dockerConfigJson(const std::string& host, const std::string& username,
                             const std::string& password);

std::string base64Encode(const std::string& bytes);

}  // namespace envop::environment
