// HarborApi is what envop asks of a Harbor (REST API v2.0, as
// ../shared/vendor-specs/harbor/swagger-v2.15.2.yaml specifies it): projects and their metadata,
// the project's storage quota, robot accounts (v2, project level), immutable tag rules and
// retention policies. The registry part reconciles through this interface; HarborClient
// (harbor_client.h) speaks HTTP for it, and test/fakes/fake_harbor_api.h keeps a Harbor in memory
// for unit tests. Bodies stay JSON in Harbor's own field names (swagger definitions ProjectReq,
// Project, Quota, RobotCreate, Robot, ImmutableRule, RetentionPolicy), because the registry part
// compares them field by field with what the spec wants. No method throws.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/util/expected.h"

namespace envop::harbor {

using Json = nlohmann::json;

struct HarborError {
  int status = 0;         // the HTTP status; 0: no answer (network, TLS, timeout)
  std::string message;    // Harbor's errors[] as "CODE: message; ..." or the network error
  std::string requestId;  // the X-Request-Id the request was sent with, for Harbor's logs
  bool retryable() const { return status == 0 || status == 429 || status >= 500; }
  bool unauthorized() const { return status == 401 || status == 403; }
};

template <typename T>
using Result = util::Expected<T, HarborError>;
struct Done {};

// A robot account as created or refreshed: the only moment Harbor returns its secret.
struct RobotCredential {
  std::int64_t id = 0;
  std::string name;             // the full name Harbor gives it: "robot$springcloud+pro"
  std::string secret;           // never logged, never in status or an event
  std::int64_t expiresAt = -1;  // unix seconds; -1: never
};

class HarborApi {
 public:
  virtual ~HarborApi() = default;

  // HEAD /projects?project_name=
  virtual Result<bool> projectExists(const std::string& name) = 0;
  // GET /projects/{name} with X-Is-Resource-Name: true → a Project (project_id, name, metadata
  // with string values "true"/"high").
  virtual Result<Json> getProject(const std::string& name) = 0;
  // POST /projects with a ProjectReq → the new project's ID (from Location).
  virtual Result<std::int64_t> createProject(const Json& projectReq) = 0;
  // PUT /projects/{name} with X-Is-Resource-Name: true and a ProjectReq.
  virtual Result<Done> updateProject(const std::string& name, const Json& projectReq) = 0;
  // DELETE /projects/{name}; a project with repositories left answers 412.
  virtual Result<Done> deleteProject(const std::string& name) = 0;

  // GET /quotas?reference=project&reference_id={projectId} → the project's Quota (id, hard, used).
  virtual Result<Json> projectQuota(std::int64_t projectId) = 0;
  // PUT /quotas/{id} with {"hard": {"storage": bytes}} (-1: unlimited).
  virtual Result<Done> updateQuota(std::int64_t quotaId, const Json& hard) = 0;

  // GET /robots?q=Level=project,ProjectID={projectId}, every page → Robots (no secrets).
  virtual Result<std::vector<Json>> listProjectRobots(std::int64_t projectId) = 0;
  // POST /robots with a RobotCreate → the robot and its secret.
  virtual Result<RobotCredential> createRobot(const Json& robotCreate) = 0;
  // PATCH /robots/{id} with a RobotSec → a fresh secret for the same robot (the old one stops
  // working at once).
  virtual Result<RobotCredential> refreshRobotSecret(std::int64_t robotId) = 0;
  // DELETE /robots/{id}; a robot already gone (404) is Done.
  virtual Result<Done> deleteRobot(std::int64_t robotId) = 0;

  // /projects/{name}/immutabletagrules, every page.
  virtual Result<std::vector<Json>> listImmutableRules(const std::string& project) = 0;
  virtual Result<Done> createImmutableRule(const std::string& project, const Json& rule) = 0;
  virtual Result<Done> updateImmutableRule(const std::string& project, std::int64_t id,
                                           const Json& rule) = 0;
  virtual Result<Done> deleteImmutableRule(const std::string& project, std::int64_t id) = 0;

  // /retentions/{id} (the project's metadata.retention_id names it) and POST /retentions.
  virtual Result<Json> getRetention(std::int64_t id) = 0;
  virtual Result<std::int64_t> createRetention(const Json& policy) = 0;
  virtual Result<Done> updateRetention(std::int64_t id, const Json& policy) = 0;
};
using HarborApiPtr = std::shared_ptr<HarborApi>;

// Where a Harbor is and how envop logs in to it: basic auth with the admin account of
// registry.harbor.credentialsSecretRef, TLS checked against caPem (empty: the system's CAs).
struct HarborEndpoint {
  std::string url;  // "https://harbor.example.com" (no /api/v2.0)
  std::string username;
  std::string password;
  std::string caPem;
  bool operator==(const HarborEndpoint&) const = default;
};

// Makes the client for an endpoint; the registry part keeps one per endpoint and a test passes
// one that returns a fake.
using HarborApiFactory = std::function<HarborApiPtr(const HarborEndpoint&)>;

}  // namespace envop::harbor
