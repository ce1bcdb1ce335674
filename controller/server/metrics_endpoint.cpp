#include "controller/server/metrics_endpoint.h"

#include <prometheus/text_serializer.h>

#include <utility>

#include "controller/util/metrics.h"

namespace envop::server {

HttpResponse renderMetrics(prometheus::Registry& registry) {
  const prometheus::TextSerializer serializer;
  return HttpResponse{.status = 200,
                      .contentType = kPrometheusTextContentType,
                      .body = serializer.Serialize(registry.Collect())};
}

void installMetricsEndpoint(HttpServer& server, std::shared_ptr<prometheus::Registry> registry,
                            std::string path) {
  server.handle(std::move(path), [registry = std::move(registry)](const HttpRequest&) {
    return renderMetrics(*registry);
  });
}

void installMetricsEndpoint(HttpServer& server) {
  installMetricsEndpoint(server, util::sharedMetricsRegistry());
}

}  // namespace envop::server
