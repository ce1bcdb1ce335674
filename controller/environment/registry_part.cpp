#include "controller/environment/registry_part.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "controller/environment/conditions.h"
#include "controller/environment/registry_credentials.h"
#include "controller/environment/registry_objects.h"
#include "controller/environment/robot_rotation.h"
#include "controller/kube/config.h"

namespace envop::environment {
namespace {

namespace res = kube::resources;
using Json = nlohmann::json;
using State = PartOutcome::State;

// At most this many rotation steps in one pass; each is one Harbor write and a Secret write, and
// the machine needs at most three in a row (revoke a leak, create, record).
constexpr int kMaxRotationSteps = 6;
// A ServiceAccount that is not there yet (kube-controller-manager makes `default` shortly after
// the namespace), a project with repositories left: looked at again this much later.
constexpr std::chrono::seconds kServiceAccountRecheck{5};
constexpr std::chrono::seconds kProjectNotEmptyRecheck{300};

// For conditions and events: what Harbor said, without the request's X-Request-Id, which differs
// on every try and would make each pass a new status (the log line has it).
std::string describeHarborError(const harbor::HarborError& e) {
  std::string out = e.status == 0 ? "no answer" : "HTTP " + std::to_string(e.status);
  if (!e.message.empty()) out += ": " + e.message;
  return out;
}

// Harbor refused or failed: unreachable or 5xx is retried; 401/403 waits for the credentials
// Secret to change; anything else Harbor refused is Failed and retried with the backoff.
void harborFailed(RegistryReport& report, const RegistrySpec& reg, const std::string& what,
                  const harbor::HarborError& e) {
  const std::string message = what + " at Harbor " + reg.url + ": " + describeHarborError(e);
  spdlog::warn("{} (X-Request-Id {})", message, e.requestId);
  if (e.unauthorized()) {
    mark(report, State::kStalled, "HarborUnauthorized",
         message + "; check the account in Secret " + reg.credentialsSecret);
  } else if (e.retryable()) {
    mark(report, State::kFailed, "HarborUnavailable", message);
  } else if (e.status == 400 || e.status == 422) {
    mark(report, State::kStalled, "HarborRejected", message);
  } else {
    mark(report, State::kFailed, "HarborError", message);
  }
}

std::string secretValue(const Json& secret, const char* key) {
  const Json data = secret.value("data", Json::object());
  auto it = data.find(key);
  if (it == data.end() || !it->is_string()) return "";
  return kube::decodeBase64(it->get<std::string>()).value_or("");
}

bool later(const Json& a, const Json& b) {
  // Whether Environment a came after b: by creationTimestamp, then by name.
  const Json ma = a.value("metadata", Json::object());
  const Json mb = b.value("metadata", Json::object());
  const std::string ta = ma.value("creationTimestamp", "");
  const std::string tb = mb.value("creationTimestamp", "");
  if (ta != tb) return ta > tb;  // RFC 3339 in UTC compares as text
  return ma.value("name", "") > mb.value("name", "");
}

std::string formatUnix(std::int64_t seconds) {
  return formatTime(util::WallTime(std::chrono::seconds(seconds)));
}

}  // namespace

struct RegistryPart::Session {
  harbor::HarborApiPtr api;
  std::string caPem;
  std::int64_t projectId = 0;
  Json project;
};

bool chartsOnHarbor(const RegistrySpec& registry, const std::string& repository) {
  if (repository.empty()) return false;
  return registryHostOf(repository) == registry.host;
}

RegistryPart::RegistryPart(kube::ClientPtr client, Applier& applier, runtime::StorePtr environments,
                           harbor::HarborApiFactory factory, RegistryPartOptions options)
    : client_(std::move(client)),
      applier_(applier),
      environments_(std::move(environments)),
      factory_(std::move(factory)),
      options_(std::move(options)) {}

std::vector<std::string> RegistryPart::environmentsReading(const std::string& key) const {
  return references_.environmentsReading(key);
}

void RegistryPart::forget(const EnvironmentSpec& env) { references_.set(env.name, {}); }

harbor::HarborApiPtr RegistryPart::clientFor(const harbor::HarborEndpoint& endpoint) {
  std::lock_guard lock(mu_);
  auto it = clients_.find(endpoint.url);
  // A changed password or CA makes a new client; the old one goes with its connections.
  if (it != clients_.end() && it->second.first == endpoint) return it->second.second;
  harbor::HarborApiPtr api = factory_ ? factory_(endpoint) : nullptr;
  if (api) clients_[endpoint.url] = {endpoint, api};
  return api;
}

std::optional<RegistryPart::Session> RegistryPart::open(const EnvironmentSpec& env,
                                                        RegistryReport& report) {
  const RegistrySpec& reg = *env.registry;
  const std::string& ns = options_.controllerNamespace;
  std::set<std::string> keys{"Secret/" + ns + "/" + reg.credentialsSecret};
  if (!reg.caSecret.empty()) keys.insert("Secret/" + ns + "/" + reg.caSecret);
  references_.set(env.name, keys);

  harbor::HarborEndpoint endpoint{.url = reg.url};
  auto creds = client_->get(res::secrets(), ns, reg.credentialsSecret);
  if (!creds) {
    if (creds.error().isNotFound()) {
      mark(report, State::kStalled, "CredentialsSecretMissing",
           "spec.registry.harbor.credentialsSecretRef: Secret " + ns + "/" + reg.credentialsSecret +
               " not found");
    } else {
      mark(report, State::kFailed, "CredentialsSecretUnreadable",
           "reading Secret " + ns + "/" + reg.credentialsSecret + ": " + creds.error().describe());
    }
    return std::nullopt;
  }
  endpoint.username = secretValue(creds.value(), "username");
  endpoint.password = secretValue(creds.value(), "password");
  if (endpoint.username.empty() || endpoint.password.empty()) {
    mark(report, State::kStalled, "CredentialsSecretInvalid",
         "spec.registry.harbor.credentialsSecretRef: Secret " + ns + "/" + reg.credentialsSecret +
             " needs the keys username and password");
    return std::nullopt;
  }
  if (!reg.caSecret.empty()) {
    auto ca = client_->get(res::secrets(), ns, reg.caSecret);
    if (!ca) {
      mark(report, ca.error().isNotFound() ? State::kStalled : State::kFailed,
           ca.error().isNotFound() ? "CASecretMissing" : "CASecretUnreadable",
           "spec.registry.harbor.caSecretRef: Secret " + ns + "/" + reg.caSecret + ": " +
               ca.error().describe());
      return std::nullopt;
    }
    endpoint.caPem = secretValue(ca.value(), "ca.crt");
    if (endpoint.caPem.empty()) {
      mark(report, State::kStalled, "CASecretInvalid",
           "spec.registry.harbor.caSecretRef: Secret " + ns + "/" + reg.caSecret +
               " has no key ca.crt");
      return std::nullopt;
    }
  }
  Session s;
  s.caPem = endpoint.caPem;
  s.api = clientFor(endpoint);
  if (!s.api) {
    mark(report, State::kStalled, "HarborClientUnavailable",
         "no Harbor client could be made for " + reg.url);
    return std::nullopt;
  }
  return s;
}

std::vector<runtime::ObjectPtr> RegistryPart::sharing(const EnvironmentSpec& env) const {
  std::vector<runtime::ObjectPtr> out;
  if (!environments_) return out;
  for (const runtime::ObjectPtr& other : environments_->list()) {
    if (kube::nameOf(*other) == env.name) continue;
    auto parsed = parseRegistrySpec(*other);
    const auto* spec = std::get_if<std::optional<RegistrySpec>>(&parsed);
    if (spec == nullptr || !spec->has_value()) continue;
    if ((*spec)->host == env.registry->host &&
        (*spec)->project.name == env.registry->project.name) {
      out.push_back(other);
    }
  }
  return out;
}

std::optional<std::string> RegistryPart::settingsConflict(const EnvironmentSpec& env) const {
  const runtime::ObjectPtr self = environments_ ? environments_->get(env.name) : nullptr;
  for (const runtime::ObjectPtr& other : sharing(env)) {
    const Json metadata = other->value("metadata", Json::object());
    if (metadata.contains("deletionTimestamp")) continue;  // on its way out: not a say any more
    auto parsed = parseRegistrySpec(*other);
    const RegistrySpec& theirs = *std::get<std::optional<RegistrySpec>>(parsed);
    if (theirs.project.sameSettings(env.registry->project)) continue;
    if (self == nullptr || later(*self, *other)) return kube::nameOf(*other);
  }
  return std::nullopt;
}

void RegistryPart::reconcileProject(const EnvironmentSpec& env, Session& s,
                                    RegistryReport& report) {
  const RegistrySpec& reg = *env.registry;
  const ProjectSpec& p = reg.project;
  auto got = s.api->getProject(p.name);
  if (!got && got.error().status == 404) {
    auto created = s.api->createProject(projectRequest(p));
    if (!created && created.error().status != 409) {  // 409: another Environment was quicker
      harborFailed(report, reg, "creating project " + p.name, created.error());
      return;
    }
    if (created) {
      report.notes.push_back(
          {false, "ProjectCreated", "Harbor project " + p.name + " created at " + reg.url});
    }
    got = s.api->getProject(p.name);
  }
  if (!got) {
    harborFailed(report, reg, "reading project " + p.name, got.error());
    return;
  }
  s.project = got.value();
  s.projectId = s.project.value("project_id", std::int64_t{0});
  std::vector<std::string> repaired;

  const std::vector<std::string> drift = projectMetadataDrift(p, s.project);
  if (!drift.empty()) {
    auto updated = s.api->updateProject(p.name, {{"metadata", desiredProjectMetadata(p)}});
    if (!updated) return harborFailed(report, reg, "updating project " + p.name, updated.error());
    for (const std::string& field : drift) repaired.push_back("metadata." + field);
  }

  if (p.storageQuota >= 0) {
    auto quota = s.api->projectQuota(s.projectId);
    if (!quota) return harborFailed(report, reg, "reading the quota of " + p.name, quota.error());
    if (!quotaMatches(p, quota.value())) {
      auto updated = s.api->updateQuota(quota.value().value("id", std::int64_t{0}),
                                        {{"storage", p.storageQuota}});
      if (!updated)
        return harborFailed(report, reg, "setting the quota of " + p.name, updated.error());
      repaired.push_back("storage quota");
    }
  }

  auto rules = s.api->listImmutableRules(p.name);
  if (!rules)
    return harborFailed(report, reg, "reading the immutable rules of " + p.name, rules.error());
  const ImmutableRulesPlan plan = planImmutableRules(p, rules.value());
  for (std::int64_t id : plan.remove) {
    auto removed = s.api->deleteImmutableRule(p.name, id);
    if (!removed) return harborFailed(report, reg, "deleting an immutable rule", removed.error());
  }
  for (const std::string& pattern : plan.create) {
    auto made = s.api->createImmutableRule(p.name, immutableRule(pattern));
    if (!made) return harborFailed(report, reg, "creating an immutable rule", made.error());
  }
  if (!plan.empty()) repaired.push_back("immutable tag rules");

  if (p.keepLatestPushed) {
    const Json metadata = s.project.value("metadata", Json::object());
    const std::string id = metadata.is_object() ? metadata.value("retention_id", "") : "";
    std::optional<std::int64_t> retentionId;
    if (!id.empty()) {
      try {
        retentionId = std::stoll(id);
      } catch (const std::exception&) {
      }
    }
    const Json wanted = retentionPolicy(s.projectId, *p.keepLatestPushed);
    if (!retentionId) {
      auto made = s.api->createRetention(wanted);
      if (!made) return harborFailed(report, reg, "creating the retention policy", made.error());
      repaired.push_back("retention");
    } else {
      auto policy = s.api->getRetention(*retentionId);
      if (!policy) return harborFailed(report, reg, "reading the retention policy", policy.error());
      if (!retentionMatches(policy.value(), *p.keepLatestPushed)) {
        Json body = wanted;
        body["id"] = *retentionId;
        auto updated = s.api->updateRetention(*retentionId, body);
        if (!updated) {
          return harborFailed(report, reg, "updating the retention policy", updated.error());
        }
        repaired.push_back("retention");
      }
    }
  }
  if (!repaired.empty()) {
    std::string fields;
    for (const std::string& f : repaired) fields += (fields.empty() ? "" : ", ") + f;
    report.notes.push_back({false, "ProjectRepaired",
                            "Harbor project " + p.name + ": " + fields + " set as the spec says"});
  }
}

void RegistryPart::reconcileRobot(const EnvironmentSpec& env, Session& s, RegistryReport& report) {
  const RegistrySpec& reg = *env.registry;
  const PullSecretSpec& pull = *reg.pullSecret;
  const std::string& ns = env.namespace_.name;
  const std::string where = "Secret " + ns + "/" + pull.name;
  const RobotSlots slots = robotSlots(reg.project.name, env.name);

  // The pull Secret as it is: whose credential it holds, and the rotation in flight.
  std::string config = R"({"auths":{}})";
  std::string secretRobot;
  std::optional<RotationRecord> record;
  auto secret = client_->get(res::secrets(), ns, pull.name);
  if (secret) {
    const std::string owner = ownerOf(secret.value());
    if (owner != env.name) {
      mark(report, State::kStalled, "PullSecretConflict",
           where + " already exists and belongs to " +
               (owner.empty() ? std::string("someone else") : "Environment " + owner));
      return;
    }
    const std::string stored = secretValue(secret.value(), kDockerConfigJsonKey);
    if (!stored.empty()) config = stored;
    auto creds = parseDockerConfigSecret(secret.value());
    if (const auto* c = std::get_if<RegistryCredentials>(&creds)) {
      if (const RegistryLogin* login = c->find(reg.host)) secretRobot = login->username;
    }
    const Json annotations =
        secret.value().value("metadata", Json::object()).value("annotations", Json::object());
    if (annotations.is_object() && annotations.contains(kRotationAnnotation) &&
        annotations[kRotationAnnotation].is_string()) {
      record = parseRotationRecord(annotations[kRotationAnnotation].get<std::string>());
    }
  } else if (!secret.error().isNotFound()) {
    mark(report, State::kFailed, "PullSecretUnreadable",
         "reading " + where + ": " + secret.error().describe());
    return;
  }

  auto writeSecret = [&](const RotationRecord& r) {
    PartReport written(kPartRegistry);
    applyTracked(
        applier_, res::secrets(),
        desiredPullSecret(env.name, ns, pull.name, config, r, s.caPem, registryRecord(reg)),
        written);
    if (written.state != State::kReady) {
      mark(report, written.state, written.reason, written.message);
      return false;
    }
    record = r;
    return true;
  };

  std::vector<ObservedRobot> robots;
  const ObservedRobot* held = nullptr;
  for (int step = 0; step <= kMaxRotationSteps; ++step) {
    auto listed = s.api->listProjectRobots(s.projectId);
    if (!listed)
      return harborFailed(report, reg, "listing the robots of " + reg.project.name, listed.error());
    robots.clear();
    for (const Json& r : listed.value()) robots.push_back(observedRobot(r));
    const util::WallTime now = options_.now();
    const RotationStep next = nextRotationStep({.slots = slots,
                                                .robots = robots,
                                                .secretRobot = secretRobot,
                                                .record = record,
                                                .rotation = pull.rotation,
                                                .now = now});
    if (next.kind == RotationStep::Kind::kNothing || next.kind == RotationStep::Kind::kWait) {
      if (next.kind == RotationStep::Kind::kWait) {
        report.recheckAfter = std::max(std::chrono::seconds(1),
                                       std::chrono::ceil<std::chrono::seconds>(next.until - now));
      }
      break;
    }
    if (step == kMaxRotationSteps) {
      mark(report, State::kProgressing, "RotationInProgress", "robot rotation: " + next.why);
      return;
    }
    spdlog::info("environment={} registry: {}", env.name, next.why);
    switch (next.kind) {
      case RotationStep::Kind::kRecord:
        if (!writeSecret(next.after)) return;
        break;
      case RotationStep::Kind::kCreateRobot:
      case RotationStep::Kind::kRefreshRobot: {
        // The intent first, so a controller that dies during the Harbor call finishes it.
        if (!writeSecret(next.before)) return;
        harbor::Result<harbor::RobotCredential> made =
            next.kind == RotationStep::Kind::kCreateRobot
                ? s.api->createRobot(robotCreate(
                      reg.project.name, next.robot,
                      "envop: robot of Environment " + env.name + " (uid " + env.uid + ")",
                      robotDurationDays(pull.rotation)))
                : s.api->refreshRobotSecret(next.robotId);
        if (!made) {
          return harborFailed(
              report, reg,
              (next.kind == RotationStep::Kind::kCreateRobot ? "creating robot "
                                                             : "refreshing robot ") +
                  next.robot,
              made.error());
        }
        const harbor::RobotCredential& cred = made.value();
        const std::string name = cred.name.empty() ? next.robot : cred.name;
        config = dockerConfigJson(reg.host, name, cred.secret);
        if (!writeSecret(next.after)) return;
        secretRobot = name;
        report.notes.push_back(
            {false, next.rotation ? "RobotRotated" : "RobotCreated",
             next.rotation
                 ? "pull Secret " + pull.name + " now holds robot " + name + "; " +
                       next.after.oldRobot + " is revoked after the overlap"
                 : "robot " + name +
                       (next.kind == RotationStep::Kind::kCreateRobot ? " created"
                                                                      : " given a new secret") +
                       "; pull Secret " + pull.name + " holds it"});
        break;
      }
      case RotationStep::Kind::kRevokeRobot: {
        auto removed = s.api->deleteRobot(next.robotId);
        if (!removed)
          return harborFailed(report, reg, "revoking robot " + next.robot, removed.error());
        report.notes.push_back(
            {false, "RobotRevoked", "robot " + next.robot + " revoked: " + next.why});
        break;
      }
      default:
        break;
    }
  }
  // The Secret as the last step left it, put back if a human changed it (the Applier writes only
  // when it differs from what envop applied).
  if (record && !writeSecret(*record)) return;
  for (const ObservedRobot& r : robots) {
    if (r.name == secretRobot) held = &r;
  }
  Json status = {{"projectID", s.projectId}, {"pullSecret", pull.name}};
  if (held != nullptr) {
    status["robot"] = held->name;
    if (held->expiresAt >= 0) status["secretExpiresAt"] = formatUnix(held->expiresAt);
  }
  if (record && record->rotatedAt) status["lastRotatedAt"] = formatTime(*record->rotatedAt);
  report.status = status;
}

void RegistryPart::reconcileServiceAccounts(const EnvironmentSpec& env, RegistryReport& report) {
  const PullSecretSpec& pull = *env.registry->pullSecret;
  const std::string& ns = env.namespace_.name;
  for (const std::string& name : pull.serviceAccounts) {
    auto sa = client_->get(res::serviceAccounts(), ns, name);
    if (!sa) {
      if (sa.error().isNotFound()) {
        mark(report, State::kProgressing, "ServiceAccountMissing",
             "ServiceAccount " + ns + "/" + name + " does not exist yet");
        report.recheckAfter =
            std::min(report.recheckAfter.value_or(kServiceAccountRecheck), kServiceAccountRecheck);
      } else {
        mark(report, State::kFailed, "ServiceAccountUnreadable",
             "reading ServiceAccount " + ns + "/" + name + ": " + sa.error().describe());
      }
      continue;
    }
    const Json entries = sa.value().value("imagePullSecrets", Json::array());
    bool listed = false;
    for (const Json& e : entries) {
      if (e.is_object() && e.value("name", "") == pull.name) listed = true;
    }
    if (listed) continue;
    // imagePullSecrets is an atomic list (listType=atomic): a server-side apply of envop's entry
    // would own, and so replace, the whole list. A JSON patch adds the one entry and leaves the
    // entries of others as they are; the resourceVersion test makes it lose, not clobber, a race.
    Json patch = Json::array({{{"op", "test"},
                               {"path", "/metadata/resourceVersion"},
                               {"value", sa.value()["metadata"]["resourceVersion"]}}});
    if (entries.is_array() && sa.value().contains("imagePullSecrets")) {
      patch.push_back(
          {{"op", "add"}, {"path", "/imagePullSecrets/-"}, {"value", {{"name", pull.name}}}});
    } else {
      patch.push_back({{"op", "add"},
                       {"path", "/imagePullSecrets"},
                       {"value", Json::array({{{"name", pull.name}}})}});
    }
    auto patched = client_->patch(res::serviceAccounts(), ns, name, kube::PatchType::kJson, patch);
    if (!patched) {
      mark(report, State::kFailed, "ServiceAccountPatchFailed",
           "adding " + pull.name + " to ServiceAccount " + ns + "/" + name +
               " imagePullSecrets: " + patched.error().describe());
    }
  }
}

Json RegistryPart::storedRegistryStatus(const EnvironmentSpec& env) const {
  const runtime::ObjectPtr self = environments_ ? environments_->get(env.name) : nullptr;
  if (self == nullptr) return nullptr;
  const Json status = self->value("status", Json::object());
  if (!status.is_object()) return nullptr;
  const Json registry = status.value("registry", Json());
  return registry.is_object() ? registry : Json();
}

std::string RegistryPart::previousPullSecret(const EnvironmentSpec& env) const {
  const Json registry = storedRegistryStatus(env);
  if (!registry.is_object()) return "";
  const std::string name = registry.value("pullSecret", "");
  if (env.registry && env.registry->pullSecret && env.registry->pullSecret->name == name) return "";
  return name;
}

bool RegistryPart::retire(const EnvironmentSpec& env, const std::string& name,
                          RegistryReport& report) {
  const std::string& ns = env.namespace_.name;
  const std::string where = "Secret " + ns + "/" + name;
  auto failed = [&](const std::string& reason, const std::string& message) {
    mark(report, State::kFailed, reason, "retiring pull " + where + ": " + message);
    return false;
  };
  auto secret = client_->get(res::secrets(), ns, name);
  if (!secret) {
    if (secret.error().isNotFound()) return true;  // gone with its namespace, or by hand
    return failed("PullSecretUnreadable", secret.error().describe());
  }
  if (ownerOf(secret.value()) != env.name) return true;  // not ours to remove
  const std::optional<RegistrySpec> before = registryFromRecord(secret.value());

  // Its robot, unless the spec still pulls from the same project (a renamed Secret holds the
  // same robot, which the current Secret now carries).
  const bool sameRobot = before && env.registry && env.registry->pullSecret &&
                         env.registry->host == before->host &&
                         env.registry->project.name == before->project.name;
  if (before && !sameRobot) {
    EnvironmentSpec previous = env;
    previous.registry = *before;
    RegistryReport opened;
    std::optional<Session> s = open(previous, opened);
    // The current spec's references (for the watch on credentials Secrets) stay the current
    // spec's: open() recorded the previous one's.
    if (env.registry) {
      RegistryReport ignored;
      open(env, ignored);
    } else {
      references_.set(env.name, {});
    }
    if (!s) return failed(opened.reason, opened.message);
    auto got = s->api->getProject(before->project.name);
    if (!got && got.error().status != 404) {
      harborFailed(report, *before, "reading project " + before->project.name, got.error());
      return false;
    }
    if (got) {
      auto listed = s->api->listProjectRobots(got.value().value("project_id", std::int64_t{0}));
      if (!listed) {
        harborFailed(report, *before, "listing the robots of " + before->project.name,
                     listed.error());
        return false;
      }
      const RobotSlots slots = robotSlots(before->project.name, env.name);
      for (const Json& r : listed.value()) {
        const ObservedRobot robot = observedRobot(r);
        if (!slots.contains(robot.name)) continue;
        auto removed = s->api->deleteRobot(robot.id);
        if (!removed && removed.error().status != 404) {
          harborFailed(report, *before, "deleting robot " + robot.name, removed.error());
          return false;
        }
        report.notes.push_back(
            {false, "RobotRevoked",
             "robot " + robot.name + " deleted: pull " + where + " is no longer in the spec"});
      }
    }
  }

  // Out of the ServiceAccounts it was listed in (the list is atomic: replaced as a whole, on the
  // resourceVersion read, so that another manager's concurrent change is not lost).
  const std::vector<std::string> accounts = before && before->pullSecret
                                                ? before->pullSecret->serviceAccounts
                                                : std::vector<std::string>{"default"};
  for (const std::string& account : accounts) {
    auto sa = client_->get(res::serviceAccounts(), ns, account);
    if (!sa) {
      if (sa.error().isNotFound()) continue;
      return failed("ServiceAccountUnreadable", sa.error().describe());
    }
    const Json entries = sa.value().value("imagePullSecrets", Json::array());
    if (!entries.is_array()) continue;
    Json kept = Json::array();
    for (const Json& e : entries) {
      if (!(e.is_object() && e.value("name", "") == name)) kept.push_back(e);
    }
    if (kept.size() == entries.size()) continue;
    Json patch = Json::array({{{"op", "test"},
                               {"path", "/metadata/resourceVersion"},
                               {"value", sa.value()["metadata"]["resourceVersion"]}},
                              {{"op", "replace"}, {"path", "/imagePullSecrets"}, {"value", kept}}});
    auto patched =
        client_->patch(res::serviceAccounts(), ns, account, kube::PatchType::kJson, patch);
    if (!patched && !patched.error().isNotFound()) {
      return failed("ServiceAccountPatchFailed", "removing it from ServiceAccount " + account +
                                                     ": " + patched.error().describe());
    }
  }
  auto removed = client_->remove(res::secrets(), ns, name);
  if (!removed && !removed.error().isNotFound()) {
    return failed("PullSecretDeleteFailed", removed.error().describe());
  }
  report.notes.push_back(
      {false, "PullSecretRemoved", "pull " + where + " removed: it is no longer in the spec"});
  return true;
}

RegistryReport RegistryPart::reconcile(const EnvironmentSpec& env, bool namespaceUsable) {
  RegistryReport report = reconcilePass(env, namespaceUsable);
  // A pull Secret an earlier spec made and this one does not want goes, with its robot, once
  // what the spec wants now is in place (a renamed Secret exists before the old one goes).
  if (const std::string previous = previousPullSecret(env);
      !previous.empty() && namespaceUsable &&
      (report.state == State::kReady || report.state == State::kNotConfigured)) {
    if (!retire(env, previous, report)) {
      // The status keeps naming the Secret, so the next pass tries again.
      report.status = storedRegistryStatus(env);
      return report;
    }
  }
  // Nothing tells envop that a human changed the project in Harbor's UI: a stage in sync looks
  // again (GETs only) after the recheck interval, or sooner when a rotation comes due.
  if (env.registry && report.state == State::kReady) {
    report.recheckAfter =
        std::min(report.recheckAfter.value_or(options_.harborRecheck), options_.harborRecheck);
  }
  return report;
}

RegistryReport RegistryPart::reconcilePass(const EnvironmentSpec& env, bool namespaceUsable) {
  RegistryReport report;
  if (!env.registry) {
    references_.set(env.name, {});
    report.state = State::kNotConfigured;
    return report;
  }
  if (std::optional<std::string> other = settingsConflict(env)) {
    mark(report, State::kStalled, "ProjectSettingsConflict",
         "Harbor project " + env.registry->project.name + " is shared with Environment " + *other +
             ", which sets its settings differently; make spec.registry.harbor.project agree");
    return report;
  }
  std::optional<Session> session = open(env, report);
  if (!session) return report;
  reconcileProject(env, *session, report);
  if (report.state != State::kReady) return report;
  if (!env.registry->pullSecret) {
    report.status = {{"projectID", session->projectId}};
    return report;
  }
  if (!namespaceUsable) {
    mark(report, State::kProgressing, "NamespaceNotReady",
         "the pull Secret waits for namespace " + env.namespace_.name);
    report.status = {{"projectID", session->projectId}};
    return report;
  }
  reconcileRobot(env, *session, report);
  if (report.state == State::kReady || report.state == State::kProgressing) {
    reconcileServiceAccounts(env, report);
  }
  return report;
}

RegistryReport RegistryPart::finalize(const EnvironmentSpec& env, bool retain) {
  RegistryReport report;
  if (!env.registry) {
    report.state = State::kNotConfigured;
    // A robot an earlier spec made goes with the Environment too.
    if (const std::string previous = previousPullSecret(env); !previous.empty()) {
      retire(env, previous, report);
    }
    return report;
  }
  const RegistrySpec& reg = *env.registry;
  if (retain) {
    // The namespace and its workloads stay, and so does what they pull with.
    if (reg.pullSecret) {
      const ApplyOutcome out =
          applier_.disown(res::secrets(), env.namespace_.name, reg.pullSecret->name);
      if (out.error) {
        mark(report, State::kFailed, "FinalizeFailed",
             "Secret " + env.namespace_.name + "/" + reg.pullSecret->name + ": " +
                 out.error->describe());
      }
    }
    return report;
  }
  std::optional<Session> s = open(env, report);
  if (!s) return report;
  auto got = s->api->getProject(reg.project.name);
  if (!got) {
    if (got.error().status == 404) return report;  // nothing of ours is left in Harbor
    harborFailed(report, reg, "reading project " + reg.project.name, got.error());
    return report;
  }
  s->projectId = got.value().value("project_id", std::int64_t{0});
  auto listed = s->api->listProjectRobots(s->projectId);
  if (!listed) {
    harborFailed(report, reg, "listing the robots of " + reg.project.name, listed.error());
    return report;
  }
  const RobotSlots slots = robotSlots(reg.project.name, env.name);
  for (const Json& r : listed.value()) {
    const ObservedRobot robot = observedRobot(r);
    if (!slots.contains(robot.name)) continue;
    auto removed = s->api->deleteRobot(robot.id);
    if (!removed) {
      harborFailed(report, reg, "deleting robot " + robot.name, removed.error());
      return report;
    }
    report.notes.push_back(
        {false, "RobotRevoked", "robot " + robot.name + " deleted with Environment " + env.name});
  }
  if (reg.project.deletionPolicy != ProjectDeletionPolicy::kDelete) return report;
  // The project goes with the last Environment naming it. Of several deleted together the last
  // by creation waits for the others, so exactly one deletes it.
  const runtime::ObjectPtr self = environments_ ? environments_->get(env.name) : nullptr;
  for (const runtime::ObjectPtr& other : sharing(env)) {
    const bool deleting = other->value("metadata", Json::object()).contains("deletionTimestamp");
    if (!deleting || self == nullptr || !later(*self, *other)) return report;
    mark(report, State::kProgressing, "WaitingForSharingEnvironments",
         "Harbor project " + reg.project.name + " is deleted once Environment " +
             kube::nameOf(*other) + " is gone");
    report.recheckAfter = kServiceAccountRecheck;
    return report;
  }
  auto deleted = s->api->deleteProject(reg.project.name);
  if (!deleted) {
    if (deleted.error().status == 412) {
      // Images or charts are left: a human decides about them; asking again every backoff step
      // would not change that.
      mark(report, State::kStalled, "ProjectNotEmpty",
           "Harbor project " + reg.project.name + " still has repositories (" +
               describeHarborError(deleted.error()) +
               "); it is deleted once they are removed, or set deletionPolicy Retain");
      report.recheckAfter = kProjectNotEmptyRecheck;
    } else if (deleted.error().status != 404) {
      harborFailed(report, reg, "deleting project " + reg.project.name, deleted.error());
    }
    return report;
  }
  report.notes.push_back(
      {false, "ProjectDeleted",
       "Harbor project " + reg.project.name + " deleted (deletionPolicy Delete)"});
  return report;
}

}  // namespace envop::environment
