#include "controller/environment/helm_storage.h"

#include <ctime>

namespace envop::environment {
namespace {

using Json = nlohmann::json;

std::string label(const Json& labels, const char* key) {
  auto it = labels.find(key);
  return it != labels.end() && it->is_string() ? it->get<std::string>() : "";
}

std::optional<long long> number(const std::string& text) {
  if (text.empty() || text.size() > 15) return std::nullopt;
  long long n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parseRfc3339(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  if (*rest == '.') {
    ++rest;
    while (*rest >= '0' && *rest <= '9') ++rest;
  }
  long offset = 0;
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    const int sign = *rest == '-' ? -1 : 1;
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    offset = sign * (hh * 3600L + mm * 60L);
    rest += 6;
  } else {
    return std::nullopt;
  }
  if (*rest != '\0') return std::nullopt;
  const time_t seconds = timegm(&tm) - offset;
  return std::chrono::system_clock::from_time_t(seconds);
}

HelmStorage::HelmStorage(runtime::StorePtr secrets) : secrets_(std::move(secrets)) {}

std::string HelmStorage::secretName(const std::string& release, int revision) {
  return "sh.helm.release.v1." + release + ".v" + std::to_string(revision);
}

std::optional<StoredRelease> HelmStorage::latest(const std::string& ns,
                                                 const std::string& release) const {
  std::optional<StoredRelease> newest;
  for (const runtime::ObjectPtr& object : secrets_->list()) {
    const Json& metadata = (*object)["metadata"];
    if (metadata.value("namespace", "") != ns) continue;
    const Json labels = metadata.value("labels", Json::object());
    if (label(labels, "owner") != "helm" || label(labels, "name") != release) continue;
    const std::optional<long long> revision = number(label(labels, "version"));
    if (!revision || *revision > 1'000'000'000 || (newest && newest->revision >= *revision)) {
      continue;
    }
    StoredRelease stored{.revision = static_cast<int>(*revision),
                         .status = label(labels, "status")};
    // Helm stamps modifiedAt (Unix seconds) on every update; a Secret written once (a
    // pending-upgrade in progress) has only its creation time.
    if (auto modified = number(label(labels, "modifiedAt"))) {
      stored.written = std::chrono::system_clock::from_time_t(static_cast<time_t>(*modified));
    } else if (auto created = parseRfc3339(metadata.value("creationTimestamp", ""))) {
      stored.written = *created;
    }
    newest = stored;
  }
  return newest;
}

}  // namespace envop::environment
