#include "controller/server/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <exception>
#include <utility>

namespace envop::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// After an accept error such as EMFILE, wait before the next accept instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// How long a connection closed for a bad request is drained; see Session::drain().
constexpr auto kDrainTimeout = std::chrono::milliseconds(1000);

HttpResponse textResponse(int status, std::string body) {
  return HttpResponse{.status = status, .body = std::move(body)};
}

// One connection: reads a request, answers it, and reads the next while the client keeps it
// alive. Everything runs on the connection's strand, so no member needs a lock.
class Session final : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServer& server, const HttpServerOptions& options)
      : stream_(std::move(socket)), server_(server), options_(options) {}

  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options_.maxRequestBytes));
    parser_->body_limit(options_.maxRequestBytes);
    stream_.expires_after(options_.connectionTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return shutdown();
    if (ec == http::error::header_limit || ec == http::error::body_limit) {
      return reply(textResponse(413, "request too large\n"), 11, false, true);
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return reply(textResponse(400, "bad request\n"), 11, false, true);
    }
    if (ec) return;  // timeout, reset, or stop(): the stream is closed with this object
    const auto& req = parser_->get();
    const auto method = req.method_string();
    const auto target = req.target();
    reply(server_.dispatch(std::string_view(method.data(), method.size()),
                           std::string_view(target.data(), target.size())),
          req.version(), req.keep_alive());
  }

  // `unread` says the client may still be sending (a request cut short by a limit or a parse
  // error): then the connection is drained before it closes, see drain().
  void reply(HttpResponse answer, unsigned version, bool keepAlive, bool unread = false) {
    if (answer.status < 100 || answer.status > 599) answer = textResponse(500, "bad status\n");
    response_ = {};
    response_.version(version);
    response_.result(static_cast<unsigned>(answer.status));
    response_.set(http::field::server, "envop");
    response_.set(http::field::content_type, answer.contentType);
    // Probe and metrics bodies are plain text; browsers must not guess otherwise.
    response_.set("X-Content-Type-Options", "nosniff");
    if (answer.status == 405) response_.set(http::field::allow, "GET");
    response_.keep_alive(keepAlive);
    response_.body() = std::move(answer.body);
    response_.prepare_payload();
    stream_.expires_after(options_.connectionTimeout);
    http::async_write(
        stream_, response_,
        [self = shared_from_this(), keepAlive, unread](beast::error_code ec, std::size_t) {
          if (ec) return;
          if (keepAlive) return self->read();
          self->shutdown();
          if (unread) self->drain();
        });
  }

  void shutdown() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // Closing a socket with unread input sends a reset, which can destroy the error response
  // before the client reads it; so read and discard until the client closes, for a bounded time,
  // as Go's net/http does.
  void drain() {
    stream_.expires_after(
        std::min<std::chrono::milliseconds>(options_.connectionTimeout, kDrainTimeout));
    drainStep();
  }

  void drainStep() {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (!ec) self->drainStep();
                            });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::array<char, 4096> discard_{};
  const HttpServer& server_;
  const HttpServerOptions& options_;
};

}  // namespace

struct HttpServer::Io {
  explicit Io(int threads) : context(threads), acceptor(context), retryTimer(context) {}

  void accept(const HttpServer& server, const HttpServerOptions& options) {
    acceptor.async_accept(
        asio::make_strand(context), [this, &server, &options](beast::error_code ec, tcp::socket s) {
          if (ec == asio::error::operation_aborted) return;
          if (ec) {
            spdlog::warn("http server: accept failed: {}", ec.message());
            retryTimer.expires_after(kAcceptRetryDelay);
            retryTimer.async_wait([this, &server, &options](beast::error_code waitEc) {
              if (!waitEc) accept(server, options);
            });
            return;
          }
          std::make_shared<Session>(std::move(s), server, options)->run();
          accept(server, options);
        });
  }

  asio::io_context context;
  tcp::acceptor acceptor;
  asio::steady_timer retryTimer;
};

