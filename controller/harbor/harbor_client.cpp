#include "controller/harbor/harbor_client.h"

#include <openssl/rand.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <cstring>

#include "controller/harbor/harbor_errors.h"
#include "controller/harbor/harbor_paging.h"
#include "controller/harbor/robot_secret.h"
#include "controller/util/metrics.h"

namespace envop::harbor {
namespace {

using Clock = std::chrono::steady_clock;

// A list longer than this many pages (100 000 entries) is a server sending us in circles.
constexpr int kMaxPages = 1000;

const std::vector<std::string>& httpMethods() {
  static const std::vector<std::string> m = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
  return m;
}

struct HarborMetrics {
  prometheus::Family<prometheus::Counter>& total =
      prometheus::BuildCounter()
          .Name("envop_harbor_requests_total")
          .Help(
              "Requests to Harbor's REST API, by HTTP method and status code (\"error\": no "
              "answer: network, TLS or timeout).")
          .Register(util::metricsRegistry());
  prometheus::Family<prometheus::Histogram>& duration =
      prometheus::BuildHistogram()
          .Name("envop_harbor_request_duration_seconds")
          .Help("Time from sending a request to Harbor to having its whole answer, by method.")
          .Register(util::metricsRegistry());

  static const prometheus::Histogram::BucketBoundaries& buckets() {
    static const prometheus::Histogram::BucketBoundaries b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                              0.5,   1,    2.5,   5,    10,  30};
    return b;
  }

  // Status codes cannot be known in advance; the "no answer" series and every method's
  // histogram exist from the start, so an alert on them works before the first failure.
  HarborMetrics() {
    for (const auto& method : httpMethods()) {
      total.Add({{"method", method}, {"code", "error"}});
      duration.Add({{"method", method}}, buckets());
    }
  }

  static HarborMetrics& get() {
    static HarborMetrics m;
    return m;
  }
};

void record(const std::string& method, int status, Clock::duration took) {
  auto& m = HarborMetrics::get();
  m.total.Add({{"method", method}, {"code", status == 0 ? "error" : std::to_string(status)}})
      .Increment();
  m.duration.Add({{"method", method}}, HarborMetrics::buckets())
      .Observe(std::chrono::duration<double>(took).count());
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// Paths taking project_name_or_id are given the name; without this header Harbor would read a
// numeric project name ("2024") as an ID.
Headers byName() { return {{"X-Is-Resource-Name", "true"}}; }

std::string projectPath(const std::string& name) { return "/projects/" + percentEncode(name); }

// Runs a call so that no exception leaves the client (nlohmann throws on a body it cannot
// dump, e.g. invalid UTF-8; std::bad_alloc): it becomes a HarborError instead.
template <typename F>
auto guarded(const char* what, F&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const std::exception& e) {
    return HarborError{.status = 0, .message = std::string(what) + ": " + e.what()};
  } catch (...) {
    return HarborError{.status = 0, .message = std::string(what) + ": unknown failure"};
  }
}

std::optional<Json> parseJson(const std::string& body) {
  Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

HarborError notJson(const std::string& method, const std::string& path,
                    const HarborClient::Exchange& ex, const char* wanted) {
  // The body itself is not quoted: it may be a robot's answer, which carries a secret.
  return HarborError{.status = ex.response.status,
                     .message = "Harbor answered " + method + " " + std::string(kApiBase) + path +
                                " with HTTP " + std::to_string(ex.response.status) +
                                " and a body that is not " + wanted + " (" +
                                std::to_string(ex.response.body.size()) + " bytes)",
                     .requestId = ex.requestId};
}

std::string header(const kube::HttpResponse& response, const std::string& lowerName) {
  const auto it = response.headers.find(lowerName);
  return it == response.headers.end() ? "" : it->second;
}

std::int64_t intField(const Json& object, const char* name, std::int64_t fallback) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_number_integer()) return fallback;
  return it->get<std::int64_t>();
}

std::string stringField(const Json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

bool isLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

}  // namespace

