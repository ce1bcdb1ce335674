// RegistryCredentials are the registry logins of a `kubernetes.io/dockerconfigjson` Secret, the
// format of image pull secrets and of Flux's HelmRepository.secretRef: `.dockerconfigjson` is
// `{"auths": {"<host>": {"username": ..., "password": ...} | {"auth": base64("user:pass")}}}`.
// spec.charts.credentialsSecretRef names one; the Harbor part writes one for its robot. Parsing is
// pure and never throws; an error names the Secret and the key, never a value of it.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace envop::environment {

inline constexpr const char* kDockerConfigJsonType = "kubernetes.io/dockerconfigjson";
inline constexpr const char* kDockerConfigJsonKey = ".dockerconfigjson";

struct RegistryLogin {
  std::string username;
  std::string password;

  bool operator==(const RegistryLogin&) const = default;
};

struct RegistryCredentials {
  std::map<std::string, RegistryLogin> byHost;  // host[:port], as registryHostOf normalises it

  // The login for host[:port]; nullptr when the Secret has none.
  const RegistryLogin* find(std::string_view host) const;
};

// The Secret object (as the API server returns it) → its logins, or what is wrong with it.
std::variant<RegistryCredentials, std::string> parseDockerConfigSecret(
    const nlohmann::json& secret);

// An auths key as docker writes them ("https://host:5000/v1/", "http://host", "host") → the
// host[:port] a chart reference names; lowercased, as hostnames compare.
std::string registryHostOf(std::string_view key);

}  // namespace envop::environment