std::optional<std::string> parseListenAddress(std::string_view text, ListenAddress& out) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return "bind address \"" + std::string(text) + "\" has no port; want [host]:port";
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view portText = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return "bind address \"" + std::string(text) + "\": an IPv6 host needs brackets";
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (portText.empty() || ec != std::errc() || end != portText.data() + portText.size() ||
      port > 65535) {
    return "bind address \"" + std::string(text) + "\" has an invalid port";
  }
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(port);
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> parseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      params.emplace_back(std::string(part), std::string());
    } else {
      params.emplace_back(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
    }
  }
  return params;
}

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)) {
  if (options_.threads < 1) options_.threads = 1;
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::handle(std::string path, HttpHandler handler) {
  std::lock_guard lock(routesMutex_);
  routes_[std::move(path)] = std::move(handler);
}

HttpResponse HttpServer::dispatch(std::string_view method, std::string_view target) const {
  try {
    const auto question = target.find('?');
    HttpRequest request{.path = std::string(target.substr(0, question))};
    if (question != std::string_view::npos)
      request.query = std::string(target.substr(question + 1));
    HttpHandler handler;
    {
      std::lock_guard lock(routesMutex_);
      const auto it = routes_.find(request.path);
      if (it == routes_.end()) return textResponse(404, "404 page not found\n");
      handler = it->second;  // a copy: the handler runs without the lock
    }
    if (method != "GET") return textResponse(405, "method not allowed\n");
    return handler(request);
  } catch (const std::exception& e) {
    spdlog::error("http server: handler for {} failed: {}", std::string(target), e.what());
  } catch (...) {
    spdlog::error("http server: handler for {} failed", std::string(target));
  }
  return textResponse(500, "internal server error\n");
}

namespace {

// Opens, binds and listens `acceptor` on `address`; the error names `text`, the address as given.
std::optional<std::string> listenOn(asio::io_context& context, tcp::acceptor& acceptor,
                                    const ListenAddress& address, const std::string& text) {
  const auto failure = [&text](std::string_view what, const beast::error_code& ec) {
    return "listen on " + text + ": " + std::string(what) + ": " + ec.message();
  };
  beast::error_code ec;
  tcp::endpoint endpoint;
  if (address.host.empty()) {
    // Every interface: IPv6 dual-stack where the kernel has IPv6, else IPv4 only.
    endpoint = tcp::endpoint(tcp::v6(), address.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::ip::v6_only(false), ec);
    if (ec) {
      beast::error_code ignored;
      acceptor.close(ignored);
      endpoint = tcp::endpoint(tcp::v4(), address.port);
      ec = {};
      acceptor.open(endpoint.protocol(), ec);
    }
  } else {
    tcp::resolver resolver(context);
    const auto results =
        resolver.resolve(address.host, std::to_string(address.port),
                         tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec) return failure("resolve", ec);
    if (results.empty()) return failure("resolve", asio::error::host_not_found);
    endpoint = results.begin()->endpoint();
    acceptor.open(endpoint.protocol(), ec);
  }
  if (ec) return failure("open", ec);
  // Lets a restarted controller bind while the old process's connections sit in TIME_WAIT; on
  // Linux it does not let two listeners share a port.
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return failure("set SO_REUSEADDR", ec);
  acceptor.bind(endpoint, ec);
  if (ec) return failure("bind", ec);
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return failure("listen", ec);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> HttpServer::start() {
  std::lock_guard lock(lifecycleMutex_);
  if (io_) return "http server on " + options_.address + " is already running";
  ListenAddress address;
  if (auto error = parseListenAddress(options_.address, address)) return error;
  try {
    io_ = std::make_unique<Io>(options_.threads);
    if (auto error = listenOn(io_->context, io_->acceptor, address, options_.address)) {
      io_.reset();
      return error;
    }
    port_ = io_->acceptor.local_endpoint().port();
    io_->accept(*this, options_);
    for (int i = 0; i < options_.threads; ++i) {
      threads_.emplace_back([context = &io_->context, address = options_.address] {
        // A completion handler that throws unwinds run(); log it and keep serving.
        for (;;) {
          try {
            context->run();
            return;
          } catch (const std::exception& e) {
            spdlog::error("http server {}: I/O thread caught: {}", address, e.what());
          } catch (...) {
            spdlog::error("http server {}: I/O thread caught an unknown exception", address);
          }
        }
      });
    }
  } catch (const std::exception& e) {
    // local_endpoint(), allocation or std::thread failed: undo what was started.
    if (io_) io_->context.stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    io_.reset();
    port_ = 0;
    return "listen on " + options_.address + ": " + e.what();
  }
  spdlog::info("http server listening on {} (port {})", options_.address, port_.load());
  return std::nullopt;
}

void HttpServer::stop() {
  std::lock_guard lock(lifecycleMutex_);
  if (!io_) return;
  io_->context.stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  beast::error_code ignored;
  io_->acceptor.close(ignored);
  // Destroying the context destroys the handlers still pending, and with them every Session
  // and its socket: open keep-alive connections are closed here.
  io_.reset();
  spdlog::info("http server on {} stopped", options_.address);
}

}  // namespace envop::server
