// HarborClient against a scripted transport: for every call, the request Harbor's swagger asks
// for (method, path under /api/v2.0, query, headers, JSON body) and how each documented answer
// becomes a result or a HarborError.
#include "controller/harbor/harbor_client.h"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <map>
#include <set>
#include <stdexcept>

#include "controller/harbor/robot_secret.h"
#include "controller/util/metrics.h"
#include "test/fakes/scripted_transport.h"

namespace envop::harbor {
namespace {

using fakes::ScriptedTransport;
using kube::HttpRequest;
using kube::HttpResponse;

HttpResponse answer(int status, const Json& body = nullptr,
                    std::map<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status = status;
  if (!body.is_null()) r.body = body.dump();
  r.headers = std::move(headers);
  return r;
}

Json harborErrors(const std::string& code, const std::string& message) {
  return Json{{"errors", Json::array({Json{{"code", code}, {"message", message}}})}};
}

std::string headerOf(const HttpRequest& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

int headerCount(const HttpRequest& r, const std::string& name) {
  int n = 0;
  for (const auto& h : r.headers) n += h.first == name ? 1 : 0;
  return n;
}

class HarborClientTest : public ::testing::Test {
 protected:
  void script(ScriptedTransport::Handler handler) {
    transport_ = std::make_shared<ScriptedTransport>(std::move(handler));
    client_ = std::make_unique<HarborClient>(transport_);
  }
  // The one request the call made.
  HttpRequest only() {
    const auto requests = transport_->requests();
    EXPECT_EQ(requests.size(), 1u);
    return requests.empty() ? HttpRequest{} : requests.front();
  }

  std::shared_ptr<ScriptedTransport> transport_;
  std::unique_ptr<HarborClient> client_;
};

TEST_F(HarborClientTest, ProjectExistsIsAHeadWithTheNameInTheQuery) {
  int status = 200;
  script([&](const HttpRequest&) { return answer(status); });
  auto exists = client_->projectExists("springcloud");
  ASSERT_TRUE(exists) << exists.error().message;
  EXPECT_TRUE(exists.value());
  const HttpRequest r = only();
  EXPECT_EQ(r.method, "HEAD");
  EXPECT_EQ(r.pathAndQuery, "/api/v2.0/projects?project_name=springcloud");
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.contentType.empty());

  status = 404;
  exists = client_->projectExists("spring cloud&x=1");
  ASSERT_TRUE(exists);
  EXPECT_FALSE(exists.value());
  EXPECT_EQ(transport_->requests().back().pathAndQuery,
            "/api/v2.0/projects?project_name=spring%20cloud%26x%3D1");

  status = 500;
  exists = client_->projectExists("springcloud");
  ASSERT_FALSE(exists);
  EXPECT_EQ(exists.error().status, 500);
  EXPECT_TRUE(exists.error().retryable());
}

TEST_F(HarborClientTest, GetProjectAsksByNameAndKeepsMetadataStrings) {
  script([](const HttpRequest&) {
    return answer(200, Json{{"project_id", 12},
                            {"name", "springcloud"},
                            {"metadata", {{"public", "false"}, {"severity", "high"}}}});
  });
  auto project = client_->getProject("springcloud");
  ASSERT_TRUE(project) << project.error().message;
  EXPECT_EQ(project.value()["project_id"], 12);
  EXPECT_EQ(project.value()["metadata"]["public"], "false");
  const HttpRequest r = only();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.pathAndQuery, "/api/v2.0/projects/springcloud");
  EXPECT_EQ(headerOf(r, "X-Is-Resource-Name"), "true");
  EXPECT_EQ(r.timeout, std::chrono::seconds(30));
}

TEST_F(HarborClientTest, CreateProjectPostsTheReqAndReadsTheIdFromLocation) {
  const Json req = {{"project_name", "springcloud"},
                    {"metadata", {{"public", "false"}, {"auto_scan", "true"}}},
                    {"storage_limit", 53687091200}};
  script([](const HttpRequest&) {
    return answer(201, nullptr, {{"location", "/api/v2.0/projects/12"}});
  });
  auto id = client_->createProject(req);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id.value(), 12);
  const HttpRequest r = only();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.pathAndQuery, "/api/v2.0/projects");
  EXPECT_EQ(r.contentType, "application/json");
  EXPECT_EQ(Json::parse(r.body), req);
  // The ID, not the name, is wanted in Location.
  EXPECT_EQ(headerCount(r, "X-Resource-Name-In-Location"), 0);
}