std::optional<std::int64_t> idFromLocation(const std::string& location) {
  std::string_view path = location;
  path = path.substr(0, path.find_first_of("?#"));
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(last.data(), last.data() + last.size(), id);
  if (last.empty() || ec != std::errc() || end != last.data() + last.size() || id <= 0) {
    return std::nullopt;
  }
  return id;
}

std::string percentEncode(const std::string& value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  return out;
}

std::string newRequestId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // Still unique within the process, which is what a log search needs.
    static std::atomic<std::uint64_t> counter{0};
    const auto now = Clock::now().time_since_epoch().count();
    std::memcpy(bytes, &now, 8);
    const std::uint64_t n = ++counter;
    std::memcpy(bytes + 8, &n, 8);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (const unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xF];
  }
  return id;
}

HarborClient::HarborClient(kube::TransportPtr transport, std::chrono::seconds timeout)
    : transport_(std::move(transport)), timeout_(timeout) {}

HarborClient::HarborClient(HarborError error) : timeout_(kDefaultRequestTimeout) {
  unusable_ = std::move(error);
}

HarborClient::Exchange HarborClient::send(const std::string& method,
                                          const std::string& pathAndQuery,
                                          const std::optional<Json>& body, Headers headers) {
  Exchange ex;
  ex.requestId = newRequestId();
  if (unusable_) {
    ex.response.error = unusable_->message;
    return ex;
  }
  kube::HttpRequest request;
  request.method = method;
  request.pathAndQuery = std::string(kApiBase) + pathAndQuery;
  request.timeout = timeout_;
  if (body) {
    request.body = body->dump();
    request.contentType = "application/json";
  }
  headers.emplace_back("X-Request-Id", ex.requestId);
  request.headers = std::move(headers);
  const auto start = Clock::now();
  ex.response = transport_->send(request);
  const auto took = Clock::now() - start;
  record(method, ex.response.status, took);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  if (ex.response.status == 0) {
    spdlog::debug("harbor {} {}: no answer after {} ms: {} (X-Request-Id {})", method,
                  request.pathAndQuery, ms, ex.response.error, ex.requestId);
  } else {
    spdlog::debug("harbor {} {}: {} in {} ms (X-Request-Id {})", method, request.pathAndQuery,
                  ex.response.status, ms, ex.requestId);
  }
  return ex;
}

Result<HarborClient::Exchange> HarborClient::exchange(const std::string& method,
                                                      const std::string& pathAndQuery,
                                                      const std::optional<Json>& body,
                                                      Headers headers) {
  Exchange ex = send(method, pathAndQuery, body, std::move(headers));
  const int status = ex.response.status;
  if (status == 0) return errorWithoutAnswer(ex.response.error, ex.requestId);
  if (status < 200 || status >= 300) {
    return errorFromAnswer(status, ex.response.body, ex.requestId);
  }
  return ex;
}

Result<Json> HarborClient::getJson(const std::string& pathAndQuery, Headers headers) {
  auto ex = exchange("GET", pathAndQuery, std::nullopt, std::move(headers));
  if (!ex) return ex.error();
  auto parsed = parseJson(ex.value().response.body);
  if (!parsed) return notJson("GET", pathAndQuery, ex.value(), "JSON");
  return std::move(*parsed);
}

Result<Done> HarborClient::write(const std::string& method, const std::string& pathAndQuery,
                                 const std::optional<Json>& body, Headers headers) {
  auto ex = exchange(method, pathAndQuery, body, std::move(headers));
  if (!ex) return ex.error();
  return Done{};
}

Result<std::int64_t> HarborClient::create(const std::string& path, const Json& body) {
  auto ex = exchange("POST", path, body);
  if (!ex) return ex.error();
  const std::string location = header(ex.value().response, "location");
  if (auto id = idFromLocation(location)) return *id;
  return HarborError{.status = ex.value().response.status,
                     .message = "Harbor created " + std::string(kApiBase) + path +
                                " but its Location header (\"" + location + "\") names no ID",
                     .requestId = ex.value().requestId};
}

