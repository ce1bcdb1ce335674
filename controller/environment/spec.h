// EnvironmentSpec is the typed view of an Environment that the parts reconcile
// from: the fields they read, with api.md's defaults applied (the CRD applies most
// of them at admission; the controller applies the ones that depend on other fields,
// such as deletionPolicy by stage). Parsing never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "controller/environment/monitoring_spec.h"
#include "controller/environment/registry_spec.h"

namespace envop::environment {

using Json = nlohmann::json;

inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr const char* kManagedByValue = "envop";
inline constexpr const char* kEnvironmentLabel = "envop.io/environment";
inline constexpr const char* kFinalizer = "envop.io/finalizer";
inline constexpr const char* kMonitoringLabel = "envop.io/monitoring";
// On a namespace that existed before envop took it over.
inline constexpr const char* kAdoptedAnnotation = "envop.io/adopted";

enum class CreationPolicy { kCreate, kAdopt, kCreateOrAdopt };
enum class DeletionPolicy { kRetain, kDelete };

struct NamespaceSpec {
  std::string name;
  Json labels = Json::object();
  Json annotations = Json::object();
  CreationPolicy creationPolicy = CreationPolicy::kCreateOrAdopt;
  DeletionPolicy deletionPolicy = DeletionPolicy::kDelete;
  // Whether the spec says deletionPolicy itself: a namespace envop adopted is deleted
  // only when the user asked for it, never by the stage's default.
  bool deletionPolicyExplicit = false;
  std::optional<Json> resourceQuotaHard;  // a ResourceQuotaSpec `hard` map
  std::optional<Json> limitRange;         // one Container LimitRangeItem (without type)
  bool isolated = false;
};

struct ServicePort {
  std::string name;
  int port = 0;
  std::string protocol = "TCP";
};

struct ExternalService {
  std::string name;
  std::vector<std::string> addresses;  // IPs: a selector-less Service + EndpointSlice
  std::string hostname;                // or an ExternalName Service
  std::vector<ServicePort> ports;
  std::optional<int> metricsPort;
};

struct ExternalServicesSpec {
  std::string namespace_ = "ext";
  std::vector<ExternalService> services;
};

struct EnvironmentSpec {
  std::string name;  // metadata.name
  std::string uid;
  std::int64_t generation = 0;
  bool deleting = false;  // metadata.deletionTimestamp is set
  bool hasFinalizer = false;
  std::string stage;
  bool suspend = false;
  NamespaceSpec namespace_;
  std::optional<ExternalServicesSpec> externalServices;
  std::optional<RegistrySpec> registry;  // spec.registry.harbor
  std::optional<MonitoringSpec> monitoring;
};

// Reads an Environment object; an error names the field that is wrong. Admission
// refuses most bad input already; this guards against what slipped past it (an
// object stored before the schema tightened).
std::variant<EnvironmentSpec, std::string> parseEnvironment(const Json& object);

// The labels every object envop creates for this Environment carries.
Json ownershipLabels(const std::string& environment);

// Whether an object carries envop's ownership labels for this Environment.
bool ownedBy(const Json& object, const std::string& environment);
// The Environment an object says it belongs to ("" when none).
std::string ownerOf(const Json& object);

}  // namespace envop::environment
