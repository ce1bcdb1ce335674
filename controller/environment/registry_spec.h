// RegistrySpec is the typed view of spec.registry.harbor: which Harbor, how envop logs in to it,
// the stage's project and its settings, and the pull Secret with the robot account's credentials
// and how often they rotate. Parsing never throws; an error names the field.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace envop::environment {

enum class ProjectDeletionPolicy { kRetain, kDelete };

// The project settings envop enforces; two Environments sharing a project must agree on them.
struct ProjectSpec {
  std::string name;
  bool isPublic = false;
  std::int64_t storageQuota = -1;  // bytes; -1: Harbor's default
  bool autoScan = false;
  std::string preventSeverity;  // none|low|medium|high|critical; "": pulls not restricted
  std::vector<std::string> immutableTagPatterns;
  std::optional<int> keepLatestPushed;  // absent: no retention policy envop manages
  ProjectDeletionPolicy deletionPolicy = ProjectDeletionPolicy::kRetain;

  // The settings only (not the deletion policy, which is each Environment's own say).
  bool sameSettings(const ProjectSpec& other) const;
};

struct RotationSpec {
  std::chrono::seconds every{0};
  std::chrono::seconds overlap{0};
  bool operator==(const RotationSpec&) const = default;
};

struct PullSecretSpec {
  std::string name;
  std::vector<std::string> serviceAccounts{"default"};
  std::optional<RotationSpec> rotation;  // absent: the robot never expires and never rotates
};

struct RegistrySpec {
  std::string url;   // without a trailing '/'
  std::string host;  // host[:port] of url, lowercased: the key of the pull Secret's auths
  bool https = true;
  std::string credentialsSecret;  // in the controller's namespace: username, password
  std::string caSecret;           // "" when unset; key ca.crt
  ProjectSpec project;
  std::optional<PullSecretSpec> pullSecret;  // absent: no robot, no pull Secret
};

// Reads spec.registry.harbor of an Environment object: nullopt when it is absent.
std::variant<std::optional<RegistrySpec>, std::string> parseRegistrySpec(
    const nlohmann::json& environment);

// A Kubernetes quantity ("50Gi", "1.5Gi", "1G", "500M", "1e9", "1024", "-1") in bytes, rounded
// up to a whole byte; nullopt when malformed, negative other than -1, or past int64.
std::optional<std::int64_t> parseQuantityBytes(const std::string& text);

}  // namespace envop::environment
