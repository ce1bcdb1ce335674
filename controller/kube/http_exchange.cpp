#include "controller/kube/http_exchange.h"

#include <openssl/ssl.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <limits>
#include <optional>

namespace envop::kube {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;

// The largest response body read into memory: lists are paged, so this is a bound against a
// broken server, not a limit envop meets.
constexpr std::uint64_t kBodyLimit = 512ull * 1024 * 1024;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

struct HttpExchange::Connection {
  asio::io_context ioc{1};  // run only by the thread that holds this connection
  tcp::socket socket{ioc};
  std::shared_ptr<asio::ssl::context> context;  // kept alive with the stream that uses it
  std::optional<asio::ssl::stream<tcp::socket&>> tls;
  beast::flat_buffer buffer;
  bool used = false;

  // Runs the io_context until `done`, or closes the socket when `deadline` passes first (which
  // makes every pending operation complete with an error). False when the deadline passed.
  bool drive(const bool& done, Clock::time_point deadline) {
    ioc.restart();
    bool inTime = true;
    while (!done) {
      const std::size_t ran =
          deadline == Clock::time_point::max() ? ioc.run_one() : ioc.run_one_until(deadline);
      if (ran == 0 && !done) {
        if (Clock::now() >= deadline && inTime) {
          inTime = false;
          ErrorCode ignored;
          socket.close(ignored);
          ioc.restart();
          deadline = Clock::time_point::max();
          continue;
        }
        if (ioc.stopped()) break;  // no work left although not done: cannot happen; never spin
      }
    }
    return inTime;
  }

  // The server closed the connection (or sent something unasked) while it sat idle: it cannot
  // carry a request.
  bool readableWhileIdle() {
    if (tls && SSL_pending(tls->native_handle()) > 0) return true;
    pollfd p{.fd = socket.native_handle(), .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, 0) != 0;
  }
};

HttpExchange::HttpExchange(const std::string& server, const ExchangeTls& tls) : tlsConfig_(tls) {
  std::string rest;
  if (server.rfind("https://", 0) == 0) {
    tls_ = true;
    rest = server.substr(8);
  } else if (server.rfind("http://", 0) == 0) {
    rest = server.substr(7);
  } else {
    configError_ = "the server URL must start with https:// or http://";
    return;
  }
  rest = rest.substr(0, rest.find('/'));
  hostHeader_ = rest;
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    const auto close = rest.find(']');
    host_ = rest.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    const auto colon = rest.find(':', close == std::string::npos ? 0 : close);
    port_ = colon == std::string::npos ? "" : rest.substr(colon + 1);
  } else {
    const auto colon = rest.rfind(':');
    host_ = rest.substr(0, colon);
    port_ = colon == std::string::npos ? "" : rest.substr(colon + 1);
  }
  if (port_.empty()) port_ = tls_ ? "443" : "80";
  if (host_.empty()) configError_ = "the server URL has no host";
  verifyName_ = tls.serverName.empty() ? host_ : tls.serverName;
  if (tls_ && configError_.empty()) {
    context_ = makeContext(tls.clientCertPem, tls.clientKeyPem, configError_);
  }
}

HttpExchange::~HttpExchange() = default;

std::shared_ptr<asio::ssl::context> HttpExchange::makeContext(const std::string& certPem,
                                                              const std::string& keyPem,
                                                              std::string& error) const {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ErrorCode ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3,
                   ec);
  if (tlsConfig_.insecureSkipVerify) {
    ctx->set_verify_mode(asio::ssl::verify_none, ec);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_peer, ec);
    if (tlsConfig_.caPem.empty()) {
      ctx->set_default_verify_paths(ec);
    } else {
      // Trust the kubeconfig's CA and nothing else, as client-go does (a new context's store is
      // empty).
      ctx->add_certificate_authority(asio::buffer(tlsConfig_.caPem), ec);
      if (ec) {
        error = "the CA certificate cannot be used: " + ec.message();
        return ctx;
      }
    }
  }
  if (!certPem.empty() && !keyPem.empty()) {
    ctx->use_certificate_chain(asio::buffer(certPem), ec);
    if (!ec) ctx->use_private_key(asio::buffer(keyPem), asio::ssl::context::pem, ec);
    if (ec) error = "the client certificate or key cannot be used: " + ec.message();
  }
  return ctx;
}

void HttpExchange::setClientCertificate(const std::string& certPem, const std::string& keyPem) {
  if (!tls_) return;
  // A certificate that cannot be loaded fails the handshakes that need it, which says why.
  std::string ignored;
  auto ctx = makeContext(certPem, keyPem, ignored);
  std::lock_guard lock(mu_);
  context_ = std::move(ctx);
  idle_.clear();
}

void HttpExchange::dropIdle() {
  std::vector<std::unique_ptr<Connection>> dropped;
  std::lock_guard lock(mu_);
  dropped.swap(idle_);
}

