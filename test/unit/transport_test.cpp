// The transport's answer to a request that got no answer: what is retried, what is not, and the
// per-request deadline; and a watch's stream: lines as they arrive, a cancel, an error answer, a
// stream cut short. Against a loopback server that reads requests and answers only as told, so
// the test counts what really arrived.
#include "controller/kube/transport.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <future>
#include <thread>

#include "test/fakes/silent_http_server.h"

namespace envop::kube {
namespace {

using fakes::SilentHttpServer;
using namespace std::chrono_literals;

TEST(RetryableWithoutAnswerTest, OnlyWhatIsSafeToRepeat) {
  EXPECT_TRUE(retryableWithoutAnswer({.method = "GET"}));
  EXPECT_TRUE(retryableWithoutAnswer({.method = "HEAD"}));
  EXPECT_TRUE(retryableWithoutAnswer({.method = "PUT"}));
  EXPECT_TRUE(retryableWithoutAnswer({.method = "DELETE"}));
  EXPECT_TRUE(
      retryableWithoutAnswer({.method = "PATCH", .contentType = "application/apply-patch+yaml"}));
  EXPECT_TRUE(
      retryableWithoutAnswer({.method = "PATCH", .contentType = "application/merge-patch+json"}));
  EXPECT_FALSE(retryableWithoutAnswer({.method = "POST", .contentType = "application/json"}));
  EXPECT_FALSE(
      retryableWithoutAnswer({.method = "PATCH", .contentType = "application/json-patch+json"}));
  EXPECT_FALSE(retryableWithoutAnswer(
      {.method = "PATCH", .contentType = "application/strategic-merge-patch+json"}));
}

HttpRequest post() {
  return {.method = "POST",
          .pathAndQuery = "/api/v1/namespaces/pro/events",
          .body = R"({"kind":"Event"})",
          .contentType = "application/json"};
}

TEST(TransportTest, APostWhoseAnswerIsLostIsSentOnce) {
  SilentHttpServer server(SilentHttpServer::Mode::kCloseWithoutAnswer);
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  const HttpResponse response = transport->send(post());
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.error.empty());
  EXPECT_EQ(server.received("POST"), 1) << "a retried POST is a duplicate create";
}

TEST(TransportTest, APostOnAPooledConnectionWhoseAnswerIsLostIsSentOnce) {
  // The GET is answered and leaves its keep-alive connection in the pool; the POST's answer is
  // lost. cpprestsdk by itself resends a request whose reused connection turned out closed.
  SilentHttpServer server(SilentHttpServer::Mode::kCloseWithoutAnswer, /*answered=*/1);
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  ASSERT_EQ(transport->send({.method = "GET", .pathAndQuery = "/version"}).status, 200);
  const HttpResponse response = transport->send(post());
  EXPECT_EQ(response.status, 0);
  EXPECT_EQ(server.received("POST"), 1);
}

TEST(TransportTest, RequestsOfEveryMethodShareOneKeepAliveConnection) {
  // A connection per request (and, with TLS, a handshake and a context each) was the largest
  // cost of a converge; a POST is not sent twice on a pooled connection either (see above).
  SilentHttpServer server(SilentHttpServer::Mode::kCloseWithoutAnswer, /*answered=*/4);
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  ASSERT_EQ(transport->send({.method = "GET", .pathAndQuery = "/version"}).status, 200);
  ASSERT_EQ(transport->send(post()).status, 200);
  ASSERT_EQ(transport
                ->send({.method = "PUT",
                        .pathAndQuery = "/api/v1/namespaces/pro",
                        .body = "{}",
                        .contentType = "application/json"})
                .status,
            200);
  ASSERT_EQ(transport->send(post()).status, 200);
  EXPECT_EQ(server.connections(), 1);
}

TEST(TransportTest, AHeadAnswerWithAContentLengthAndNoBodyIsComplete) {
  // Harbor's project check is a HEAD; waiting for the body its Content-Length announces would
  // hang until the timeout, and the next answer on the connection would be read as that body.
  SilentHttpServer server(SilentHttpServer::Mode::kCloseWithoutAnswer, /*answered=*/2);
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  HttpRequest head{.method = "HEAD", .pathAndQuery = "/api/v2.0/projects?project_name=x"};
  head.timeout = 5s;
  const HttpResponse answered = transport->send(head);
  EXPECT_EQ(answered.status, 200) << answered.error;
  EXPECT_TRUE(answered.body.empty());
  const HttpResponse next = transport->send({.method = "GET", .pathAndQuery = "/version"});
  EXPECT_EQ(next.status, 200) << next.error;
  EXPECT_EQ(next.body, "{}");
  EXPECT_EQ(server.connections(), 1);
}

TEST(TransportTest, AGetWhoseAnswerIsLostIsRetriedOnceOnAFreshConnection) {
  SilentHttpServer server(SilentHttpServer::Mode::kCloseWithoutAnswer);
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  const HttpResponse response =
      transport->send({.method = "GET", .pathAndQuery = "/api/v1/namespaces/pro"});
  EXPECT_EQ(response.status, 0);
  EXPECT_EQ(server.received("GET"), 2);
}

TEST(TransportTest, AServerSideApplyWhoseAnswerIsLostIsRetried) {
  SilentHttpServer server(SilentHttpServer::Mode::kCloseWithoutAnswer);
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  transport->send({.method = "PATCH",
                   .pathAndQuery = "/api/v1/namespaces/pro?fieldManager=envop&force=true",
                   .body = "{}",
                   .contentType = "application/apply-patch+yaml"});
  EXPECT_EQ(server.received("PATCH"), 2);
}

TEST(TransportTest, ARequestThatOutlivesItsTimeoutIsAbandonedAndNotRetried) {
  SilentHttpServer server(SilentHttpServer::Mode::kHoldWithoutAnswer);
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  HttpRequest request = post();
  request.timeout = 1s;  // the connection's own inactivity timer is a minute
  const HttpResponse response = transport->send(request);
  EXPECT_EQ(response.status, 0);
  EXPECT_TRUE(response.timedOut);
  EXPECT_NE(response.error.find("no answer within 1s"), std::string::npos) << response.error;
  EXPECT_EQ(server.received("POST"), 1);

  // A timed-out GET is not retried either: its caller's time is up.
  const HttpResponse get =
      transport->send({.method = "GET", .pathAndQuery = "/version", .timeout = 1s});
  EXPECT_TRUE(get.timedOut);
  EXPECT_EQ(server.received("GET"), 1);
}

// A chunked 200 whose body is `chunks`, each one HTTP chunk; `end`: the last chunk follows.
std::string chunked(const std::vector<std::string>& chunks, bool end) {
  std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (const std::string& c : chunks) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", c.size());
    raw += size + c + "\r\n";
  }
  if (end) raw += "0\r\n\r\n";
  return raw;
}

