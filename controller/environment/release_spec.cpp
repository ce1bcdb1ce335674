#include "controller/environment/release_spec.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "controller/environment/field_reader.h"
#include "controller/environment/registry_credentials.h"
#include "controller/environment/registry_spec.h"

namespace envop::environment {

using Json = nlohmann::json;

namespace {

constexpr std::size_t kMaxReleaseName = 53;  // Helm's limit

bool isDnsLabel(std::string_view s) {
  if (s.empty() || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t dot = std::min(s.find('.', start), s.size());
    if (!isDnsLabel(s.substr(start, dot - start))) return false;
    start = dot + 1;
  }
  return true;
}

ValuesSource parseValuesSource(FieldReader& r, const Json& item, const std::string& path) {
  ValuesSource source;
  const std::string kind = r.string(item, "kind", path + ".kind");
  if (kind == "ConfigMap") {
    source.kind = ValuesSource::Kind::kConfigMap;
  } else if (kind == "Secret") {
    source.kind = ValuesSource::Kind::kSecret;
  } else {
    r.fail(path + ".kind: must be ConfigMap or Secret");
  }
  source.name = r.string(item, "name", path + ".name");
  if (source.name.empty()) r.fail(path + ".name: required");
  source.key = r.string(item, "key", path + ".key", kDefaultValuesKey);
  if (source.key.empty()) r.fail(path + ".key: must not be empty");
  source.optional = r.boolean(item, "optional", path + ".optional", false);
  return source;
}

Remediation parseRemediation(FieldReader& r, const Json& release, const std::string& path) {
  Remediation remediation;
  const Json spec = r.object(release, "remediation", path);
  if (const Json* retries = FieldReader::child(spec, "retries")) {
    if (!retries->is_number_integer() || retries->get<std::int64_t>() < 0 ||
        retries->get<std::int64_t>() > 100) {
      r.fail(path + ".retries: must be an integer from 0 to 100");
    } else {
      remediation.retries = retries->get<int>();
    }
  }
  const std::string onFailure = r.string(spec, "onFailure", path + ".onFailure", "Rollback");
  if (onFailure == "Rollback") {
    remediation.onFailure = Remediation::OnFailure::kRollback;
  } else if (onFailure == "Uninstall") {
    remediation.onFailure = Remediation::OnFailure::kUninstall;
  } else if (onFailure == "None") {
    remediation.onFailure = Remediation::OnFailure::kNone;
  } else {
    r.fail(path + ".onFailure: must be Rollback, Uninstall or None");
  }
  return remediation;
}

DriftDetection parseDriftDetection(FieldReader& r, const Json& item, const std::string& path) {
  DriftDetection drift;
  const Json d = r.object(item, "driftDetection", path);
  const std::string mode = r.string(d, "mode", path + ".mode", "Enabled");
  if (mode == "Enabled") {
    drift.mode = DriftDetection::Mode::kEnabled;
  } else if (mode == "Warn") {
    drift.mode = DriftDetection::Mode::kWarn;
  } else if (mode == "Disabled") {
    drift.mode = DriftDetection::Mode::kDisabled;
  } else {
    r.fail(path + ".mode: must be Enabled, Warn or Disabled");
  }
  const Json ignore = r.array(d, "ignore", path + ".ignore");
  for (std::size_t i = 0; i < ignore.size(); ++i) {
    const std::string at = path + ".ignore[" + std::to_string(i) + "]";
    DriftDetection::Ignore rule;
    const Json paths = r.array(ignore[i], "paths", at + ".paths");
    if (paths.empty()) r.fail(at + ".paths: at least one JSON pointer is required");
    for (std::size_t j = 0; j < paths.size(); ++j) {
      const std::string where = at + ".paths[" + std::to_string(j) + "]";
      if (!paths[j].is_string() || paths[j].get<std::string>().empty() ||
          paths[j].get<std::string>()[0] != '/') {
        r.fail(where + ": must be a JSON pointer such as /spec/replicas");
        continue;
      }
      rule.paths.push_back(paths[j].get<std::string>());
    }
    const Json target = r.object(ignore[i], "target", at + ".target");
    rule.kind = r.string(target, "kind", at + ".target.kind");
    rule.name = r.string(target, "name", at + ".target.name");
    drift.ignore.push_back(std::move(rule));
  }
  return drift;
}

ReleaseSpec parseRelease(FieldReader& r, const Json& item, const std::string& path) {
  ReleaseSpec release;
  if (!item.is_object()) return r.failWith(path + ": must be an object", release);
  release.name = r.string(item, "name", path + ".name");
  if (release.name.size() > kMaxReleaseName || !isDnsLabel(release.name)) {
    r.fail(path + ".name: must be a DNS-1123 label of at most 53 characters");
  }
  release.chart = r.string(item, "chart", path + ".chart");
  if (release.chart.empty()) r.fail(path + ".chart: required");
  release.version = r.string(item, "version", path + ".version");
  release.values = r.object(item, "values", path + ".values");
  const Json from = r.array(item, "valuesFrom", path + ".valuesFrom");
  for (std::size_t i = 0; i < from.size(); ++i) {
    release.valuesFrom.push_back(
        parseValuesSource(r, from[i], path + ".valuesFrom[" + std::to_string(i) + "]"));
  }
  const Json deps = r.array(item, "dependsOn", path + ".dependsOn");
  for (std::size_t i = 0; i < deps.size(); ++i) {
    if (!deps[i].is_string()) {
      r.fail(path + ".dependsOn[" + std::to_string(i) + "]: must be a string");
      continue;
    }
    const std::string dep = deps[i].get<std::string>();
    // A list-type set in the CRD; a duplicate slipped past admission is harmless, so fold it.
    if (std::find(release.dependsOn.begin(), release.dependsOn.end(), dep) ==
        release.dependsOn.end()) {
      release.dependsOn.push_back(dep);
    }
  }
  const std::string timeout = r.string(item, "timeout", path + ".timeout", "5m");
  const auto duration = parseGoDuration(timeout);
  if (!duration || *duration <= std::chrono::nanoseconds::zero()) {
    r.fail(path + ".timeout: must be a positive Go duration such as 90s, 5m or 1h30m");
  } else {
    // Helm's --timeout takes whole seconds well; round a sub-second remainder up, never to 0.
    release.timeout = std::chrono::ceil<std::chrono::seconds>(*duration);
  }
  release.wait = r.boolean(item, "wait", path + ".wait", true);
  release.remediation = parseRemediation(r, item, path + ".remediation");
  release.driftDetection = parseDriftDetection(r, item, path + ".driftDetection");
  release.suspend = r.boolean(item, "suspend", path + ".suspend", false);
  return release;
}

// Splits "scheme://host[:port]/path" into its host[:port] and the hostname alone.
struct Authority {
  std::string hostPort;
  std::string hostname;
};

Authority authorityOf(std::string_view url) {
  const std::size_t schemeEnd = url.find("://");
  std::string_view rest = schemeEnd == std::string_view::npos ? url : url.substr(schemeEnd + 3);
  rest = rest.substr(0, rest.find('/'));
  const std::size_t at = rest.rfind('@');  // user:password@host — never keep credentials
  if (at != std::string_view::npos) rest.remove_prefix(at + 1);
  Authority a{std::string(rest), std::string(rest)};
  if (!rest.empty() && rest.front() == '[') {
    a.hostname = std::string(rest.substr(1, rest.find(']') - 1));
  } else if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    a.hostname = std::string(rest.substr(0, colon));
  }
  return a;
}

bool startsWith(std::string_view s, std::string_view prefix) { return s.starts_with(prefix); }

}  // namespace