std::unique_ptr<HttpExchange::Connection> HttpExchange::checkout(bool fresh, std::string& error) {
  std::shared_ptr<asio::ssl::context> ctx;
  {
    std::lock_guard lock(mu_);
    while (!fresh && !idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (!c->readableWhileIdle()) return c;
    }
    ctx = context_;
  }
  auto c = std::make_unique<Connection>();
  ErrorCode ec;
  // Resolved on the calling thread: loopback or a cluster's DNS, and only for a new connection.
  tcp::resolver resolver(c->ioc);
  const auto endpoints = resolver.resolve(host_, port_, ec);
  if (!ec) asio::connect(c->socket, endpoints, ec);
  if (ec) {
    error = "cannot connect to " + hostHeader_ + ": " + ec.message();
    return nullptr;
  }
  c->socket.set_option(tcp::no_delay(true), ec);
  if (tls_) {
    c->context = ctx;
    c->tls.emplace(c->socket, *ctx);
    if (!tlsConfig_.insecureSkipVerify) {
      c->tls->set_verify_callback(asio::ssl::host_name_verification(verifyName_));
    }
    // SNI only for a name, never an address (RFC 6066).
    ErrorCode notAnAddress;
    asio::ip::make_address(verifyName_, notAnAddress);
    if (notAnAddress) SSL_set_tlsext_host_name(c->tls->native_handle(), verifyName_.c_str());
  }
  return c;
}

void HttpExchange::checkin(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mu_);
  // A connection made for an older context presents an older certificate: let it go.
  if (connection->context && connection->context != context_) return;
  idle_.push_back(std::move(connection));
}

std::unique_ptr<HttpExchange::Connection> HttpExchange::begin(const ExchangeRequest& request,
                                                              ExchangeResponse& response) {
  if (!configError_.empty()) {
    response.error = configError_;
    return nullptr;
  }
  std::unique_ptr<Connection> c = checkout(request.freshConnection, response.error);
  if (!c) return nullptr;
  response.reusedConnection = c->used;
  const bool fresh = !c->used;
  c->used = true;

  http::request<http::string_body> req;
  req.method_string(request.method);
  req.target(request.target);
  req.version(11);
  req.set(http::field::host, hostHeader_);
  for (const auto& [name, value] : request.headers) req.insert(name, value);
  if (request.freshConnection) req.set(http::field::connection, "close");
  if (!request.contentType.empty()) {
    req.set(http::field::content_type, request.contentType);
    req.body() = request.body;
  }
  req.prepare_payload();

  bool done = false;
  ErrorCode ec;
  auto finish = [&](ErrorCode e, std::size_t = 0) {
    ec = e;
    done = true;
  };
  auto step = [&](const char* what) {
    const bool inTime =
        c->drive(done, std::min(request.deadline, Clock::now() + request.inactivity));
    if (inTime && !ec) return true;
    response.timedOut = !inTime && Clock::now() >= request.deadline;
    response.error =
        std::string(what) + ": " + (inTime ? ec.message() : std::string("no progress in time"));
    return false;
  };
  if (fresh && c->tls) {
    c->tls->async_handshake(asio::ssl::stream_base::client, finish);
    if (!step("TLS handshake")) return nullptr;
  }
  done = false;
  if (c->tls) {
    http::async_write(*c->tls, req, finish);
  } else {
    http::async_write(c->socket, req, finish);
  }
  if (!step("sending the request")) return nullptr;
  return c;
}

namespace {

template <class Fields>
void copyHeaders(const Fields& fields, ExchangeResponse& response) {
  for (const auto& field : fields) {
    std::string& slot = response.headers[lower(std::string(field.name_string()))];
    slot += (slot.empty() ? "" : ", ") + std::string(field.value());
  }
}

}  // namespace

ExchangeResponse HttpExchange::send(const ExchangeRequest& request) {
  ExchangeResponse response;
  std::unique_ptr<Connection> c = begin(request, response);
  if (!c) return response;

  bool done = false;
  ErrorCode ec;
  auto finish = [&](ErrorCode e, std::size_t = 0) {
    ec = e;
    done = true;
  };
  http::response_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  // A HEAD answer carries the Content-Length of the body it leaves out (Harbor's project
  // check): the parser must not wait for those bytes.
  if (request.method == "HEAD") parser.skip(true);
  // Read piece by piece, so that a slow but moving answer is not cut by the inactivity timer.
  while (!parser.is_done()) {
    done = false;
    if (c->tls) {
      http::async_read_some(*c->tls, c->buffer, parser, finish);
    } else {
      http::async_read_some(c->socket, c->buffer, parser, finish);
    }
    const bool inTime =
        c->drive(done, std::min(request.deadline, Clock::now() + request.inactivity));
    if (!inTime || ec) {
      response.timedOut = !inTime && Clock::now() >= request.deadline;
      response.error =
          "reading the response: " + (inTime ? ec.message() : std::string("no progress in time"));
      return response;
    }
  }
  http::response<http::string_body> res = parser.release();
  response.status = static_cast<int>(res.result_int());
  copyHeaders(res, response);
  response.body = std::move(res.body());
  if (res.keep_alive() && !request.freshConnection) checkin(std::move(c));
  return response;
}

