#include "controller/environment/registry_spec.h"

#include <cctype>
#include <cmath>
#include <set>

#include "controller/environment/field_reader.h"
#include "controller/environment/registry_credentials.h"
#include "controller/environment/release_spec.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;

bool isDnsSubdomainName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return s.front() != '-' && s.front() != '.' && s.back() != '-' && s.back() != '.';
}

std::optional<std::chrono::seconds> positiveDuration(FieldReader& r, const Json& parent,
                                                     const char* key, const std::string& path) {
  const std::string text = r.string(parent, key, path);
  if (text.empty()) return std::nullopt;
  const auto d = parseGoDuration(text);
  if (!d || d->count() <= 0) {
    r.fail(path + ": must be a positive Go duration such as 720h, 2m or 30s");
    return std::nullopt;
  }
  return std::chrono::ceil<std::chrono::seconds>(*d);
}

}  // namespace

bool ProjectSpec::sameSettings(const ProjectSpec& o) const {
  return name == o.name && isPublic == o.isPublic && storageQuota == o.storageQuota &&
         autoScan == o.autoScan && preventSeverity == o.preventSeverity &&
         immutableTagPatterns == o.immutableTagPatterns && keepLatestPushed == o.keepLatestPushed;
}

std::optional<std::int64_t> parseQuantityBytes(const std::string& text) {
  if (text == "-1") return -1;
  std::size_t n = 0;
  long double value = 0;
  bool digits = false;
  while (n < text.size() && std::isdigit(static_cast<unsigned char>(text[n]))) {
    value = value * 10 + (text[n++] - '0');
    digits = true;
  }
  if (n < text.size() && text[n] == '.') {
    long double scale = 0.1L;
    for (++n; n < text.size() && std::isdigit(static_cast<unsigned char>(text[n])); ++n) {
      value += (text[n] - '0') * scale;
      scale /= 10;
      digits = true;
    }
  }
  if (!digits) return std::nullopt;
  const std::string suffix = text.substr(n);
  long double factor = 1;
  static const std::pair<const char*, long double> kSuffixes[] = {{"", 1},
                                                                  {"k", 1e3L},
                                                                  {"M", 1e6L},
                                                                  {"G", 1e9L},
                                                                  {"T", 1e12L},
                                                                  {"P", 1e15L},
                                                                  {"E", 1e18L},
                                                                  {"Ki", 1024.0L},
                                                                  {"Mi", 1048576.0L},
                                                                  {"Gi", 1073741824.0L},
                                                                  {"Ti", 1099511627776.0L},
                                                                  {"Pi", 1125899906842624.0L},
                                                                  {"Ei", 1152921504606846976.0L}};
  bool known = false;
  for (const auto& [s, f] : kSuffixes) {
    if (suffix == s) {
      factor = f;
      known = true;
    }
  }
  if (!known) {
    // A decimal exponent: 1e9, 5E3.
    if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return std::nullopt;
    int exponent = 0;
    for (std::size_t i = 1; i < suffix.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(suffix[i])) || exponent > 18) {
        return std::nullopt;
      }
      exponent = exponent * 10 + (suffix[i] - '0');
    }
    factor = std::pow(10.0L, exponent);
  }
  const long double bytes = std::ceil(value * factor);
  if (bytes > 9.2e18L) return std::nullopt;
  return static_cast<std::int64_t>(bytes);
}

