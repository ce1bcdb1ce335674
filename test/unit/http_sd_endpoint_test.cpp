// /sd/prometheus as Prometheus reads it: JSON, Content-Type application/json, ?environment=.
#include "controller/server/http_sd_endpoint.h"

#include <gtest/gtest.h>

namespace envop::server {
namespace {

TEST(HttpSdEndpointTest, AnswersJsonForAllOrTheNamedEnvironment) {
  std::vector<std::optional<std::string>> asked;
  HttpServer server({.address = "127.0.0.1:0"});
  installHttpSdEndpoint(server, [&asked](const std::optional<std::string>& environment) {
    asked.push_back(environment);
    return std::string(R"([{"targets":["10.0.0.1:8080"],"labels":{}}])");
  });
  HttpResponse all = server.dispatch("GET", "/sd/prometheus");
  EXPECT_EQ(all.status, 200);
  EXPECT_EQ(all.contentType, "application/json");
  EXPECT_EQ(all.body, R"([{"targets":["10.0.0.1:8080"],"labels":{}}])");
  HttpResponse one = server.dispatch("GET", "/sd/prometheus?environment=pro");
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(asked, (std::vector<std::optional<std::string>>{std::nullopt, "pro"}));
  EXPECT_EQ(server.dispatch("GET", "/sd/prometheus?environment=").status, 400);
  EXPECT_EQ(server.dispatch("POST", "/sd/prometheus").status, 405);
}

}  // namespace
}  // namespace envop::server
