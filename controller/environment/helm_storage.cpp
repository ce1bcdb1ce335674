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

// Unix seconds as a system_clock time, when it can hold them: libstdc++'s counts nanoseconds in
// 64 bits (years 1678..2262), and from_time_t past that is signed overflow (UBSan, found by
// test/fuzz/helm_output_fuzzer with a creationTimestamp in the year 4052).
std::optional<std::chrono::system_clock::time_point> fromUnixSeconds(long long seconds) {
  using namespace std::chrono;
  constexpr long long kMax =
      duration_cast<std::chrono::seconds>(system_clock::duration::max()).count();
  if (seconds > kMax || seconds < -kMax) return std::nullopt;
  return system_clock::time_point(std::chrono::seconds(seconds));
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
    // Exactly "hh:mm": sscanf's %2d also takes one digit ("+1:2"), and stepping 6 bytes past
    // such a shorter offset read beyond the end of the text.
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (!digit(rest[1]) || !digit(rest[2]) || rest[3] != ':' || !digit(rest[4]) ||
        !digit(rest[5])) {
      return std::nullopt;
    }
    const int hh = (rest[1] - '0') * 10 + (rest[2] - '0');
    const int mm = (rest[4] - '0') * 10 + (rest[5] - '0');
    offset = sign * (hh * 3600L + mm * 60L);
    rest += 6;
  } else {
    return std::nullopt;
  }
  if (*rest != '\0') return std::nullopt;
  const time_t seconds = timegm(&tm) - offset;
  return fromUnixSeconds(seconds);
}

HelmStorage::HelmStorage(runtime::StorePtr secrets) : secrets_(std::move(secrets)) {}

std::string HelmStorage::secretName(const std::string& release, int revision) {
  return "sh.helm.release.v1." + release + ".v" + std::to_string(revision);
}

std::optional<StoredRelease> HelmStorage::latest(const std::string& ns,
                                                 const std::string& release) const {
  std::optional<StoredRelease> newest;
  // One namespace's Secrets, not every release's of the cluster: observing a release is not a
  // walk of the whole store.
  for (const runtime::ObjectPtr& object : secrets_->listNamespace(ns)) {
    // Read field by field: a malformed object is skipped, never a type_error out of a worker.
    if (!object->is_object()) continue;
    const auto m = object->find("metadata");
    if (m == object->end() || !m->is_object()) continue;
    const Json& metadata = *m;
    if (label(metadata, "namespace") != ns) continue;
    const auto l = metadata.find("labels");
    const Json labels = l != metadata.end() && l->is_object() ? *l : Json::object();
    if (label(labels, "owner") != "helm" || label(labels, "name") != release) continue;
    const std::optional<long long> revision = number(label(labels, "version"));
    if (!revision || *revision > 1'000'000'000 || (newest && newest->revision >= *revision)) {
      continue;
    }
    StoredRelease stored{.revision = static_cast<int>(*revision),
                         .status = label(labels, "status")};
    // Helm stamps modifiedAt (Unix seconds) on every update; a Secret written once (a
    // pending-upgrade in progress) has only its creation time.
    const std::optional<long long> modifiedAt = number(label(labels, "modifiedAt"));
    if (auto modified = modifiedAt ? fromUnixSeconds(*modifiedAt) : std::nullopt) {
      stored.written = *modified;
    } else if (auto created = parseRfc3339(label(metadata, "creationTimestamp"))) {
      stored.written = *created;
    }
    newest = stored;
  }
  return newest;
}

}  // namespace envop::environment
