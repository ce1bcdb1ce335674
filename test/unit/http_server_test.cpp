#include "controller/server/http_server.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>
#include <string>

#include "controller/server/metrics_endpoint.h"
#include "controller/server/probes.h"
#include "controller/util/metrics.h"

namespace envop::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Response = http::response<http::string_body>;

// A plain blocking client on one connection, so that keep-alive can be observed.
class Client final {
 public:
  explicit Client(std::uint16_t port) : socket_(context_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  Response request(http::verb method, const std::string& target, const std::string& extra = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!extra.empty()) req.set("X-Padding", extra);
    http::write(socket_, req);
    Response res;
    http::read(socket_, buffer_, res);
    return res;
  }

  Response get(const std::string& target) { return request(http::verb::get, target); }

  // True when the server has closed the connection.
  bool closedByServer() {
    char byte;
    beast::error_code ec;
    socket_.read_some(asio::buffer(&byte, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context context_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

Response get(std::uint16_t port, const std::string& target) { return Client(port).get(target); }

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    probes_.addHealthCheck("ping", [] { return std::nullopt; });
    probes_.addReadinessCheck("ping", [] { return std::nullopt; });
    probes_.addReadinessCheck("informers-synced", [this]() -> std::optional<std::string> {
      if (synced_) return std::nullopt;
      return "2 of 3 informers have not synced";
    });
    probes_.install(server_);
    installMetricsEndpoint(server_);
    server_.handle("/boom", [](const HttpRequest&) -> HttpResponse {
      throw std::runtime_error("handler failed");
    });
    ASSERT_EQ(server_.start(), std::nullopt);
    ASSERT_NE(server_.port(), 0);
  }

  Probes probes_;
  std::atomic<bool> synced_{false};
  HttpServer server_{
      HttpServerOptions{.address = "127.0.0.1:0", .threads = 2, .maxRequestBytes = 1024}};
};

TEST(HttpServerAddress, ParsesKubebuilderStyleAddresses) {
  ListenAddress address;
  ASSERT_EQ(parseListenAddress(":8081", address), std::nullopt);
  EXPECT_EQ(address.host, "");
  EXPECT_EQ(address.port, 8081);
  ASSERT_EQ(parseListenAddress("127.0.0.1:0", address), std::nullopt);
  EXPECT_EQ(address.host, "127.0.0.1");
  EXPECT_EQ(address.port, 0);
  ASSERT_EQ(parseListenAddress("[::1]:8080", address), std::nullopt);
  EXPECT_EQ(address.host, "::1");
  EXPECT_EQ(address.port, 8080);
  EXPECT_NE(parseListenAddress("8080", address), std::nullopt);
  EXPECT_NE(parseListenAddress(":", address), std::nullopt);
  EXPECT_NE(parseListenAddress(":65536", address), std::nullopt);
  EXPECT_NE(parseListenAddress(":80x", address), std::nullopt);
  EXPECT_NE(parseListenAddress("::1:8080", address), std::nullopt);
}

TEST_F(HttpServerTest, HealthzAnswersOk) {
  const auto res = get(server_.port(), "/healthz");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "ok");
  EXPECT_EQ(res[http::field::content_type], "text/plain; charset=utf-8");
}

TEST_F(HttpServerTest, ReadyzFailsNamingTheCheckThenPasses) {
  auto res = get(server_.port(), "/readyz");
  EXPECT_EQ(res.result_int(), 500);
  EXPECT_NE(res.body().find("[-]informers-synced failed: 2 of 3 informers have not synced\n"),
            std::string::npos)
      << res.body();
  EXPECT_NE(res.body().find("[+]ping ok\n"), std::string::npos) << res.body();
  EXPECT_NE(res.body().find("readyz check failed"), std::string::npos) << res.body();

  synced_ = true;
  res = get(server_.port(), "/readyz");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "ok");
}

TEST_F(HttpServerTest, VerboseListsEveryCheck) {
  synced_ = true;
  const auto res = get(server_.port(), "/readyz?verbose");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "[+]ping ok\n[+]informers-synced ok\nreadyz check passed\n");
}

TEST_F(HttpServerTest, MetricsServesARegisteredCounter) {
  auto& family = prometheus::BuildCounter()
                     .Name("envop_http_server_test_requests_total")
                     .Help("Counts nothing; registered by http_server_test.")
                     .Register(util::metricsRegistry());
  auto& counter = family.Add({{"route", "/test"}});
  counter.Increment(3);
  const auto res = get(server_.port(), "/metrics");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(res.body().find("# TYPE envop_http_server_test_requests_total counter"),
            std::string::npos)
      << res.body();
  // The registry is the process's: compare with the counter's value, not with 3, so that the test
  // can repeat.
  const std::string sample = "envop_http_server_test_requests_total{route=\"/test\"} ";
  const auto at = res.body().find(sample);
  ASSERT_NE(at, std::string::npos) << res.body();
  EXPECT_DOUBLE_EQ(std::stod(res.body().substr(at + sample.size())), counter.Value());
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  EXPECT_EQ(get(server_.port(), "/nope").result_int(), 404);
  EXPECT_EQ(get(server_.port(), "/healthz/extra").result_int(), 404);
}