TEST_F(HarborClientTest, ACreatedProjectWithoutAnIdInLocationIsLookedUp) {
  script([](const HttpRequest& r) {
    if (r.method == "POST") {
      return answer(201, nullptr, {{"location", "/api/v2.0/projects/springcloud"}});
    }
    return answer(200, Json{{"project_id", 7}, {"name", "springcloud"}});
  });
  auto id = client_->createProject(Json{{"project_name", "springcloud"}});
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id.value(), 7);
  ASSERT_EQ(transport_->requests().size(), 2u);
  EXPECT_EQ(transport_->requests()[1].pathAndQuery, "/api/v2.0/projects/springcloud");
}

TEST_F(HarborClientTest, ADuplicateProjectIsAConflictInHarborsWords) {
  script([](const HttpRequest&) {
    return answer(409, harborErrors("CONFLICT", "The project named springcloud already exists"));
  });
  auto id = client_->createProject(Json{{"project_name", "springcloud"}});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().status, 409);
  EXPECT_EQ(id.error().message, "CONFLICT: The project named springcloud already exists");
  EXPECT_FALSE(id.error().retryable());
  EXPECT_EQ(id.error().requestId, headerOf(only(), "X-Request-Id"));
}

TEST_F(HarborClientTest, UpdateProjectPutsTheReqByName) {
  const Json req = {{"metadata", {{"public", "false"}}}};
  script([](const HttpRequest&) { return answer(200); });
  ASSERT_TRUE(client_->updateProject("springcloud", req));
  const HttpRequest r = only();
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.pathAndQuery, "/api/v2.0/projects/springcloud");
  EXPECT_EQ(headerOf(r, "X-Is-Resource-Name"), "true");
  EXPECT_EQ(Json::parse(r.body), req);
}

TEST_F(HarborClientTest, DeletingAProjectWithRepositoriesIsAPreconditionFailure) {
  int status = 412;
  script([&](const HttpRequest&) {
    return status == 200
               ? answer(200)
               : answer(status, harborErrors("PRECONDITION", "the project contains repositories"));
  });
  auto done = client_->deleteProject("springcloud");
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().status, 412);
  EXPECT_EQ(done.error().message, "PRECONDITION: the project contains repositories");
  EXPECT_FALSE(done.error().retryable()) << "a 412 retried in a loop is a storm";
  const HttpRequest r = only();
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(r.pathAndQuery, "/api/v2.0/projects/springcloud");
  EXPECT_EQ(headerOf(r, "X-Is-Resource-Name"), "true");
  status = 200;
  EXPECT_TRUE(client_->deleteProject("springcloud"));
}

TEST_F(HarborClientTest, TheProjectQuotaIsTheOneReferencingIt) {
  script([](const HttpRequest&) {
    return answer(200,
                  Json::array({Json{{"id", 3},
                                    {"ref", {{"id", 12}, {"name", "springcloud"}}},
                                    {"hard", {{"storage", -1}}},
                                    {"used", {{"storage", 0}}}}}),
                  {{"x-total-count", "1"}});
  });
  auto quota = client_->projectQuota(12);
  ASSERT_TRUE(quota) << quota.error().message;
  EXPECT_EQ(quota.value()["id"], 3);
  const HttpRequest r = only();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.pathAndQuery, "/api/v2.0/quotas?reference=project&reference_id=12");
}

TEST_F(HarborClientTest, AProjectWithoutAQuotaIsNotFound) {
  script([](const HttpRequest&) { return answer(200, Json::array()); });
  auto quota = client_->projectQuota(12);
  ASSERT_FALSE(quota);
  EXPECT_EQ(quota.error().status, 404);
}

TEST_F(HarborClientTest, UpdateQuotaPutsAQuotaUpdateReq) {
  script([](const HttpRequest&) { return answer(200); });
  ASSERT_TRUE(client_->updateQuota(3, Json{{"storage", 53687091200}}));
  HttpRequest r = only();
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.pathAndQuery, "/api/v2.0/quotas/3");
  EXPECT_EQ(Json::parse(r.body), (Json{{"hard", {{"storage", 53687091200}}}}));
  // Already wrapped: sent as it is.
  ASSERT_TRUE(client_->updateQuota(3, Json{{"hard", {{"storage", -1}}}}));
  EXPECT_EQ(Json::parse(transport_->requests().back().body), (Json{{"hard", {{"storage", -1}}}}));
}