std::variant<std::optional<RegistrySpec>, std::string> parseRegistrySpec(const Json& environment) {
  FieldReader r;
  const Json spec = r.object(environment, "spec", "spec");
  const Json registry = r.object(spec, "registry", "spec.registry");
  const Json* harbor = FieldReader::child(registry, "harbor");
  if (harbor == nullptr) {
    if (r.error_) return *r.error_;
    return std::optional<RegistrySpec>();
  }
  const std::string base = "spec.registry.harbor";
  if (!harbor->is_object()) return base + ": must be an object";
  RegistrySpec out;
  out.url = r.string(*harbor, "url", base + ".url");
  while (!out.url.empty() && out.url.back() == '/') out.url.pop_back();
  if (out.url.rfind("https://", 0) == 0) {
    out.https = true;
  } else if (out.url.rfind("http://", 0) == 0) {
    out.https = false;
  } else {
    r.fail(base + ".url: must be an http:// or https:// URL");
  }
  out.host = registryHostOf(out.url);
  if (out.host.empty()) r.fail(base + ".url: names no host");

  const Json creds = r.object(*harbor, "credentialsSecretRef", base + ".credentialsSecretRef");
  out.credentialsSecret = r.string(creds, "name", base + ".credentialsSecretRef.name");
  if (!isDnsSubdomainName(out.credentialsSecret)) {
    r.fail(base + ".credentialsSecretRef.name: must be a Secret name (DNS-1123 subdomain)");
  }
  if (FieldReader::child(*harbor, "caSecretRef") != nullptr) {
    const Json ca = r.object(*harbor, "caSecretRef", base + ".caSecretRef");
    out.caSecret = r.string(ca, "name", base + ".caSecretRef.name");
    if (!isDnsSubdomainName(out.caSecret)) {
      r.fail(base + ".caSecretRef.name: must be a Secret name (DNS-1123 subdomain)");
    }
  }

  const std::string pp = base + ".project";
  const Json project = r.object(*harbor, "project", pp);
  ProjectSpec& p = out.project;
  p.name = r.string(project, "name", pp + ".name");
  if (p.name.empty()) r.fail(pp + ".name: required");
  for (char c : p.name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      r.fail(pp + ".name: only lower-case letters, digits, '.', '_' and '-'");
      break;
    }
  }
  p.isPublic = r.boolean(project, "public", pp + ".public", false);
  if (const Json* quota = FieldReader::child(project, "storageQuota")) {
    std::optional<std::int64_t> bytes;
    if (quota->is_string()) bytes = parseQuantityBytes(quota->get<std::string>());
    if (quota->is_number_integer()) {
      const auto n = quota->get<std::int64_t>();
      if (n >= -1) bytes = n;
    }
    if (!bytes) {
      r.fail(pp + ".storageQuota: must be a quantity such as 50Gi, or -1 for Harbor's default");
    } else {
      p.storageQuota = *bytes;
    }
  }
  p.autoScan = r.boolean(project, "autoScan", pp + ".autoScan", false);
  if (FieldReader::child(project, "preventVulnerable") != nullptr) {
    const Json prevent = r.object(project, "preventVulnerable", pp + ".preventVulnerable");
    p.preventSeverity = r.string(prevent, "severity", pp + ".preventVulnerable.severity");
    static const std::set<std::string> kSeverities{"none", "low", "medium", "high", "critical"};
    if (!kSeverities.count(p.preventSeverity)) {
      r.fail(pp + ".preventVulnerable.severity: must be none, low, medium, high or critical");
    }
  }
  const Json patterns = r.array(project, "immutableTagPatterns", pp + ".immutableTagPatterns");
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    if (!patterns[i].is_string() || patterns[i].get<std::string>().empty()) {
      r.fail(pp + ".immutableTagPatterns[" + std::to_string(i) + "]: must be a non-empty string");
      continue;
    }
    p.immutableTagPatterns.push_back(patterns[i].get<std::string>());
  }
  if (FieldReader::child(project, "retention") != nullptr) {
    const Json retention = r.object(project, "retention", pp + ".retention");
    if (const Json* keep = FieldReader::child(retention, "keepLatestPushed")) {
      if (!keep->is_number_integer() || keep->get<std::int64_t>() < 1 ||
          keep->get<std::int64_t>() > 2147483647) {
        r.fail(pp + ".retention.keepLatestPushed: must be a whole number of at least 1");
      } else {
        p.keepLatestPushed = keep->get<int>();
      }
    }
  }
  const std::string deletion =
      r.string(project, "deletionPolicy", pp + ".deletionPolicy", "Retain");
  if (deletion == "Retain") {
    p.deletionPolicy = ProjectDeletionPolicy::kRetain;
  } else if (deletion == "Delete") {
    p.deletionPolicy = ProjectDeletionPolicy::kDelete;
  } else {
    r.fail(pp + ".deletionPolicy: must be Retain or Delete");
  }

  if (FieldReader::child(*harbor, "pullSecret") != nullptr) {
    const std::string sp = base + ".pullSecret";
    const Json pull = r.object(*harbor, "pullSecret", sp);
    PullSecretSpec ps;
    ps.name = r.string(pull, "name", sp + ".name");
    if (!isDnsSubdomainName(ps.name)) {
      r.fail(sp + ".name: must be a Secret name (DNS-1123 subdomain)");
    }
    if (FieldReader::child(pull, "serviceAccounts") != nullptr) {
      ps.serviceAccounts.clear();
      const Json sas = r.array(pull, "serviceAccounts", sp + ".serviceAccounts");
      for (std::size_t i = 0; i < sas.size(); ++i) {
        if (!sas[i].is_string() || !isDnsSubdomainName(sas[i].get<std::string>())) {
          r.fail(sp + ".serviceAccounts[" + std::to_string(i) + "]: must be a ServiceAccount name");
          continue;
        }
        ps.serviceAccounts.push_back(sas[i].get<std::string>());
      }
    }
    if (FieldReader::child(pull, "rotation") != nullptr) {
      const Json rotation = r.object(pull, "rotation", sp + ".rotation");
      const auto every = positiveDuration(r, rotation, "every", sp + ".rotation.every");
      const auto overlap = positiveDuration(r, rotation, "overlap", sp + ".rotation.overlap");
      if (!every && !r.error_) r.fail(sp + ".rotation.every: required");
      if (every) {
        RotationSpec rs{.every = *every, .overlap = overlap.value_or(std::chrono::seconds(0))};
        if (rs.overlap >= rs.every) {
          r.fail(sp + ".rotation.overlap: must be shorter than rotation.every");
        }
        ps.rotation = rs;
      }
    }
    out.pullSecret = std::move(ps);
  }
  if (r.error_) return *r.error_;
  return std::optional<RegistrySpec>(std::move(out));
}

}  // namespace envop::environment