HttpRequest watch() {
  return {.method = "GET",
          .pathAndQuery = "/api/v1/namespaces?watch=true&timeoutSeconds=300",
          .timeout = 300s};
}

struct Streamed {
  HttpResponse response;
  std::vector<std::string> lines;
};

// A watch through `transport`, every line kept.
Streamed streamWatch(Transport& transport) {
  Streamed streamed;
  Cancellation cancel;
  streamed.response = transport.stream(
      watch(),
      [&](std::string_view line) {
        streamed.lines.emplace_back(line);
        return true;
      },
      cancel);
  return streamed;
}

TEST(TransportStreamTest, LinesArriveWholeWhereverTheChunksSplitThemAndTheConnectionIsReused) {
  SilentHttpServer server(SilentHttpServer::Mode::kCloseWithoutAnswer,
                          {{chunked({R"({"type":"ADDED"})"
                                     "\n"
                                     R"({"ty)",
                                     R"(pe":"MODIFIED"})"
                                     "\r\n\n",
                                     R"({"type":"BOOKMARK"})"},
                                    /*end=*/true)},
                           {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"}});
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  const auto [response, lines] = streamWatch(*transport);
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(lines, (std::vector<std::string>{R"({"type":"ADDED"})", R"({"type":"MODIFIED"})",
                                             R"({"type":"BOOKMARK"})"}));
  // The stream ended by itself: its connection carries the next request.
  EXPECT_EQ(transport->send({.method = "GET", .pathAndQuery = "/version"}).status, 200);
  EXPECT_EQ(server.connections(), 1);
}

