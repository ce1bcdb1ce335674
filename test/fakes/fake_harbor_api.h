// A Harbor kept in memory behind the HarborApi interface, for unit tests of the registry part:
// projects with string metadata, quotas, project robots (named "robot$<project>+<name>", a 409 on
// a duplicate, a fresh secret on refresh), immutable rules and retention policies. It counts
// reads and writes, so a test can say "a resync makes GETs only", and any method can be made to
// fail (a 503, a 401, a 412) the next time or every time.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/harbor/harbor_api.h"

namespace envop::testing {

class FakeHarborApi final : public harbor::HarborApi {
 public:
  using Json = harbor::Json;
  template <typename T>
  using Result = harbor::Result<T>;
  using Done = harbor::Done;

  struct Robot {
    std::int64_t id = 0;
    std::string name;
    std::string secret;
    std::int64_t expiresAt = -1;
    bool disabled = false;
    Json create;  // the RobotCreate it was made from
  };

  // Calls to `method` fail with this error: `times` times (-1: until cleared).
  void failNext(const std::string& method, harbor::HarborError error, int times = 1) {
    std::lock_guard lock(mu_);
    failures_[method] = {std::move(error), times};
  }
  void clearFailures() {
    std::lock_guard lock(mu_);
    failures_.clear();
  }
  int writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }
  int reads() const {
    std::lock_guard lock(mu_);
    return reads_;
  }
  int calls(const std::string& method) const {
    std::lock_guard lock(mu_);
    auto it = calls_.find(method);
    return it == calls_.end() ? 0 : it->second;
  }
  // Direct access, as a human in Harbor's UI would change things.
  template <typename F>
  void edit(F&& f) {
    std::lock_guard lock(mu_);
    f(*this);
  }
  std::map<std::string, Json> projects;  // by name: Project (project_id, name, metadata)
  std::map<std::int64_t, Json> quotas;   // by project id: Quota
  std::map<std::int64_t, Robot> robots;  // by id
  std::map<std::string, std::vector<Json>> immutableRules;  // by project name
  std::map<std::int64_t, Json> retentions;
  std::set<std::string> nonEmpty;  // projects whose DELETE answers 412
  std::int64_t nowUnix = 1'800'000'000;
  // The next createRobot makes the robot but its answer is lost (a controller killed while
  // waiting for it, a connection reset after Harbor acted).
  bool loseNextCreateAnswer = false;

  std::vector<Robot> robotsOf(const std::string& project) const {
    std::lock_guard lock(mu_);
    std::vector<Robot> out;
    for (const auto& [id, r] : robots) {
      if (r.name.rfind("robot$" + project + "+", 0) == 0) out.push_back(r);
    }
    return out;
  }

