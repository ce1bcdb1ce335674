#include "controller/server/http_sd_endpoint.h"

#include <utility>

namespace envop::server {

HttpResponse serveHttpSd(const HttpSdSource& source, const HttpRequest& request) {
  std::optional<std::string> environment;
  for (const auto& [name, value] : parseQuery(request.query)) {
    // Environment names are DNS labels: nothing in them needs percent-decoding.
    if (name == "environment") environment = value;
  }
  if (environment && environment->empty()) {
    return {.status = 400, .body = "environment: empty; name one, or leave the parameter out\n"};
  }
  return {.status = 200, .contentType = "application/json", .body = source(environment)};
}

void installHttpSdEndpoint(HttpServer& server, HttpSdSource source, std::string path) {
  server.handle(std::move(path), [source = std::move(source)](const HttpRequest& request) {
    return serveHttpSd(source, request);
  });
}

}  // namespace envop::server
