// The Environment spec as the reconciler reads it from the API server's JSON: parseEnvironment
// (namespace, guardrails, external services, registry, monitoring), parseReleasesSpec and
// resolveChart for every release, and the dockerconfigjson Secret a charts.credentialsSecretRef
// names (parseDockerConfigSecret). Input: one JSON document.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "controller/environment/registry_credentials.h"
#include "controller/environment/release_spec.h"
#include "controller/environment/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace envop::environment;
  const nlohmann::json object = nlohmann::json::parse(data, data + size, nullptr, false);
  if (object.is_discarded()) return 0;
  (void)parseEnvironment(object);
  auto releases = parseReleasesSpec(object);
  if (auto* spec = std::get_if<ReleasesSpec>(&releases)) {
    for (const auto& release : spec->releases) (void)resolveChart(spec->charts, release);
  }
  (void)parseDockerConfigSecret(object);
  if (object.is_object()) {
    for (const auto& [key, value] : object.items()) {
      if (!value.is_string()) continue;
      const std::string& text = value.get_ref<const std::string&>();
      (void)parseGoDuration(text);
      (void)registryHostOf(text);
      (void)isLoopbackHost(text);
    }
  }
  return 0;
}
