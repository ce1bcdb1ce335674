#include "controller/environment/spec.h"

#include "controller/environment/field_reader.h"
#include "controller/runtime/store.h"

namespace envop::environment {

Json ownershipLabels(const std::string& environment) {
  return {{kManagedByLabel, kManagedByValue}, {kEnvironmentLabel, environment}};
}

std::string ownerOf(const Json& object) { return runtime::labelOf(object, kEnvironmentLabel); }

bool ownedBy(const Json& object, const std::string& environment) {
  return ownerOf(object) == environment;
}

std::variant<EnvironmentSpec, std::string> parseEnvironment(const Json& object) {
  FieldReader r;
  EnvironmentSpec env;
  const Json metadata = r.object(object, "metadata", "metadata");
  env.name = r.string(metadata, "name", "metadata.name");
  env.uid = r.string(metadata, "uid", "metadata.uid");
  env.generation =
      r.integer(metadata, "generation", "metadata.generation: must be a whole number", 0);
  env.deleting = metadata.contains("deletionTimestamp") && !metadata["deletionTimestamp"].is_null();
  for (const Json& f : metadata.value("finalizers", Json::array())) {
    if (f.is_string() && f.get<std::string>() == kFinalizer) env.hasFinalizer = true;
  }
  if (env.name.empty()) return std::string("metadata.name: required");

  const Json spec = r.object(object, "spec", "spec");
  env.stage = r.string(spec, "stage", "spec.stage");
  if (env.stage != "production" && env.stage != "gray" && env.stage != "test" &&
      env.stage != "development") {
    return "spec.stage: must be production, gray, test or development, not \"" + env.stage + "\"";
  }
  env.suspend = r.boolean(spec, "suspend", "spec.suspend", false);

  const Json ns = r.object(spec, "namespace", "spec.namespace");
  NamespaceSpec& n = env.namespace_;
  n.name = r.string(ns, "name", "spec.namespace.name", env.name);
  n.labels = r.object(ns, "labels", "spec.namespace.labels");
  n.annotations = r.object(ns, "annotations", "spec.namespace.annotations");
  const std::string creation =
      r.string(ns, "creationPolicy", "spec.namespace.creationPolicy", "CreateOrAdopt");
  if (creation == "Create") {
    n.creationPolicy = CreationPolicy::kCreate;
  } else if (creation == "Adopt") {
    n.creationPolicy = CreationPolicy::kAdopt;
  } else if (creation == "CreateOrAdopt") {
    n.creationPolicy = CreationPolicy::kCreateOrAdopt;
  } else {
    r.fail("spec.namespace.creationPolicy: must be Create, Adopt or CreateOrAdopt");
  }
  // Production and gray keep their namespace unless told otherwise; test and
  // development clean up after themselves.
  const bool keepByDefault = env.stage == "production" || env.stage == "gray";
  const std::string deletion = r.string(ns, "deletionPolicy", "spec.namespace.deletionPolicy",
                                        keepByDefault ? "Retain" : "Delete");
  n.deletionPolicyExplicit = r.child(ns, "deletionPolicy") != nullptr;
  if (deletion == "Retain") {
    n.deletionPolicy = DeletionPolicy::kRetain;
  } else if (deletion == "Delete") {
    n.deletionPolicy = DeletionPolicy::kDelete;
  } else {
    r.fail("spec.namespace.deletionPolicy: must be Retain or Delete");
  }
  if (const Json* quota = r.child(ns, "resourceQuota")) {
    const Json hard = r.object(*quota, "hard", "spec.namespace.resourceQuota.hard");
    if (!hard.empty()) n.resourceQuotaHard = hard;
  }
  if (const Json* limits = r.child(ns, "limitRange")) {
    if (!limits->is_object()) {
      r.fail("spec.namespace.limitRange: must be an object");
    } else if (!limits->empty()) {
      n.limitRange = *limits;
    }
  }
  const std::string isolation =
      r.string(ns, "networkIsolation", "spec.namespace.networkIsolation", "None");
  if (isolation != "None" && isolation != "Isolated") {
    r.fail("spec.namespace.networkIsolation: must be None or Isolated");
  }
  n.isolated = isolation == "Isolated";

  if (const Json* ext = r.child(spec, "externalServices")) {
    ExternalServicesSpec es;
    es.namespace_ = r.string(*ext, "namespace", "spec.externalServices.namespace", "ext");
    const Json* services = r.child(*ext, "services");
    if (services != nullptr && services->is_array()) {
      for (size_t i = 0; i < services->size(); ++i) {
        const Json& s = (*services)[i];
        const std::string path = "spec.externalServices.services[" + std::to_string(i) + "]";
        if (!s.is_object()) {
          r.fail(path + ": must be an object");
          continue;
        }
        ExternalService svc;
        svc.name = r.string(s, "name", path + ".name");
        svc.hostname = r.string(s, "hostname", path + ".hostname");
        for (const Json& a : r.array(s, "addresses", path + ".addresses")) {
          if (a.is_string()) {
            svc.addresses.push_back(a.get<std::string>());
          } else {
            r.fail(path + ".addresses: must be a list of IP addresses");
          }
        }
        if (svc.addresses.empty() == svc.hostname.empty()) {
          r.fail(path + ": needs exactly one of addresses or hostname");
        }
        const Json ports = r.array(s, "ports", path + ".ports");
        for (size_t j = 0; j < ports.size(); ++j) {
          const std::string at = path + ".ports[" + std::to_string(j) + "]";
          if (!ports[j].is_object()) {
            r.fail(at + ": must be an object");
            continue;
          }
          ServicePort p;
          p.name = r.string(ports[j], "name", at + ".name");
          // A number that is not a whole one in range (2.7e260) is refused, never converted;
          // an absent port is as wrong as port 0.
          const std::string range = at + ".port: must be 1 to 65535";
          p.port = static_cast<int>(r.integer(ports[j], "port", range, 0, 1, 65535));
          if (p.port == 0) r.fail(range);
          p.protocol = r.string(ports[j], "protocol", at + ".protocol", "TCP");
          svc.ports.push_back(std::move(p));
        }
        if (FieldReader::child(s, "metricsPort") != nullptr) {
          svc.metricsPort = static_cast<int>(
              r.integer(s, "metricsPort", path + ".metricsPort: must be 1 to 65535", 0, 1, 65535));
        }
        es.services.push_back(std::move(svc));
      }
    }
    env.externalServices = std::move(es);
  }
  if (const Json* monitoring = r.child(spec, "monitoring")) {
    auto parsed = parseMonitoring(*monitoring);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      r.fail(*error);
    } else {
      env.monitoring = std::move(std::get<MonitoringSpec>(parsed));
    }
  }
  if (r.error_) return *r.error_;
  auto registry = parseRegistrySpec(object);
  if (auto* error = std::get_if<std::string>(&registry)) return *error;
  env.registry = std::move(std::get<std::optional<RegistrySpec>>(registry));
  return env;
}

}  // namespace envop::environment
