#include "controller/environment/registry_objects.h"

#include <map>

#include "controller/environment/registry_credentials.h"
#include "controller/environment/spec.h"
#include "controller/kube/config.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;

std::string flag(bool b) { return b ? "true" : "false"; }

std::string stringOf(const Json& parent, const char* key) {
  if (!parent.is_object()) return "";
  auto it = parent.find(key);
  if (it == parent.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return flag(it->get<bool>());  // tolerant of a Harbor that sends bools
  return "";
}

std::int64_t intOf(const Json& parent, const char* key, std::int64_t fallback) {
  if (!parent.is_object()) return fallback;
  auto it = parent.find(key);
  return it != parent.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
}

}  // namespace

Json desiredProjectMetadata(const ProjectSpec& p) {
  Json m = {{"public", flag(p.isPublic)}, {"auto_scan", flag(p.autoScan)}};
  const bool prevent = !p.preventSeverity.empty() && p.preventSeverity != "none";
  m["prevent_vul"] = flag(prevent);
  if (prevent) m["severity"] = p.preventSeverity;
  return m;
}

Json projectRequest(const ProjectSpec& p) {
  Json req = {{"project_name", p.name}, {"metadata", desiredProjectMetadata(p)}};
  if (p.storageQuota >= 0) req["storage_limit"] = p.storageQuota;
  return req;
}

std::vector<std::string> projectMetadataDrift(const ProjectSpec& spec, const Json& project) {
  const Json have = project.is_object() ? project.value("metadata", Json::object()) : Json();
  std::vector<std::string> out;
  const Json want = desiredProjectMetadata(spec);
  for (const char* key : {"public", "auto_scan", "prevent_vul", "severity"}) {
    if (!want.contains(key)) continue;
    std::string current = stringOf(have, key);
    // Harbor leaves a false flag out of a project's metadata; absent is "false".
    if (current.empty() && std::string(key) != "severity") current = "false";
    if (current != want[key].get<std::string>()) out.push_back(key);
  }
  return out;
}

bool quotaMatches(const ProjectSpec& spec, const Json& quota) {
  if (spec.storageQuota < 0) return true;
  const Json hard = quota.is_object() ? quota.value("hard", Json::object()) : Json();
  return intOf(hard, "storage", -2) == spec.storageQuota;
}

Json immutableRule(const std::string& pattern) {
  return {
      {"disabled", false},
      {"action", "immutable"},
      {"template", "immutable_template"},
      {"tag_selectors",
       Json::array({{{"kind", "doublestar"}, {"decoration", "matches"}, {"pattern", pattern}}})},
      {"scope_selectors",
       {{"repository",
         Json::array(
             {{{"kind", "doublestar"}, {"decoration", "repoMatches"}, {"pattern", "**"}}})}}}};
}

std::optional<std::string> immutableRulePattern(const Json& rule) {
  if (!rule.is_object() || rule.value("disabled", false)) return std::nullopt;
  const Json tags = rule.value("tag_selectors", Json::array());
  if (!tags.is_array() || tags.size() != 1 || !tags[0].is_object()) return std::nullopt;
  if (tags[0].value("decoration", "") != "matches") return std::nullopt;
  const Json scopes = rule.value("scope_selectors", Json::object());
  const Json repos = scopes.is_object() ? scopes.value("repository", Json::array()) : Json();
  if (!repos.is_array() || repos.size() != 1 || !repos[0].is_object() ||
      repos[0].value("pattern", "") != "**" || repos[0].value("decoration", "") != "repoMatches") {
    return std::nullopt;
  }
  const std::string pattern = stringOf(tags[0], "pattern");
  if (pattern.empty()) return std::nullopt;
  return pattern;
}

ImmutableRulesPlan planImmutableRules(const ProjectSpec& spec, const std::vector<Json>& rules) {
  ImmutableRulesPlan plan;
  std::map<std::string, bool> covered;
  for (const std::string& p : spec.immutableTagPatterns) covered[p] = false;
  for (const Json& rule : rules) {
    const std::optional<std::string> pattern = immutableRulePattern(rule);
    auto it = pattern ? covered.find(*pattern) : covered.end();
    if (it != covered.end() && !it->second) {
      it->second = true;
      continue;
    }
    // Not one of the spec's (a human's rule, a disabled one, a second copy): the spec says
    // which tags are immutable, all of them.
    plan.remove.push_back(intOf(rule, "id", 0));
  }
  for (const std::string& p : spec.immutableTagPatterns) {
    if (!covered[p]) {
      plan.create.push_back(p);
      covered[p] = true;  // a pattern listed twice gets one rule
    }
  }
  return plan;
}