Result<std::vector<Json>> HarborClient::listAll(const std::string& path, const std::string& query,
                                                Headers headers) {
  const std::string prefix = path + "?" + (query.empty() ? "" : query + "&");
  auto pageQuery = [&](int page) {
    return prefix + "page=" + std::to_string(page) + "&page_size=" + std::to_string(kPageSize);
  };
  std::vector<Json> items;
  std::optional<std::int64_t> total;
  std::string next = pageQuery(1);
  std::string lastRequestId;
  bool changed = false;  // X-Total-Count differed between pages
  for (int page = 1;; ++page) {
    if (page > kMaxPages) {
      return HarborError{.status = 0,
                         .message = "Harbor's list " + std::string(kApiBase) + path +
                                    " did not end after " + std::to_string(kMaxPages) + " pages",
                         .requestId = lastRequestId};
    }
    auto ex = exchange("GET", next, std::nullopt, headers);
    if (!ex) return ex.error();
    lastRequestId = ex.value().requestId;
    auto parsed = parseJson(ex.value().response.body);
    if (!parsed || !parsed->is_array()) return notJson("GET", next, ex.value(), "a JSON array");
    const bool empty = parsed->empty();
    for (Json& item : *parsed) items.push_back(std::move(item));
    if (auto t = parseTotalCount(header(ex.value().response, "x-total-count"))) {
      if (total && *t != *total) {
        total = t;
        changed = true;
        break;
      }
      total = t;
    }
    if (auto link = nextPageLink(header(ex.value().response, "link"))) {
      next = link->substr(std::strlen(kApiBase));
      continue;
    }
    // A server that counts but does not link: walk the pages by number until the count is met.
    if (total && static_cast<std::int64_t>(items.size()) < *total && !empty) {
      next = pageQuery(page + 1);
      continue;
    }
    break;
  }
  if (changed || (total && static_cast<std::int64_t>(items.size()) != *total)) {
    // Something was added or removed between pages: the list as read may miss an entry (a
    // robot envop would then create twice). Status 0 makes it retryable.
    return HarborError{.status = 0,
                       .message = "Harbor's list " + std::string(kApiBase) + path +
                                  " changed while it was read (X-Total-Count " +
                                  std::to_string(*total) + ", " + std::to_string(items.size()) +
                                  " entries read); try again",
                       .requestId = lastRequestId};
  }
  return items;
}

Result<bool> HarborClient::projectExists(const std::string& name) {
  return guarded("HEAD /projects", [&]() -> Result<bool> {
    Exchange ex = send("HEAD", "/projects?project_name=" + percentEncode(name), std::nullopt);
    const int status = ex.response.status;
    if (status == 200) return true;
    if (status == 404) return false;
    if (status == 0) return errorWithoutAnswer(ex.response.error, ex.requestId);
    return errorFromAnswer(status, ex.response.body, ex.requestId);
  });
}

Result<Json> HarborClient::getProject(const std::string& name) {
  return guarded("GET /projects/{name}", [&]() -> Result<Json> {
    auto project = getJson(projectPath(name), byName());
    if (project && !project.value().is_object()) {
      return HarborError{.status = 200,
                         .message = "Harbor's project " + name + " is not a JSON object"};
    }
    return project;
  });
}

Result<std::int64_t> HarborClient::createProject(const Json& projectReq) {
  return guarded("POST /projects", [&]() -> Result<std::int64_t> {
    auto id = create("/projects", projectReq);
    if (id || id.error().status < 200 || id.error().status >= 300) return id;
    // Created, but the ID is not in Location: the project's own record has it. Asking is safer
    // than reporting a failure, which would make the caller create it again and get a 409.
    const std::string name = projectReq.is_object() ? stringField(projectReq, "project_name") : "";
    if (name.empty()) return id;
    auto project = getProject(name);
    if (!project) return project.error();
    const std::int64_t projectId = intField(project.value(), "project_id", 0);
    if (projectId <= 0) return id;
    return projectId;
  });
}

