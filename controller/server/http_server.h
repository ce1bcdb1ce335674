// HttpServer is the controller's inbound HTTP/1.1 endpoint (probes, /metrics, Prometheus HTTP SD):
// a small Boost.Beast server on its own io_context and thread(s). It binds a kubebuilder-style
// "[host]:port" address, routes GET requests by exact path to handlers that return a status,
// content type and body, and answers 404 for an unknown path and 405 for another method on a
// known one. Connections are kept alive, each request is bounded in size and each read or write in
// time, so that a slow or hostile client can neither grow memory nor hold a connection forever.
// No exception leaves a handler or an I/O thread: a throwing handler becomes a 500.
//
// Handlers run on the I/O threads and must be quick (a probe, a metrics render): a handler that
// blocks delays every other request, including the kubelet's probes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace envop::server {

struct HttpRequest {
  std::string path;   // "/healthz" for a target "/healthz?verbose"
  std::string query;  // "verbose" for that target; empty without '?'
};

struct HttpResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// The address to listen on, as kubebuilder's --metrics-bind-address takes it: ":8081" is every
// interface, "127.0.0.1:0" an ephemeral port, "[::1]:8080" an IPv6 literal.
struct ListenAddress {
  std::string host;  // empty means every interface; brackets removed
  std::uint16_t port = 0;
};

// Parses "[host]:port"; nullopt on success, else a message naming the text.
std::optional<std::string> parseListenAddress(std::string_view text, ListenAddress& out);

// Splits the query of a request ("verbose&exclude=a&exclude=b") into its parameters, in order;
// a parameter without '=' has an empty value. Values are not percent-decoded: check names and
// flags need no escaping.
std::vector<std::pair<std::string, std::string>> parseQuery(std::string_view query);

struct HttpServerOptions {
  std::string address;  // "[host]:port"; "0" (disabled) is the caller's business
  int threads = 1;
  // The longest a connection may take to send one request or receive one response, and the
  // longest an idle keep-alive connection is kept.
  std::chrono::milliseconds connectionTimeout = std::chrono::seconds(30);
  // The most a request may take, for its header and again for its body; larger ones get 413.
  std::size_t maxRequestBytes = 16 * 1024;
};

class HttpServer final {
 public:
  explicit HttpServer(HttpServerOptions options);
  // Stops the server.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes GET `path` to `handler`, replacing an earlier handler for it. Safe at any time, also
  // while the server runs.
  void handle(std::string path, HttpHandler handler);

  // Binds, listens and starts the I/O threads; when it returns nullopt, connections are accepted.
  // On failure returns the reason, naming the address (e.g. the port is in use), and nothing
  // runs. Never throws.
  std::optional<std::string> start();

  // The bound port (the ephemeral one for ":0"); 0 before a successful start().
  std::uint16_t port() const { return port_.load(); }

  // Closes the listener and every connection and joins the I/O threads. Idempotent; must not be
  // called from a handler (it would join its own thread).
  void stop();

  // What the server answers for one request; public so that routing is testable without sockets.
  HttpResponse dispatch(std::string_view method, std::string_view target) const;

 private:
  struct Io;  // Boost.Asio state, kept out of this header

  HttpServerOptions options_;
  mutable std::mutex routesMutex_;
  std::map<std::string, HttpHandler, std::less<>> routes_;
  std::mutex lifecycleMutex_;  // serialises start() and stop()
  std::unique_ptr<Io> io_;
  std::vector<std::thread> threads_;
  std::atomic<std::uint16_t> port_{0};
};

}  // namespace envop::server