TEST(TransportStreamTest, ACancelEndsAWaitingStreamAtOnceWithoutAnError) {
  SilentHttpServer server(SilentHttpServer::Mode::kHoldWithoutAnswer,
                          {{chunked({"{\"type\":\"ADDED\"}\n"}, /*end=*/false)}});
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  Cancellation cancel;
  std::promise<void> firstLine;
  std::future<HttpResponse> streamed = std::async(std::launch::async, [&] {
    return transport->stream(
        watch(),
        [&](std::string_view) {
          firstLine.set_value();
          return true;
        },
        cancel);
  });
  firstLine.get_future().wait();
  // The server holds the stream open: only the cancel can end the wait (a watch's own bound is
  // 330 s, the test's timeout far less).
  cancel.cancel();
  const HttpResponse response = streamed.get();
  EXPECT_EQ(response.status, 0);
  EXPECT_EQ(response.error, "");
  EXPECT_FALSE(response.timedOut);
}

TEST(TransportStreamTest, AnErrorAnswerIsReadWholeWithItsStatus) {
  const std::string status =
      R"({"kind":"Status","status":"Failure","reason":"Expired","code":410})";
  SilentHttpServer server(SilentHttpServer::Mode::kCloseWithoutAnswer,
                          {{"HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\n"
                            "Content-Length: " +
                            std::to_string(status.size()) + "\r\n\r\n" + status}});
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  const auto [response, lines] = streamWatch(*transport);
  EXPECT_EQ(response.status, 410) << response.error;
  EXPECT_EQ(response.body, status);
  EXPECT_TRUE(lines.empty());
}

TEST(TransportStreamTest, AStreamCutShortIsANetworkErrorAfterTheLinesThatArrived) {
  // The apiserver killed mid-watch: the lines before are delivered, then no status (status 0
  // and an error), which the watch machine takes as a network failure and resumes from the
  // last resourceVersion it saw.
  SilentHttpServer server(
      SilentHttpServer::Mode::kCloseWithoutAnswer,
      {{chunked({"{\"type\":\"ADDED\"}\n{\"type\":\"MOD"}, /*end=*/false), /*closeAfter=*/true}});
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  const auto [response, lines] = streamWatch(*transport);
  EXPECT_EQ(response.status, 0);
  EXPECT_FALSE(response.error.empty());
  EXPECT_EQ(lines, std::vector<std::string>{"{\"type\":\"ADDED\"}"});
  // Delivered lines mean the request was answered: not sent again.
  EXPECT_EQ(server.received("GET"), 1);
}

TEST(TransportStreamTest, AWatchAfterTheServerClosedThePooledConnectionIsAnswered) {
  // The first GET leaves a keep-alive connection in the pool, which the server then closes
  // (an apiserver restarted): the watch finds it dead before any answer and is sent once more.
  SilentHttpServer server(SilentHttpServer::Mode::kCloseWithoutAnswer,
                          {{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", /*closeAfter=*/true},
                           {chunked({"{\"type\":\"ADDED\"}\n"}, /*end=*/true)}});
  const TransportPtr transport = makeTransport(Config{.server = server.url()});
  ASSERT_EQ(transport->send({.method = "GET", .pathAndQuery = "/version"}).status, 200);
  const auto [response, lines] = streamWatch(*transport);
  EXPECT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(lines.size(), 1u);
}

}  // namespace
}  // namespace envop::kube