TEST_F(HttpServerTest, NonGetIs405) {
  Client client(server_.port());
  const auto res = client.request(http::verb::post, "/healthz");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[http::field::allow], "GET");
}

TEST_F(HttpServerTest, ThrowingHandlerIs500AndServerKeepsServing) {
  EXPECT_EQ(get(server_.port(), "/boom").result_int(), 500);
  EXPECT_EQ(get(server_.port(), "/healthz").result_int(), 200);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Client client(server_.port());
  EXPECT_EQ(client.get("/healthz").result_int(), 200);
  EXPECT_EQ(client.get("/nope").result_int(), 404);
  const auto res = client.get("/readyz");
  EXPECT_EQ(res.result_int(), 500);
  EXPECT_TRUE(res.keep_alive());
}

TEST_F(HttpServerTest, OversizedRequestIs413AndClosed) {
  Client client(server_.port());
  const auto res = client.request(http::verb::get, "/healthz", std::string(4096, 'x'));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_TRUE(client.closedByServer());
}

TEST_F(HttpServerTest, BindFailureNamesTheAddress) {
  const std::string address = "127.0.0.1:" + std::to_string(server_.port());
  HttpServer second(HttpServerOptions{.address = address});
  const auto error = second.start();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find(address), std::string::npos) << *error;
  EXPECT_EQ(second.port(), 0);
  second.stop();  // nothing started: still fine
}

TEST_F(HttpServerTest, BadAddressIsAnErrorNotAThrow) {
  HttpServer bad(HttpServerOptions{.address = "nonsense"});
  const auto error = bad.start();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("nonsense"), std::string::npos) << *error;
}

TEST_F(HttpServerTest, StopIsIdempotentAndClosesConnections) {
  Client idle(server_.port());
  EXPECT_EQ(idle.get("/healthz").result_int(), 200);
  const auto port = server_.port();
  server_.stop();
  server_.stop();
  EXPECT_TRUE(idle.closedByServer());
  asio::io_context context;
  tcp::socket socket(context);
  beast::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_TRUE(ec) << "the listener should be closed";
}

TEST(HttpServerDispatch, RoutesWithoutSockets) {
  HttpServer server(HttpServerOptions{.address = "127.0.0.1:0"});
  server.handle("/sd", [](const HttpRequest& request) {
    return HttpResponse{.contentType = "application/json", .body = request.query};
  });
  const auto res = server.dispatch("GET", "/sd?a=1");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.contentType, "application/json");
  EXPECT_EQ(res.body, "a=1");
  EXPECT_EQ(server.dispatch("HEAD", "/sd").status, 405);
  EXPECT_EQ(server.dispatch("GET", "/other").status, 404);
}

TEST(Probe, NoChecksIsOk) {
  const Probes probes;
  EXPECT_EQ(probes.healthz().status, 200);
  EXPECT_EQ(probes.healthz().body, "ok");
  EXPECT_EQ(probes.readyz("verbose").body, "readyz check passed\n");
}

TEST(Probe, FailingCheckIsListedWithItsReason) {
  Probes probes;
  probes.addHealthCheck("ping", [] { return std::nullopt; });
  probes.addHealthCheck("leader", [] { return std::optional<std::string>("lease lost"); });
  const auto res = probes.healthz();
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.body, "[+]ping ok\n[-]leader failed: lease lost\nhealthz check failed\n");
}

TEST(Probe, ThrowingCheckFails) {
  Probes probes;
  probes.addReadinessCheck(
      "cache", []() -> std::optional<std::string> { throw std::runtime_error("store gone"); });
  const auto res = probes.readyz();
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body.find("[-]cache failed: check threw: store gone"), std::string::npos);
}

TEST(Probe, SameNameReplacesTheCheck) {
  Probes probes;
  probes.addHealthCheck("ping", [] { return std::optional<std::string>("down"); });
  probes.addHealthCheck("ping", [] { return std::nullopt; });
  EXPECT_EQ(probes.healthz("verbose").body, "[+]ping ok\nhealthz check passed\n");
}

TEST(Probe, ExcludeSkipsACheckAndWarnsOnUnknownNames) {
  Probes probes;
  probes.addReadinessCheck("ping", [] { return std::nullopt; });
  probes.addReadinessCheck("slow", [] { return std::optional<std::string>("not yet"); });
  EXPECT_EQ(probes.readyz("exclude=slow").status, 200);
  const auto res = probes.readyz("exclude=slow&exclude=typo&verbose=true");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body,
            "[+]ping ok\n[+]slow excluded: ok\n"
            "warn: some health checks cannot be excluded: no matches for \"typo\"\n"
            "readyz check passed\n");
  EXPECT_EQ(probes.readyz("verbose=false").status, 500);
}

}  // namespace
}  // namespace envop::server
