// ReleasesSpec is the typed view of the Helm half of an Environment: spec.charts (where charts
// come from), spec.values (values under every release) and spec.releases, with api.md's defaults
// applied. Parsing never throws and an error names the field. resolveChart turns a release's
// `chart` string into the source Helm is pointed at: a name under spec.charts.repository, a full
// oci:// or http(s):// reference, or a local path (development clusters).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace envop::environment {

inline constexpr std::chrono::seconds kDefaultReleaseTimeout{300};
inline constexpr int kDefaultRemediationRetries = 3;
inline constexpr const char* kDefaultValuesKey = "values.yaml";

struct ChartsSpec {
  std::string repository;         // "" when unset; oci://, https:// or http://
  std::optional<bool> plainHttp;  // spec.charts.plainHTTP; unset: decided by the host
  // spec.charts.credentialsSecretRef.name: a kubernetes.io/dockerconfigjson Secret in the
  // stage namespace with the chart registries' logins; "" when unset.
  std::string credentialsSecret;
};

struct ValuesSource {
  enum class Kind { kConfigMap, kSecret };
  Kind kind = Kind::kConfigMap;
  std::string name;
  std::string key = kDefaultValuesKey;
  bool optional = false;

  bool operator==(const ValuesSource&) const = default;
};

struct Remediation {
  enum class OnFailure { kRollback, kUninstall, kNone };
  int retries = kDefaultRemediationRetries;
  OnFailure onFailure = OnFailure::kRollback;

  bool operator==(const Remediation&) const = default;
};

// spec.releases[].driftDetection, as Flux's helm-controller names it: what envop does when
// an object of a deployed release no longer matches what the chart set.
struct DriftDetection {
  enum class Mode { kEnabled, kWarn, kDisabled };
  // JSON pointers (RFC 6901) the chart sets but another manager may own (an HPA's
  // /spec/replicas); an empty kind or name matches every object.
  struct Ignore {
    std::vector<std::string> paths;
    std::string kind;
    std::string name;
    bool operator==(const Ignore&) const = default;
  };
  Mode mode = Mode::kEnabled;
  std::vector<Ignore> ignore;
  bool operator==(const DriftDetection&) const = default;
};

struct ReleaseSpec {
  std::string name;
  std::string chart;
  std::string version;  // "" = the latest
  nlohmann::json values = nlohmann::json::object();
  std::vector<ValuesSource> valuesFrom;
  std::vector<std::string> dependsOn;
  std::chrono::seconds timeout = kDefaultReleaseTimeout;
  bool wait = true;
  Remediation remediation;
  DriftDetection driftDetection;
  bool suspend = false;
};

struct ReleasesSpec {
  ChartsSpec charts;
  nlohmann::json values = nlohmann::json::object();  // spec.values
  std::vector<ReleaseSpec> releases;
};

// Reads spec.charts, spec.values and spec.releases from an Environment object. Release names
// must be unique DNS-1123 labels of at most 53 characters (Helm's limit).
std::variant<ReleasesSpec, std::string> parseReleasesSpec(const nlohmann::json& environment);

// A Go duration ("90s", "5m", "1h30m", "1.5h", "300ms", "0"); nullopt when malformed.
std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view text);

struct ResolvedChart {
  enum class Kind {
    kOci,        // helm ... <reference> --version <version>
    kHttpsRepo,  // helm ... <chartName> --repo <repoUrl> --version <version>; or, with an empty
                 // repoUrl, <reference> is a chart archive URL (…/name-1.2.3.tgz)
    kLocalPath,  // helm ... <reference>, a directory or archive on the controller's filesystem
  };
  Kind kind = Kind::kOci;
  std::string reference;  // what the user's chart names, fully qualified
  std::string repoUrl;    // oci://host/project or https://host/path; "" for local paths
  std::string chartName;
  std::string version;  // the requested version or range ("" = latest)
  bool plainHttp = false;
  std::string host;  // host[:port] to log in to; "" for local paths

  bool operator==(const ResolvedChart&) const = default;
};

// Where `release.chart` comes from. A bare name (no scheme, no '/') needs spec.charts.repository.
// plainHttp: spec.charts.plainHTTP when set, else true only for loopback hosts (127.0.0.0/8, ::1,
// localhost) for OCI; http:// repositories are plain by their scheme.
std::variant<ResolvedChart, std::string> resolveChart(const ChartsSpec& charts,
                                                      const ReleaseSpec& release);

// Whether a host (without port; IPv6 with or without brackets) is a loopback host.
bool isLoopbackHost(std::string_view host);

}  // namespace envop::environment