std::variant<ReleasesSpec, std::string> parseReleasesSpec(const Json& environment) {
  FieldReader r;
  ReleasesSpec out;
  const Json spec = r.object(environment, "spec", "spec");
  const Json charts = r.object(spec, "charts", "spec.charts");
  out.charts.repository = r.string(charts, "repository", "spec.charts.repository");
  while (out.charts.repository.size() > 1 && out.charts.repository.back() == '/') {
    out.charts.repository.pop_back();
  }
  if (!out.charts.repository.empty() && !startsWith(out.charts.repository, "oci://") &&
      !startsWith(out.charts.repository, "https://") &&
      !startsWith(out.charts.repository, "http://")) {
    r.fail("spec.charts.repository: must start with oci://, https:// or http://");
  }
  if (FieldReader::child(charts, "plainHTTP") != nullptr) {
    out.charts.plainHttp = r.boolean(charts, "plainHTTP", "spec.charts.plainHTTP", false);
  }
  if (FieldReader::child(charts, "credentialsSecretRef") != nullptr) {
    const Json ref = r.object(charts, "credentialsSecretRef", "spec.charts.credentialsSecretRef");
    out.charts.credentialsSecret = r.string(ref, "name", "spec.charts.credentialsSecretRef.name");
    if (!isDnsSubdomain(out.charts.credentialsSecret)) {
      r.fail("spec.charts.credentialsSecretRef.name: must be a Secret name (DNS-1123 subdomain)");
    }
  }
  // Charts on the Harbor of spec.registry are pulled as the stage's robot: its pull Secret is a
  // dockerconfigjson in the stage namespace with a login for that host, just what
  // credentialsSecretRef names. TLS unless the Harbor itself is plain http.
  auto registry = parseRegistrySpec(environment);
  if (const auto* harbor = std::get_if<std::optional<RegistrySpec>>(&registry);
      harbor != nullptr && harbor->has_value() && (*harbor)->pullSecret &&
      !out.charts.repository.empty() && registryHostOf(out.charts.repository) == (*harbor)->host) {
    out.charts.credentialsSecret = (*harbor)->pullSecret->name;
    if (!out.charts.plainHttp) out.charts.plainHttp = !(*harbor)->https;
  }
  out.values = r.object(spec, "values", "spec.values");
  const Json releases = r.array(spec, "releases", "spec.releases");
  std::set<std::string> names;
  for (std::size_t i = 0; i < releases.size(); ++i) {
    const std::string path = "spec.releases[" + std::to_string(i) + "]";
    ReleaseSpec release = parseRelease(r, releases[i], path);
    if (!release.name.empty() && !names.insert(release.name).second) {
      r.fail(path + ".name: duplicate release name \"" + release.name + "\"");
    }
    out.releases.push_back(std::move(release));
  }
  if (r.error_) return *r.error_;
  return out;
}