TEST_F(HarborClientTest, RobotsOfAProjectAreReadAcrossEveryPageByLink) {
  // Three pages as Harbor links them; the q expression is one percent-encoded query value.
  const std::string first =
      "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D12&page=1&page_size=100";
  const std::string second =
      "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D12&page=2&page_size=100";
  const std::string third =
      "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D12&page=3&page_size=100";
  script([&](const HttpRequest& r) {
    auto robot = [](int id) {
      return Json{{"id", id}, {"name", "robot$springcloud+r" + std::to_string(id)}};
    };
    if (r.pathAndQuery == first) {
      return answer(200, Json::array({robot(1), robot(2)}),
                    {{"x-total-count", "5"}, {"link", "<" + second + ">; rel=\"next\""}});
    }
    if (r.pathAndQuery == second) {
      return answer(200, Json::array({robot(3), robot(4)}),
                    {{"x-total-count", "5"},
                     {"link", "<" + first + ">; rel=\"prev\" , <" + third + ">; rel=\"next\""}});
    }
    if (r.pathAndQuery == third) {
      return answer(200, Json::array({robot(5)}),
                    {{"x-total-count", "5"}, {"link", "<" + second + ">; rel=\"prev\""}});
    }
    return answer(400, harborErrors("BAD_REQUEST", "unexpected " + r.pathAndQuery));
  });
  auto robots = client_->listProjectRobots(12);
  ASSERT_TRUE(robots) << robots.error().message;
  ASSERT_EQ(robots.value().size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(robots.value()[i]["id"], i + 1);
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].pathAndQuery, first);
  EXPECT_EQ(requests[1].pathAndQuery, second);
  EXPECT_EQ(requests[2].pathAndQuery, third);
  for (const auto& r : requests) EXPECT_EQ(r.method, "GET");
}

TEST_F(HarborClientTest, AListThatChangesWhilePagedIsAnErrorToRetry) {
  int calls = 0;
  script([&](const HttpRequest&) {
    ++calls;
    if (calls == 1) {
      return answer(200, Json::array({Json{{"id", 1}}}),
                    {{"x-total-count", "3"},
                     {"link", "</api/v2.0/robots?page=2&page_size=100>; rel=\"next\""}});
    }
    // A robot was deleted meanwhile: the total shrank, and what was on page 2 moved to page 1.
    return answer(200, Json::array({Json{{"id", 3}}}), {{"x-total-count", "2"}});
  });
  auto robots = client_->listProjectRobots(12);
  ASSERT_FALSE(robots);
  EXPECT_TRUE(robots.error().retryable());
  EXPECT_NE(robots.error().message.find("changed while it was read"), std::string::npos);
}

TEST_F(HarborClientTest, WithoutALinkPagesAreWalkedUntilTheTotalIsMet) {
  script([&](const HttpRequest& r) {
    if (r.pathAndQuery.find("page=1&") != std::string::npos) {
      return answer(200, Json::array({Json{{"id", 1}}}), {{"x-total-count", "2"}});
    }
    return answer(200, Json::array({Json{{"id", 2}}}), {{"x-total-count", "2"}});
  });
  auto robots = client_->listProjectRobots(4);
  ASSERT_TRUE(robots) << robots.error().message;
  EXPECT_EQ(robots.value().size(), 2u);
  ASSERT_EQ(transport_->requests().size(), 2u);
  EXPECT_EQ(transport_->requests()[1].pathAndQuery,
            "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D4&page=2&page_size=100");
}

TEST_F(HarborClientTest, CreateRobotReturnsTheCredentialFromRobotCreated) {
  const Json create = {
      {"name", "pro"},
      {"level", "project"},
      {"duration", 30},
      {"permissions",
       Json::array({Json{
           {"kind", "project"},
           {"namespace", "springcloud"},
           {"access", Json::array({Json{{"resource", "repository"}, {"action", "pull"}}})}}})}};
  script([](const HttpRequest&) {
    return answer(201,
                  Json{{"id", 9},
                       {"name", "robot$springcloud+pro"},
                       {"secret", "S3cretFromHarbor"},
                       {"expires_at", 1900000000}},
                  {{"location", "/api/v2.0/robots/9"}});
  });
  auto robot = client_->createRobot(create);
  ASSERT_TRUE(robot) << robot.error().message;
  EXPECT_EQ(robot.value().id, 9);
  EXPECT_EQ(robot.value().name, "robot$springcloud+pro");
  EXPECT_EQ(robot.value().secret, "S3cretFromHarbor");
  EXPECT_EQ(robot.value().expiresAt, 1900000000);
  const HttpRequest r = only();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.pathAndQuery, "/api/v2.0/robots");
  EXPECT_EQ(r.contentType, "application/json");
  EXPECT_EQ(Json::parse(r.body), create);
}