Json retentionPolicy(std::int64_t projectId, int keep) {
  return {{"algorithm", "or"},
          {"rules", Json::array({{{"disabled", false},
                                  {"action", "retain"},
                                  {"template", "latestPushedK"},
                                  {"params", {{"latestPushedK", keep}}},
                                  {"tag_selectors", Json::array({{{"kind", "doublestar"},
                                                                  {"decoration", "matches"},
                                                                  {"pattern", "**"}}})},
                                  {"scope_selectors",
                                   {{"repository", Json::array({{{"kind", "doublestar"},
                                                                 {"decoration", "repoMatches"},
                                                                 {"pattern", "**"}}})}}}}})},
          {"trigger", {{"kind", "Schedule"}, {"settings", {{"cron", ""}}}}},
          {"scope", {{"level", "project"}, {"ref", projectId}}}};
}

bool retentionMatches(const Json& policy, int keep) {
  if (!policy.is_object()) return false;
  const Json rules = policy.value("rules", Json::array());
  if (!rules.is_array() || rules.size() != 1 || !rules[0].is_object()) return false;
  const Json& rule = rules[0];
  if (rule.value("disabled", false) || rule.value("template", "") != "latestPushedK" ||
      rule.value("action", "") != "retain") {
    return false;
  }
  const Json params = rule.value("params", Json::object());
  if (!params.is_object() || !params.contains("latestPushedK")) return false;
  const Json& k = params["latestPushedK"];
  // Harbor hands the parameter back as a number, possibly a float.
  return k.is_number() && static_cast<long long>(k.get<double>()) == keep;
}

Json robotCreate(const std::string& project, const std::string& fullName,
                 const std::string& description, std::int64_t durationDays) {
  return {
      {"name", robotShortName(fullName)},
      {"description", description},
      {"level", "project"},
      {"disable", false},
      {"duration", durationDays},
      {"permissions",
       Json::array({{{"kind", "project"},
                     {"namespace", project},
                     {"access", Json::array({{{"resource", "repository"}, {"action", "pull"}},
                                             {{"resource", "artifact"}, {"action", "read"}}})}}})}};
}

ObservedRobot observedRobot(const Json& robot) {
  ObservedRobot r;
  r.id = intOf(robot, "id", 0);
  r.name = stringOf(robot, "name");
  r.disabled = robot.is_object() && robot.value("disable", false);
  r.expiresAt = intOf(robot, "expires_at", -1);
  return r;
}

std::string base64Encode(const std::string& bytes) { return kube::encodeBase64(bytes); }

std::string dockerConfigJson(const std::string& host, const std::string& username,
                             const std::string& password) {
  Json auths = Json::object();
  auths[host] = {{"username", username},
                 {"password", password},
                 {"auth", base64Encode(username + ":" + password)}};
  return Json{{"auths", auths}}.dump();
}

Json desiredPullSecret(const std::string& environment, const std::string& ns,
                       const std::string& name, const std::string& config,
                       const RotationRecord& record, const std::string& caPem,
                       const Json& registry) {
  Json data = {{kDockerConfigJsonKey, base64Encode(config)}};
  if (!caPem.empty()) data["ca.crt"] = base64Encode(caPem);
  Json annotations = {{kRotationAnnotation, serializeRotationRecord(record)}};
  if (!registry.is_null()) annotations[kRegistryRecordAnnotation] = registry.dump();
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"labels", ownershipLabels(environment)},
            {"annotations", annotations}}},
          {"type", kDockerConfigJsonType},
          {"data", data}};
}

Json registryRecord(const RegistrySpec& registry) {
  Json harbor = {{"url", registry.url},
                 {"credentialsSecretRef", {{"name", registry.credentialsSecret}}},
                 {"project", {{"name", registry.project.name}}}};
  if (!registry.caSecret.empty()) harbor["caSecretRef"] = {{"name", registry.caSecret}};
  if (registry.pullSecret) {
    harbor["pullSecret"] = {{"name", registry.pullSecret->name},
                            {"serviceAccounts", registry.pullSecret->serviceAccounts}};
  }
  return {{"harbor", harbor}};
}

std::optional<RegistrySpec> registryFromRecord(const Json& secret) {
  const Json annotations =
      secret.value("metadata", Json::object()).value("annotations", Json::object());
  if (!annotations.is_object()) return std::nullopt;
  auto it = annotations.find(kRegistryRecordAnnotation);
  if (it == annotations.end() || !it->is_string()) return std::nullopt;
  const Json recorded = Json::parse(it->get<std::string>(), nullptr, false);
  if (!recorded.is_object()) return std::nullopt;
  auto parsed = parseRegistrySpec(Json{{"spec", {{"registry", recorded}}}});
  auto* spec = std::get_if<std::optional<RegistrySpec>>(&parsed);
  if (spec == nullptr) return std::nullopt;
  return *spec;
}

}  // namespace envop::environment
