// The /metrics endpoint: renders a Prometheus registry (by default the process's, from
// controller/util/metrics.h, where every layer registers its families) in the text exposition
// format 0.0.4 that Prometheus scrapes, with prometheus-cpp's TextSerializer.
#pragma once

#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "controller/server/http_server.h"

namespace envop::server {

inline constexpr const char* kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Serialises every family the registry collects now.
HttpResponse renderMetrics(prometheus::Registry& registry);

// Routes GET `path` on `server` to renderMetrics; the handler keeps the registry alive.
void installMetricsEndpoint(HttpServer& server, std::shared_ptr<prometheus::Registry> registry,
                            std::string path = "/metrics");
// The same, for the process registry.
void installMetricsEndpoint(HttpServer& server);

}  // namespace envop::server