TEST_F(HarborClientTest, ARobotCreatedWithoutASecretIsReported) {
  script([](const HttpRequest&) { return answer(201, Json{{"id", 9}, {"name", "robot$p+e"}}); });
  auto robot = client_->createRobot(Json{{"name", "e"}});
  ASSERT_FALSE(robot);
  EXPECT_EQ(robot.error().status, 201);
  EXPECT_NE(robot.error().message.find("secret"), std::string::npos);
}

TEST_F(HarborClientTest, RefreshSendsAValidSecretAndUsesItWhenHarborReturnsNone) {
  script([](const HttpRequest& r) {
    if (r.method == "GET") {
      return answer(200, Json{{"id", 9}, {"name", "robot$springcloud+pro"}, {"expires_at", 1234}});
    }
    return answer(200, Json::object());  // Harbor's answer to a secret it was given
  });
  auto robot = client_->refreshRobotSecret(9);
  ASSERT_TRUE(robot) << robot.error().message;
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].pathAndQuery, "/api/v2.0/robots/9");
  EXPECT_EQ(requests[1].method, "PATCH");
  EXPECT_EQ(requests[1].pathAndQuery, "/api/v2.0/robots/9");
  EXPECT_EQ(requests[1].contentType, "application/json");
  const Json sent = Json::parse(requests[1].body);
  ASSERT_TRUE(sent.contains("secret"));
  EXPECT_EQ(sent.size(), 1u) << "a RobotSec has only the secret";
  const std::string secret = sent["secret"];
  EXPECT_TRUE(isValidRobotSecret(secret));
  EXPECT_GE(secret.size(), 32u);
  EXPECT_EQ(robot.value().secret, secret);
  EXPECT_EQ(robot.value().name, "robot$springcloud+pro");
  EXPECT_EQ(robot.value().id, 9);
  EXPECT_EQ(robot.value().expiresAt, 1234);
}

TEST_F(HarborClientTest, RefreshUsesTheSecretHarborReturns) {
  script([](const HttpRequest& r) {
    if (r.method == "GET") return answer(200, Json{{"id", 9}, {"name", "robot$p+e"}});
    return answer(200, Json{{"secret", "HarborMadeThis1"}});
  });
  auto robot = client_->refreshRobotSecret(9);
  ASSERT_TRUE(robot) << robot.error().message;
  EXPECT_EQ(robot.value().secret, "HarborMadeThis1");
  EXPECT_EQ(robot.value().expiresAt, -1);
}

TEST_F(HarborClientTest, RefreshOfAMissingRobotSendsNoPatch) {
  script([](const HttpRequest&) { return answer(404, harborErrors("NOT_FOUND", "robot 9")); });
  auto robot = client_->refreshRobotSecret(9);
  ASSERT_FALSE(robot);
  EXPECT_EQ(robot.error().status, 404);
  EXPECT_EQ(only().method, "GET");
}

TEST_F(HarborClientTest, DeletingARobotAlreadyGoneIsDone) {
  int status = 404;
  script([&](const HttpRequest&) { return answer(status, harborErrors("NOT_FOUND", "x")); });
  EXPECT_TRUE(client_->deleteRobot(9));
  const HttpRequest r = only();
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(r.pathAndQuery, "/api/v2.0/robots/9");
  status = 503;
  auto done = client_->deleteRobot(9);
  ASSERT_FALSE(done);
  EXPECT_TRUE(done.error().retryable());
}

