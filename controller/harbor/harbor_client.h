// HarborClient is HarborApi over HTTP: each call is one request (or one per page) to
// <url>/api/v2.0 as ../shared/vendor-specs/harbor/swagger-v2.15.2.yaml specifies it, sent through
// a kube::Transport with basic auth and TLS verified against the endpoint's CA (the system's
// when none is given). Every request carries a fresh X-Request-Id, which ends up in the
// HarborError and the debug log so a failure can be found in Harbor's own logs; every request is
// counted in envop_harbor_requests_total{method,code} (code "error" when no answer came) and
// timed in envop_harbor_request_duration_seconds{method}. Nothing here throws, and no secret
// (the admin password, a robot's secret) is ever logged. Thread-safe: it holds no state but
// the transport.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/harbor/harbor_api.h"
#include "controller/kube/transport.h"

namespace envop::harbor {

inline constexpr std::chrono::seconds kDefaultRequestTimeout{30};
inline constexpr const char* kApiBase = "/api/v2.0";

class HarborClient final : public HarborApi {
 public:
  // A client over an existing transport (tests pass a fake one).
  explicit HarborClient(kube::TransportPtr transport,
                        std::chrono::seconds timeout = kDefaultRequestTimeout);
  // A client that answers every call with `error` (an endpoint that cannot be used).
  explicit HarborClient(HarborError error);

  Result<bool> projectExists(const std::string& name) override;
  Result<Json> getProject(const std::string& name) override;
  Result<std::int64_t> createProject(const Json& projectReq) override;
  Result<Done> updateProject(const std::string& name, const Json& projectReq) override;
  Result<Done> deleteProject(const std::string& name) override;

  Result<Json> projectQuota(std::int64_t projectId) override;
  Result<Done> updateQuota(std::int64_t quotaId, const Json& hard) override;

  Result<std::vector<Json>> listProjectRobots(std::int64_t projectId) override;
  Result<RobotCredential> createRobot(const Json& robotCreate) override;
  Result<RobotCredential> refreshRobotSecret(std::int64_t robotId) override;
  Result<Done> deleteRobot(std::int64_t robotId) override;

  Result<std::vector<Json>> listImmutableRules(const std::string& project) override;
  Result<Done> createImmutableRule(const std::string& project, const Json& rule) override;
  Result<Done> updateImmutableRule(const std::string& project, std::int64_t id,
                                   const Json& rule) override;
  Result<Done> deleteImmutableRule(const std::string& project, std::int64_t id) override;

  Result<Json> getRetention(std::int64_t id) override;
  Result<std::int64_t> createRetention(const Json& policy) override;
  Result<Done> updateRetention(std::int64_t id, const Json& policy) override;

  // One exchange as sent and answered, for the paging loop and the methods above.
  struct Exchange {
    kube::HttpResponse response;
    std::string requestId;
  };

 private:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  Exchange send(const std::string& method, const std::string& pathAndQuery,
                const std::optional<Json>& body, Headers headers = {});
  // send() and a 2xx check; the error when not 2xx (or no answer).
  Result<Exchange> exchange(const std::string& method, const std::string& pathAndQuery,
                            const std::optional<Json>& body, Headers headers = {});
  Result<Json> getJson(const std::string& pathAndQuery, Headers headers = {});
  Result<Done> write(const std::string& method, const std::string& pathAndQuery,
                     const std::optional<Json>& body, Headers headers = {});
  // POST, then the created resource's ID from its Location header.
  Result<std::int64_t> create(const std::string& path, const Json& body);
  // Every page of a list: page=1&page_size=100, then Link rel="next" until there is none.
  Result<std::vector<Json>> listAll(const std::string& path, const std::string& query,
                                    Headers headers = {});

  kube::TransportPtr transport_;
  std::chrono::seconds timeout_;
  std::optional<HarborError> unusable_;
};

// The ID at the end of a Location header ("/api/v2.0/projects/12" → 12); nullopt when the last
// path segment is not a positive integer.
std::optional<std::int64_t> idFromLocation(const std::string& location);

// A percent-encoded path segment or query value (RFC 3986 unreserved characters kept).
std::string percentEncode(const std::string& value);

// A fresh X-Request-Id: 32 hex digits from OpenSSL's CSPRNG.
std::string newRequestId();

// The client for an endpoint: basic auth with its username and password, TLS verified against
// caPem (empty: the system trust store). A URL that is not https:// (plain http:// is accepted
// for loopback hosts only, where a test double may listen) gives a client whose every call
// fails with a message saying so, since the admin password must not cross a network in clear.
HarborApiPtr makeHarborClient(const HarborEndpoint& endpoint);

// makeHarborClient as a HarborApiFactory, for the registry part's wiring in the manager.
HarborApiFactory defaultHarborFactory();

}  // namespace envop::harbor