ExchangeResponse HttpExchange::stream(const ExchangeRequest& request,
                                      const std::function<bool(std::string_view)>& onLine,
                                      Cancellation& cancel) {
  ExchangeResponse response;
  if (cancel.cancelled()) return response;
  std::unique_ptr<Connection> c = begin(request, response);
  if (!c) return response;
  // A cancel closes the socket on the thread that runs the connection's io_context (this one,
  // inside drive()), so every pending read ends at once with an error.
  Connection* raw = c.get();
  const int subscription = cancel.subscribe([raw] {
    asio::post(raw->ioc, [raw] {
      ErrorCode ignored;
      raw->socket.close(ignored);
    });
  });
  bool done = false;
  ErrorCode ec;
  auto finish = [&](ErrorCode e, std::size_t = 0) {
    ec = e;
    done = true;
  };
  auto read = [&](auto& parser, auto readOp) {
    done = false;
    readOp(parser);
    const bool inTime =
        c->drive(done, std::min(request.deadline, Clock::now() + request.inactivity));
    if (!inTime) {
      response.timedOut = Clock::now() >= request.deadline;
      response.error = "reading the watch stream: no progress in time";
      return false;
    }
    return !ec || ec == http::error::need_buffer;
  };
  auto readHeader = [&](auto& parser) {
    if (c->tls) {
      http::async_read_header(*c->tls, c->buffer, parser, finish);
    } else {
      http::async_read_header(c->socket, c->buffer, parser, finish);
    }
  };
  auto readBody = [&](auto& parser) {
    if (c->tls) {
      http::async_read(*c->tls, c->buffer, parser, finish);
    } else {
      http::async_read(c->socket, c->buffer, parser, finish);
    }
  };
  // What has arrived, however little: a watch event must not wait for the next one.
  auto readSome = [&](auto& parser) {
    if (c->tls) {
      http::async_read_some(*c->tls, c->buffer, parser, finish);
    } else {
      http::async_read_some(c->socket, c->buffer, parser, finish);
    }
  };

  bool clean = false;  // the body ended by itself: the connection may carry another request
  http::response_parser<http::buffer_body> parser;
  // A watch streams for as long as its timeoutSeconds: no limit. (Not boost::none: Boost 1.74
  // compares a Content-Length with an empty limit as exceeding it.)
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (read(parser, readHeader)) {
    response.status = static_cast<int>(parser.get().result_int());
    copyHeaders(parser.get(), response);
    if (response.status < 200 || response.status >= 300) {
      // The error's body (a metav1.Status), whole.
      http::response_parser<http::string_body> whole(std::move(parser));
      whole.body_limit(kBodyLimit);
      if (read(whole, readBody)) {
        response.body = std::move(whole.get().body());
        clean = whole.is_done() && whole.get().keep_alive();
      }
    } else {
      std::string pending;  // a line not yet ended
      char chunk[16 * 1024];
      bool more = true;
      while (more && !parser.is_done()) {
        parser.get().body().data = chunk;
        parser.get().body().size = sizeof chunk;
        if (!read(parser, readSome)) {
          if (response.error.empty()) {
            response.error = "reading the watch stream: " + ec.message();
          }
          response.status = 0;
          break;
        }
        pending.append(chunk, sizeof chunk - parser.get().body().size);
        std::size_t start = 0;
        for (std::size_t nl; more && (nl = pending.find('\n', start)) != std::string::npos;
             start = nl + 1) {
          std::string_view line(pending.data() + start, nl - start);
          if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
          if (!line.empty()) more = onLine(line);
        }
        pending.erase(0, std::min(start, pending.size()));
      }
      if (more && parser.is_done() && !pending.empty()) onLine(pending);  // no final newline
      clean = more && parser.is_done() && parser.get().keep_alive();
    }
  } else if (response.error.empty()) {
    response.error = "reading the watch response: " + ec.message();
  }
  cancel.unsubscribe(subscription);
  if (cancel.cancelled()) {
    // Ended by the cancel, not by the server: no error, and the connection (closed, or with a
    // close still queued on its io_context) is not reused.
    response.status = 0;
    response.error.clear();
    response.timedOut = false;
    return response;
  }
  if (clean && !request.freshConnection) checkin(std::move(c));
  return response;
}

}  // namespace envop::kube