TEST_F(HarborClientTest, ImmutableRulesAreListedCreatedUpdatedAndDeletedByProjectName) {
  script([](const HttpRequest& r) {
    if (r.method == "GET") {
      return answer(200, Json::array({Json{{"id", 3}, {"action", "immutable"}}}),
                    {{"x-total-count", "1"}});
    }
    if (r.method == "POST") {
      return answer(201, nullptr, {{"location", "/api/v2.0/projects/12/immutabletagrules/4"}});
    }
    return answer(200);
  });
  const Json rule = {
      {"action", "immutable"},
      {"template", "immutable_template"},
      {"tag_selectors",
       Json::array({Json{{"kind", "doublestar"}, {"decoration", "matches"}, {"pattern", "v*"}}})}};
  auto rules = client_->listImmutableRules("springcloud");
  ASSERT_TRUE(rules) << rules.error().message;
  EXPECT_EQ(rules.value().size(), 1u);
  ASSERT_TRUE(client_->createImmutableRule("springcloud", rule));
  ASSERT_TRUE(client_->updateImmutableRule("springcloud", 3, rule));
  ASSERT_TRUE(client_->deleteImmutableRule("springcloud", 3));
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].pathAndQuery,
            "/api/v2.0/projects/springcloud/immutabletagrules?page=1&page_size=100");
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].pathAndQuery, "/api/v2.0/projects/springcloud/immutabletagrules");
  EXPECT_EQ(Json::parse(requests[1].body), rule);
  EXPECT_EQ(requests[2].method, "PUT");
  EXPECT_EQ(requests[2].pathAndQuery, "/api/v2.0/projects/springcloud/immutabletagrules/3");
  EXPECT_EQ(Json::parse(requests[2].body), rule);
  EXPECT_EQ(requests[3].method, "DELETE");
  EXPECT_EQ(requests[3].pathAndQuery, "/api/v2.0/projects/springcloud/immutabletagrules/3");
  for (const auto& r : requests) EXPECT_EQ(headerOf(r, "X-Is-Resource-Name"), "true");
}

TEST_F(HarborClientTest, RetentionPoliciesAreReadCreatedAndUpdatedById) {
  const Json policy = {
      {"algorithm", "or"},
      {"rules",
       Json::array({Json{{"template", "latestPushedK"}, {"params", {{"latestPushedK", 20}}}}})},
      {"trigger", {{"kind", "Schedule"}}},
      {"scope", {{"level", "project"}, {"ref", 12}}}};
  script([&](const HttpRequest& r) {
    if (r.method == "GET") {
      Json withId = policy;
      withId["id"] = 5;
      return answer(200, withId);
    }
    if (r.method == "POST") return answer(201, nullptr, {{"location", "/api/v2.0/retentions/5"}});
    return answer(200);
  });
  auto created = client_->createRetention(policy);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created.value(), 5);
  auto got = client_->getRetention(5);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got.value()["id"], 5);
  ASSERT_TRUE(client_->updateRetention(5, policy));
  const auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].pathAndQuery, "/api/v2.0/retentions");
  EXPECT_EQ(Json::parse(requests[0].body), policy);
  EXPECT_EQ(requests[1].pathAndQuery, "/api/v2.0/retentions/5");
  EXPECT_EQ(requests[2].method, "PUT");
  EXPECT_EQ(requests[2].pathAndQuery, "/api/v2.0/retentions/5");
}

TEST_F(HarborClientTest, ACreateWhoseLocationNamesNoIdIsAnError) {
  script([](const HttpRequest&) { return answer(201, nullptr, {{"location", ""}}); });
  auto id = client_->createRetention(Json::object());
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().status, 201);
  EXPECT_NE(id.error().message.find("Location"), std::string::npos);
}

TEST_F(HarborClientTest, StatusesMapToWhatTheCallerDecidesOn) {
  int status = 0;
  Json body;
  script([&](const HttpRequest&) {
    HttpResponse r = answer(status, body);
    if (status == 0) r.error = "connection refused";
    return r;
  });
  status = 401;
  body = harborErrors("UNAUTHORIZED", "unauthorized");
  auto e = client_->getProject("p");
  ASSERT_FALSE(e);
  EXPECT_TRUE(e.error().unauthorized());
  EXPECT_FALSE(e.error().retryable());
  EXPECT_EQ(e.error().message, "UNAUTHORIZED: unauthorized");

  status = 403;
  body = harborErrors("FORBIDDEN", "forbidden");
  e = client_->getProject("p");
  EXPECT_TRUE(e.error().unauthorized());

  status = 503;
  body = nullptr;
  e = client_->getProject("p");
  EXPECT_TRUE(e.error().retryable());
  EXPECT_EQ(e.error().message, "HTTP 503");

  status = 0;
  e = client_->getProject("p");
  EXPECT_EQ(e.error().status, 0);
  EXPECT_TRUE(e.error().retryable());
  EXPECT_EQ(e.error().message, "connection refused");
  EXPECT_FALSE(e.error().requestId.empty());
}