Result<Done> HarborClient::updateProject(const std::string& name, const Json& projectReq) {
  return guarded("PUT /projects/{name}",
                 [&] { return write("PUT", projectPath(name), projectReq, byName()); });
}

Result<Done> HarborClient::deleteProject(const std::string& name) {
  return guarded("DELETE /projects/{name}",
                 [&] { return write("DELETE", projectPath(name), std::nullopt, byName()); });
}

Result<Json> HarborClient::projectQuota(std::int64_t projectId) {
  return guarded("GET /quotas", [&]() -> Result<Json> {
    const std::string path = "/quotas?reference=project&reference_id=" + std::to_string(projectId);
    auto ex = exchange("GET", path, std::nullopt);
    if (!ex) return ex.error();
    auto parsed = parseJson(ex.value().response.body);
    if (!parsed || !parsed->is_array()) return notJson("GET", path, ex.value(), "a JSON array");
    for (const Json& quota : *parsed) {
      if (quota.is_object()) return quota;
    }
    return HarborError{.status = 404,
                       .message = "Harbor has no quota for project " + std::to_string(projectId),
                       .requestId = ex.value().requestId};
  });
}

Result<Done> HarborClient::updateQuota(std::int64_t quotaId, const Json& hard) {
  return guarded("PUT /quotas/{id}", [&] {
    // A QuotaUpdateReq is {"hard": ResourceList}; callers may pass either.
    const Json body = hard.is_object() && hard.contains("hard") ? hard : Json{{"hard", hard}};
    return write("PUT", "/quotas/" + std::to_string(quotaId), body);
  });
}

Result<std::vector<Json>> HarborClient::listProjectRobots(std::int64_t projectId) {
  return guarded("GET /robots", [&] {
    // Harbor's q syntax: exact matches k=v joined by ","; the whole expression is one query
    // value, so its "=" and "," are percent-encoded.
    const std::string q = "Level=project,ProjectID=" + std::to_string(projectId);
    return listAll("/robots", "q=" + percentEncode(q));
  });
}

Result<RobotCredential> HarborClient::createRobot(const Json& robotCreate) {
  return guarded("POST /robots", [&]() -> Result<RobotCredential> {
    auto ex = exchange("POST", "/robots", robotCreate);
    if (!ex) return ex.error();
    auto parsed = parseJson(ex.value().response.body);
    if (!parsed || !parsed->is_object()) {
      return notJson("POST", "/robots", ex.value(), "a RobotCreated object");
    }
    RobotCredential robot;
    robot.id = intField(*parsed, "id", 0);
    if (robot.id <= 0) {
      robot.id = idFromLocation(header(ex.value().response, "location")).value_or(0);
    }
    robot.name = stringField(*parsed, "name");
    robot.secret = stringField(*parsed, "secret");
    robot.expiresAt = intField(*parsed, "expires_at", -1);
    if (robot.id <= 0 || robot.name.empty() || robot.secret.empty()) {
      return HarborError{.status = ex.value().response.status,
                         .message =
                             "Harbor created a robot but did not return its id, name and "
                             "secret (robot \"" +
                             robot.name + "\", id " + std::to_string(robot.id) + ")",
                         .requestId = ex.value().requestId};
    }
    return robot;
  });
}

Result<RobotCredential> HarborClient::refreshRobotSecret(std::int64_t robotId) {
  return guarded("PATCH /robots/{id}", [&]() -> Result<RobotCredential> {
    const std::string path = "/robots/" + std::to_string(robotId);
    // Read first: RobotSec carries only the secret, and the caller needs the name and expiry. A
    // failed read changes nothing; a failed PATCH after it leaves the old secret working.
    auto current = getJson(path);
    if (!current) return current.error();
    if (!current.value().is_object()) {
      return HarborError{.status = 200, .message = "Harbor's robot " + path + " is not an object"};
    }
    const std::string mine = generateRobotSecret();
    if (mine.empty()) {
      return HarborError{.status = 0, .message = "could not draw a random robot secret"};
    }
    auto ex = exchange("PATCH", path, Json{{"secret", mine}});
    if (!ex) return ex.error();
    RobotCredential robot;
    robot.id = intField(current.value(), "id", robotId);
    robot.name = stringField(current.value(), "name");
    robot.expiresAt = intField(current.value(), "expires_at", -1);
    robot.secret = mine;
    // Harbor answers a secret it was given with an empty RobotSec, one it made with that one.
    if (auto answer = parseJson(ex.value().response.body); answer && answer->is_object()) {
      if (std::string theirs = stringField(*answer, "secret"); !theirs.empty()) {
        robot.secret = std::move(theirs);
      }
    }
    return robot;
  });
}