std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view text) {
  using std::chrono::nanoseconds;
  if (text == "0") return nanoseconds::zero();
  bool negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;
  // Long double keeps fractions ("1.5h") exact enough; the cap keeps the cast defined.
  long double total = 0;
  constexpr long double kMaxNanos = 9.2e18L;
  while (!text.empty()) {
    std::size_t n = 0;
    long double value = 0;
    while (n < text.size() && text[n] >= '0' && text[n] <= '9')
      value = value * 10 + (text[n++] - '0');
    bool digits = n > 0;
    if (n < text.size() && text[n] == '.') {
      long double scale = 0.1L;
      ++n;
      while (n < text.size() && text[n] >= '0' && text[n] <= '9') {
        value += (text[n++] - '0') * scale;
        scale /= 10;
        digits = true;
      }
    }
    if (!digits) return std::nullopt;
    text.remove_prefix(n);
    std::size_t unitLength = 0;
    while (unitLength < text.size() && !(text[unitLength] >= '0' && text[unitLength] <= '9') &&
           text[unitLength] != '.') {
      ++unitLength;
    }
    const std::string_view unit = text.substr(0, unitLength);
    text.remove_prefix(unitLength);
    long double nanosPerUnit = 0;
    if (unit == "ns") {
      nanosPerUnit = 1;
    } else if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") {
      nanosPerUnit = 1e3L;
    } else if (unit == "ms") {
      nanosPerUnit = 1e6L;
    } else if (unit == "s") {
      nanosPerUnit = 1e9L;
    } else if (unit == "m") {
      nanosPerUnit = 60e9L;
    } else if (unit == "h") {
      nanosPerUnit = 3600e9L;
    } else {
      return std::nullopt;  // a missing or unknown unit, as Go rejects "5" and "5d"
    }
    total += value * nanosPerUnit;
    if (total > kMaxNanos) return std::nullopt;
  }
  const auto nanos = nanoseconds(static_cast<std::int64_t>(total + 0.5L));
  return negative ? -nanos : nanos;
}

