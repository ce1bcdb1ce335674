// The Prometheus HTTP service discovery endpoint (http_sd_configs): GET /sd/prometheus answers
// a JSON array of target groups, Content-Type application/json, as Prometheus requires;
// `?environment=pro` narrows it to one Environment. The groups come from a source the caller
// wires in (the environment layer builds them from its caches), so this layer knows HTTP and
// nothing of Environments. A source that throws is a 500 (HttpServer's rule), never a crash.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "controller/server/http_server.h"

namespace envop::server {

inline constexpr const char* kHttpSdPath = "/sd/prometheus";

// The groups as JSON text, for every Environment (nullopt) or the one named.
using HttpSdSource = std::function<std::string(const std::optional<std::string>& environment)>;

// What the endpoint answers for one request; public so that it is testable without sockets.
HttpResponse serveHttpSd(const HttpSdSource& source, const HttpRequest& request);

void installHttpSdEndpoint(HttpServer& server, HttpSdSource source, std::string path = kHttpSdPath);

}  // namespace envop::server