Result<Done> HarborClient::deleteRobot(std::int64_t robotId) {
  return guarded("DELETE /robots/{id}", [&]() -> Result<Done> {
    auto done = write("DELETE", "/robots/" + std::to_string(robotId), std::nullopt);
    if (!done && done.error().status == 404) return Done{};  // already gone: what was asked
    return done;
  });
}

Result<std::vector<Json>> HarborClient::listImmutableRules(const std::string& project) {
  return guarded("GET /projects/{name}/immutabletagrules", [&] {
    return listAll(projectPath(project) + "/immutabletagrules", "", byName());
  });
}

Result<Done> HarborClient::createImmutableRule(const std::string& project, const Json& rule) {
  return guarded("POST /projects/{name}/immutabletagrules", [&] {
    return write("POST", projectPath(project) + "/immutabletagrules", rule, byName());
  });
}

Result<Done> HarborClient::updateImmutableRule(const std::string& project, std::int64_t id,
                                               const Json& rule) {
  return guarded("PUT /projects/{name}/immutabletagrules/{id}", [&] {
    return write("PUT", projectPath(project) + "/immutabletagrules/" + std::to_string(id), rule,
                 byName());
  });
}

Result<Done> HarborClient::deleteImmutableRule(const std::string& project, std::int64_t id) {
  return guarded("DELETE /projects/{name}/immutabletagrules/{id}", [&] {
    return write("DELETE", projectPath(project) + "/immutabletagrules/" + std::to_string(id),
                 std::nullopt, byName());
  });
}

Result<Json> HarborClient::getRetention(std::int64_t id) {
  return guarded("GET /retentions/{id}",
                 [&] { return getJson("/retentions/" + std::to_string(id)); });
}

Result<std::int64_t> HarborClient::createRetention(const Json& policy) {
  return guarded("POST /retentions", [&] { return create("/retentions", policy); });
}

Result<Done> HarborClient::updateRetention(std::int64_t id, const Json& policy) {
  return guarded("PUT /retentions/{id}",
                 [&] { return write("PUT", "/retentions/" + std::to_string(id), policy); });
}

HarborApiPtr makeHarborClient(const HarborEndpoint& endpoint) {
  std::string url = endpoint.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const auto unusable = [&](const std::string& why) {
    return std::make_shared<HarborClient>(
        HarborError{.status = 0, .message = "Harbor URL \"" + endpoint.url + "\": " + why});
  };
  std::string host;
  if (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0) {
    const size_t start = url.find("://") + 3;
    host = url.substr(start, url.find('/', start) - start);
    if (host.starts_with("[")) {
      host = host.substr(0, host.find(']') + 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
  }
  if (host.empty()) return unusable("not an https:// URL with a host");
  if (url.rfind("http://", 0) == 0 && !isLoopbackHost(host)) {
    return unusable("plain http:// would send the admin password in clear; use https://");
  }
  kube::Config config;
  config.server = url;
  config.caPem = endpoint.caPem;
  config.username = endpoint.username;
  config.password = endpoint.password;
  config.source = "harbor " + url;
  try {
    return std::make_shared<HarborClient>(kube::makeTransport(config));
  } catch (const std::exception& e) {
    return unusable(e.what());
  }
}

HarborApiFactory defaultHarborFactory() {
  return [](const HarborEndpoint& endpoint) { return makeHarborClient(endpoint); };
}

}  // namespace envop::harbor
