#include "controller/environment/registry_credentials.h"

#include <algorithm>
#include <cctype>

#include "controller/kube/config.h"

namespace envop::environment {

using Json = nlohmann::json;

namespace {

std::string stringField(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

const RegistryLogin* RegistryCredentials::find(std::string_view host) const {
  auto it = byHost.find(registryHostOf(host));
  return it == byHost.end() ? nullptr : &it->second;
}

std::string registryHostOf(std::string_view key) {
  if (const std::size_t scheme = key.find("://"); scheme != std::string_view::npos) {
    key.remove_prefix(scheme + 3);
  }
  key = key.substr(0, key.find('/'));
  std::string host(key);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return host;
}

std::variant<RegistryCredentials, std::string> parseDockerConfigSecret(const Json& secret) {
  const Json metadata = secret.is_object() ? secret.value("metadata", Json::object()) : Json();
  const std::string where =
      "Secret " + stringField(metadata, "namespace") + "/" + stringField(metadata, "name");
  if (!secret.is_object()) return where + " is not an object";
  const std::string type = stringField(secret, "type");
  if (type != kDockerConfigJsonType) {
    return where + " is of type \"" + type + "\", want " + kDockerConfigJsonType;
  }
  const Json data = secret.value("data", Json::object());
  const std::string encoded = data.is_object() ? stringField(data, kDockerConfigJsonKey) : "";
  if (encoded.empty()) return where + " has no key " + kDockerConfigJsonKey;
  const std::optional<std::string> text = kube::decodeBase64(encoded);
  if (!text) return where + " key " + kDockerConfigJsonKey + " is not base64";
  const Json config = Json::parse(*text, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    return where + " key " + kDockerConfigJsonKey + " is not a JSON object";
  }
  auto auths = config.find("auths");
  if (auths == config.end() || !auths->is_object()) {
    return where + " key " + kDockerConfigJsonKey + " has no \"auths\" object";
  }
  RegistryCredentials out;
  for (const auto& [key, entry] : auths->items()) {
    const std::string field = where + " " + kDockerConfigJsonKey + " auths[\"" + key + "\"]";
    const std::string host = registryHostOf(key);
    if (host.empty()) return field + ": not a registry host";
    if (!entry.is_object()) return field + ": must be an object";
    RegistryLogin login{stringField(entry, "username"), stringField(entry, "password")};
    if (login.username.empty() && login.password.empty()) {
      const std::string auth = stringField(entry, "auth");
      if (auth.empty()) return field + ": needs username and password, or auth";
      const std::optional<std::string> pair = kube::decodeBase64(auth);
      const std::size_t colon = pair ? pair->find(':') : std::string::npos;
      if (colon == std::string::npos) return field + ".auth: must be base64 of user:password";
      login = {pair->substr(0, colon), pair->substr(colon + 1)};
    }
    if (login.username.empty()) return field + ": empty username";
    if (login.password.empty()) return field + ": empty password";
    out.byHost[host] = std::move(login);
  }
  return out;
}

}  // namespace envop::environment