bool isLoopbackHost(std::string_view host) {
  if (!host.empty() && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  if (!host.starts_with("127.")) return false;
  // A dotted quad in 127.0.0.0/8: four decimal octets, each at most 255.
  int octets = 0;
  std::size_t i = 0;
  while (i <= host.size()) {
    std::size_t j = i;
    int value = 0;
    while (j < host.size() && host[j] >= '0' && host[j] <= '9' && j - i < 3) {
      value = value * 10 + (host[j++] - '0');
    }
    if (j == i || value > 255) return false;
    ++octets;
    if (j == host.size()) break;
    if (host[j] != '.') return false;
    i = j + 1;
  }
  return octets == 4;
}

std::variant<ResolvedChart, std::string> resolveChart(const ChartsSpec& charts,
                                                      const ReleaseSpec& release) {
  const std::string& chart = release.chart;
  const std::string field = "release \"" + release.name + "\" chart \"" + chart + "\"";
  ResolvedChart out;
  out.version = release.version;
  if (chart.empty()) return field + ": required";

  std::string url;
  if (chart.find("://") != std::string::npos) {
    url = chart;
  } else if (chart.find('/') != std::string::npos || chart.front() == '.') {
    out.kind = ResolvedChart::Kind::kLocalPath;
    out.reference = chart;
    const std::size_t slash = chart.find_last_of('/');
    out.chartName = slash == std::string::npos ? chart : chart.substr(slash + 1);
    return out;
  } else {
    if (charts.repository.empty()) {
      return field + ": a bare chart name needs spec.charts.repository";
    }
    std::string repository = charts.repository;
    while (!repository.empty() && repository.back() == '/') repository.pop_back();
    url = repository + "/" + chart;
  }

  const std::size_t schemeEnd = url.find("://");
  const std::string scheme = url.substr(0, schemeEnd);
  const Authority authority = authorityOf(url);
  const std::size_t slash = url.find_last_of('/');
  if (authority.hostname.empty() || slash <= schemeEnd + 3 || slash + 1 >= url.size()) {
    return field + ": must be <scheme>://<host>/<path>/<chart>";
  }
  out.host = authority.hostPort;
  out.repoUrl = url.substr(0, slash);
  out.chartName = url.substr(slash + 1);
  out.reference = url;
  if (scheme == "oci") {
    out.kind = ResolvedChart::Kind::kOci;
    // "oci://host/project/name:1.2.3" carries its version as the tag.
    if (const std::size_t colon = out.chartName.find(':');
        colon != std::string::npos && out.chartName.find('@') == std::string::npos) {
      const std::string tag = out.chartName.substr(colon + 1);
      if (!out.version.empty() && out.version != tag) {
        return field + ": the tag and version \"" + out.version + "\" disagree";
      }
      out.version = tag;
      out.chartName.resize(colon);
      out.reference = out.repoUrl + "/" + out.chartName;
    }
    out.plainHttp = charts.plainHttp.value_or(isLoopbackHost(authority.hostname));
  } else if (scheme == "https" || scheme == "http") {
    out.kind = ResolvedChart::Kind::kHttpsRepo;
    out.plainHttp = scheme == "http";
    // A URL to a packaged chart is used as it is; anything else is <repository>/<chart name>.
    if (out.chartName.ends_with(".tgz")) out.repoUrl.clear();
  } else {
    return field + ": unsupported scheme \"" + scheme + "\"; use oci://, https:// or http://";
  }
  return out;
}

}  // namespace envop::environment