TEST_F(HarborClientTest, A200WhoseBodyIsNotJsonSaysSo) {
  script([](const HttpRequest&) {
    HttpResponse r;
    r.status = 200;
    r.body = "<html>login</html>";
    return r;
  });
  auto e = client_->getProject("p");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("not JSON"), std::string::npos) << e.error().message;
  auto list = client_->listProjectRobots(1);
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message.find("not a JSON array"), std::string::npos);
}

TEST_F(HarborClientTest, EveryRequestCarriesItsOwnRequestId) {
  script([](const HttpRequest& r) {
    return r.method == "GET" ? answer(200, Json{{"id", 1}, {"name", "robot$p+e"}}) : answer(200);
  });
  ASSERT_TRUE(client_->projectExists("p"));
  ASSERT_TRUE(client_->getProject("p"));
  ASSERT_TRUE(client_->updateProject("p", Json::object()));
  ASSERT_TRUE(client_->refreshRobotSecret(1));
  ASSERT_TRUE(client_->deleteRobot(1));
  std::set<std::string> ids;
  for (const auto& r : transport_->requests()) {
    ASSERT_EQ(headerCount(r, "X-Request-Id"), 1);
    const std::string id = headerOf(r, "X-Request-Id");
    EXPECT_EQ(id.size(), 32u);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), transport_->requests().size());
}

TEST_F(HarborClientTest, ATransportThatThrowsBecomesAnError) {
  script([](const HttpRequest&) -> HttpResponse { throw std::runtime_error("library broke"); });
  auto e = client_->getProject("p");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("library broke"), std::string::npos);
  // A body nlohmann cannot serialise (invalid UTF-8) does not throw either.
  script([](const HttpRequest&) { return answer(200); });
  auto bad = client_->updateProject("p", Json{{"project_name", std::string("\xff\xfe")}});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(transport_->requests().empty());
}

double counterValue(const std::string& method, const std::string& code) {
  for (const auto& family : util::metricsRegistry().Collect()) {
    if (family.name != "envop_harbor_requests_total") continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : metric.label) labels[l.name] = l.value;
      if (labels["method"] == method && labels["code"] == code) return metric.counter.value;
    }
  }
  return 0;
}

TEST_F(HarborClientTest, RequestsAreCountedByMethodAndCode) {
  int status = 200;
  script([&](const HttpRequest&) { return answer(status); });
  const double ok = counterValue("HEAD", "200");
  const double noAnswer = counterValue("HEAD", "error");
  ASSERT_TRUE(client_->projectExists("p"));
  status = 0;
  ASSERT_FALSE(client_->projectExists("p"));
  EXPECT_EQ(counterValue("HEAD", "200"), ok + 1);
  EXPECT_EQ(counterValue("HEAD", "error"), noAnswer + 1);
}

TEST(HarborClientEndpointTest, APlainHttpUrlToARemoteHostIsRefusedWithoutARequest) {
  auto client = makeHarborClient(
      {.url = "http://harbor.example.com", .username = "admin", .password = "Harbor12345"});
  auto e = client->projectExists("p");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("https://"), std::string::npos) << e.error().message;
  EXPECT_EQ(e.error().message.find("Harbor12345"), std::string::npos);
  auto bad = makeHarborClient({.url = "harbor.example.com"})->getProject("p");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("https://"), std::string::npos);
}

TEST(HarborClientEndpointTest, LocationAndEncoding) {
  EXPECT_EQ(idFromLocation("/api/v2.0/projects/12"), 12);
  EXPECT_EQ(idFromLocation("https://h/api/v2.0/robots/9/"), 9);
  EXPECT_EQ(idFromLocation("/api/v2.0/projects/springcloud"), std::nullopt);
  EXPECT_EQ(idFromLocation(""), std::nullopt);
  EXPECT_EQ(idFromLocation("/api/v2.0/projects/0"), std::nullopt);
  EXPECT_EQ(percentEncode("Level=project,ProjectID=3"), "Level%3Dproject%2CProjectID%3D3");
  EXPECT_EQ(percentEncode("a-b_c.d~e"), "a-b_c.d~e");
}

}  // namespace
}  // namespace envop::harbor