  Result<bool> projectExists(const std::string& name) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("projectExists", false)) return *e;
    return projects.count(name) > 0;
  }
  Result<Json> getProject(const std::string& name) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("getProject", false)) return *e;
    auto it = projects.find(name);
    if (it == projects.end()) return notFound();
    return it->second;
  }
  Result<std::int64_t> createProject(const Json& req) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("createProject", true)) return *e;
    const std::string name = req.value("project_name", "");
    if (projects.count(name)) return error(409, "CONFLICT: project exists");
    const std::int64_t id = nextId_++;
    Json metadata = req.value("metadata", Json::object());
    projects[name] = {{"project_id", id}, {"name", name}, {"metadata", metadata}};
    quotas[id] = {{"id", id + 1000},
                  {"hard", {{"storage", req.value("storage_limit", std::int64_t{-1})}}}};
    return id;
  }
  Result<Done> updateProject(const std::string& name, const Json& req) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("updateProject", true)) return *e;
    auto it = projects.find(name);
    if (it == projects.end()) return notFound();
    const Json metadata = req.value("metadata", Json::object());
    for (const auto& [k, v] : metadata.items()) {
      it->second["metadata"][k] = v;
    }
    return Done{};
  }
  Result<Done> deleteProject(const std::string& name) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("deleteProject", true)) return *e;
    if (!projects.count(name)) return notFound();
    if (nonEmpty.count(name)) return error(412, "PRECONDITION: the project contains repositories");
    projects.erase(name);
    return Done{};
  }
  Result<Json> projectQuota(std::int64_t projectId) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("projectQuota", false)) return *e;
    auto it = quotas.find(projectId);
    if (it == quotas.end()) return notFound();
    return it->second;
  }
  Result<Done> updateQuota(std::int64_t quotaId, const Json& hard) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("updateQuota", true)) return *e;
    for (auto& [pid, q] : quotas) {
      if (q.value("id", std::int64_t{0}) == quotaId) {
        q["hard"] = hard;
        return Done{};
      }
    }
    return notFound();
  }
  Result<std::vector<Json>> listProjectRobots(std::int64_t projectId) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("listProjectRobots", false)) return *e;
    std::string project;
    for (const auto& [name, p] : projects) {
      if (p.value("project_id", std::int64_t{0}) == projectId) project = name;
    }
    std::vector<Json> out;
    for (const auto& [id, r] : robots) {
      if (r.name.rfind("robot$" + project + "+", 0) != 0) continue;
      out.push_back({{"id", r.id},
                     {"name", r.name},
                     {"level", "project"},
                     {"disable", r.disabled},
                     {"expires_at", r.expiresAt}});
    }
    return out;
  }
  Result<harbor::RobotCredential> createRobot(const Json& create) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("createRobot", true)) return *e;
    const Json perms = create.value("permissions", Json::array());
    const std::string project = perms.empty() ? "" : perms[0].value("namespace", "");
    const std::string name = "robot$" + project + "+" + create.value("name", "");
    for (const auto& [id, r] : robots) {
      if (r.name == name) return error(409, "CONFLICT: robot " + name + " exists");
    }
    Robot r{.id = nextId_++, .name = name, .secret = nextSecret(), .create = create};
    const std::int64_t days = create.value("duration", std::int64_t{-1});
    r.expiresAt = days < 0 ? -1 : nowUnix + days * 86400;
    robots[r.id] = r;
    if (loseNextCreateAnswer) {
      loseNextCreateAnswer = false;
      return error(0, "connection reset by peer");
    }
    return harbor::RobotCredential{r.id, r.name, r.secret, r.expiresAt};
  }
  Result<harbor::RobotCredential> refreshRobotSecret(std::int64_t id) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("refreshRobotSecret", true)) return *e;
    auto it = robots.find(id);
    if (it == robots.end()) return notFound();
    it->second.secret = nextSecret();
    return harbor::RobotCredential{id, it->second.name, it->second.secret, it->second.expiresAt};
  }
  Result<Done> deleteRobot(std::int64_t id) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("deleteRobot", true)) return *e;
    robots.erase(id);
    return Done{};
  }
  Result<std::vector<Json>> listImmutableRules(const std::string& project) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("listImmutableRules", false)) return *e;
    return immutableRules[project];
  }
  Result<Done> createImmutableRule(const std::string& project, const Json& rule) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("createImmutableRule", true)) return *e;
    Json r = rule;
    r["id"] = nextId_++;
    immutableRules[project].push_back(r);
    return Done{};
  }
  Result<Done> updateImmutableRule(const std::string& project, std::int64_t id,
                                   const Json& rule) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("updateImmutableRule", true)) return *e;
    for (Json& r : immutableRules[project]) {
      if (r.value("id", std::int64_t{0}) == id) {
        r = rule;
        r["id"] = id;
      }
    }
    return Done{};
  }
  Result<Done> deleteImmutableRule(const std::string& project, std::int64_t id) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("deleteImmutableRule", true)) return *e;
    auto& rules = immutableRules[project];
    std::erase_if(rules, [id](const Json& r) { return r.value("id", std::int64_t{0}) == id; });
    return Done{};
  }
  Result<Json> getRetention(std::int64_t id) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("getRetention", false)) return *e;
    auto it = retentions.find(id);
    if (it == retentions.end()) return notFound();
    return it->second;
  }
  Result<std::int64_t> createRetention(const Json& policy) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("createRetention", true)) return *e;
    const std::int64_t id = nextId_++;
    Json p = policy;
    p["id"] = id;
    retentions[id] = p;
    // Harbor links the policy to its project through the project's metadata.
    const std::int64_t projectId = policy["scope"].value("ref", std::int64_t{0});
    for (auto& [name, project] : projects) {
      if (project.value("project_id", std::int64_t{0}) == projectId) {
        project["metadata"]["retention_id"] = std::to_string(id);
      }
    }
    return id;
  }
  Result<Done> updateRetention(std::int64_t id, const Json& policy) override {
    std::lock_guard lock(mu_);
    if (auto e = fail("updateRetention", true)) return *e;
    if (!retentions.count(id)) return notFound();
    retentions[id] = policy;
    return Done{};
  }

 private:
  struct Failure {
    harbor::HarborError error;
    int times = 0;
  };
  static harbor::HarborError error(int status, std::string message) {
    return {.status = status, .message = std::move(message), .requestId = "fake-req"};
  }
  static harbor::HarborError notFound() { return error(404, "NOT_FOUND: not found"); }
  std::optional<harbor::HarborError> fail(const std::string& method, bool write) {
    ++calls_[method];
    (write ? writes_ : reads_)++;
    auto it = failures_.find(method);
    if (it == failures_.end() || it->second.times == 0) return std::nullopt;
    if (it->second.times > 0) --it->second.times;
    return it->second.error;
  }

  mutable std::mutex mu_;
  std::map<std::string, Failure> failures_;
  std::map<std::string, int> calls_;
  int writes_ = 0;
  int reads_ = 0;
  int secrets_ = 0;
  // "s<n>" by appending: GCC 12 at -O3 warns (-Wrestrict, a false positive) on "s" + std::string.
  std::string nextSecret() {
    std::string secret = "s";
    secret += std::to_string(++secrets_);
    return secret;
  }
  std::int64_t nextId_ = 1;
};

}  // namespace envop::testing
