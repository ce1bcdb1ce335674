#include "controller/kube/transport.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <cpprest/rawptrstream.h>
#include <openssl/ssl.h>
#include <pplx/threadpool.h>

#include <boost/asio/ssl.hpp>
#include <cctype>

#include "controller/kube/http_exchange.h"

namespace envop::kube {

void Cancellation::cancel() {
  // Callbacks run under the lock, so that unsubscribe() returns only once no callback of
  // its subscriber is running: a stream that has finished may then free what its
  // callback touches.
  std::lock_guard lock(mu_);
  if (cancelled_) return;
  cancelled_ = true;
  for (auto& [id, cb] : callbacks_) cb();
  callbacks_.clear();
}

bool Cancellation::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

int Cancellation::subscribe(std::function<void()> onCancel) {
  {
    std::lock_guard lock(mu_);
    if (!cancelled_) {
      callbacks_.emplace(++next_, std::move(onCancel));
      return next_;
    }
  }
  onCancel();
  return 0;
}

void Cancellation::unsubscribe(int id) {
  std::lock_guard lock(mu_);
  callbacks_.erase(id);
}

bool retryableWithoutAnswer(const HttpRequest& request) {
  const std::string& m = request.method;
  if (m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE") return true;
  if (m == "PATCH") {
    return request.contentType == "application/apply-patch+yaml" ||
           request.contentType == "application/merge-patch+json";
  }
  return false;
}

namespace {

namespace http = web::http;

class CppRestTransport final : public Transport {
 public:
  explicit CppRestTransport(const Config& config) : config_(config) {
    const web::uri uri(utility::conversions::to_string_t(config.server));
    host_ = uri.host() + (uri.port() > 0 ? ":" + std::to_string(uri.port()) : "");
    const auto [cert, key] = clientCertificate();
    if (config_.execCredentials) certInUse_ = cert;
    exchange_ = std::make_unique<HttpExchange>(
        config.server, ExchangeTls{.caPem = config.caPem,
                                   .clientCertPem = cert,
                                   .clientKeyPem = key,
                                   .insecureSkipVerify = config.insecureSkipTlsVerify,
                                   .serverName = config.tlsServerName});
  }

  HttpResponse send(const HttpRequest& request) override {
    HttpResponse response = sendOnce(request);
    if (response.status == 0) {
      // Pooled keep-alive connections to an apiserver that restarted fail on first use:
      // drop the pool, and try once more on a fresh connection what is safe to repeat.
      exchange_->dropIdle();
      if (!response.timedOut && retryableWithoutAnswer(request)) response = sendOnce(request);
    }
    // A bound service-account token may have been rotated under us, an exec plugin's token
    // revoked before its expiry: fetch the credential again and try once more (a 401 means the
    // request was not carried out, so any method may be repeated).
    if (response.status == 401 && config_.invalidateCredentials()) response = sendOnce(request);
    return response;
  }

  HttpResponse stream(const HttpRequest& request,
                      const std::function<bool(std::string_view)>& onLine,
                      Cancellation& cancel) override {
    HttpResponse result;
    // Watches live longer than ordinary requests; cpprestsdk's timeout is an
    // inactivity timer, so it must exceed the watch's own timeoutSeconds.
    auto client = makeClient(request.timeout + std::chrono::seconds(30));
    pplx::cancellation_token_source cts;
    // By value: the source is a shared handle, so the token state outlives this frame.
    const int subscription = cancel.subscribe([cts] { cts.cancel(); });
    try {
      http::http_response response = client->request(build(request), cts.get_token()).get();
      result.status = response.status_code();
      if (result.status == 401) config_.invalidateCredentials();
      if (result.status < 200 || result.status >= 300) {
        result.body = response.extract_utf8string(true).get();
        result.retryAfterSeconds = retryAfter(response);
      } else {
        auto body = response.body();
        while (!cancel.cancelled()) {
          concurrency::streams::container_buffer<std::string> line;
          const size_t n = body.read_line(line).get();
          if (n == 0 && body.is_eof()) break;
          if (line.collection().empty()) continue;
          if (!onLine(line.collection())) break;
        }
      }
    } catch (const std::exception& e) {
      if (!cancel.cancelled()) {
        result.status = 0;
        result.error = e.what();
      }
    }
    cancel.unsubscribe(subscription);
    return result;
  }

  const std::string& host() const override { return host_; }

 private:
  // The client certificate to present: the kubeconfig's, else the exec plugin's (which rotates).
  std::pair<std::string, std::string> clientCertificate() const {
    if (config_.clientCertPem.empty() && config_.execCredentials) {
      if (auto credential = config_.execCredentials->credential(); credential) {
        return {credential.value().clientCertPem, credential.value().clientKeyPem};
      }
    }
    return {config_.clientCertPem, config_.clientKeyPem};
  }

  std::unique_ptr<http::client::http_client> makeClient(std::chrono::seconds timeout) const {
    http::client::http_client_config cfg;
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!config_.insecureSkipTlsVerify);
    const std::string ca = config_.caPem;
    const auto [cert, key] = clientCertificate();
    cfg.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
      if (!ca.empty()) {
        // Trust the kubeconfig's CA and nothing else, as client-go does.
        SSL_CTX_set_cert_store(ctx.native_handle(), X509_STORE_new());
        ctx.add_certificate_authority(boost::asio::buffer(ca));
      }
      if (!cert.empty() && !key.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(cert));
        ctx.use_private_key(boost::asio::buffer(key), boost::asio::ssl::context::pem);
      }
    });
    return std::make_unique<http::client::http_client>(
        utility::conversions::to_string_t(config_.server), cfg);
  }

  http::http_request build(const HttpRequest& request) const {
    http::http_request req(utility::conversions::to_string_t(request.method));
    req.set_request_uri(utility::conversions::to_string_t(request.pathAndQuery));
    req.headers().add(U("Accept"), request.accept);
    req.headers().add(U("User-Agent"), U("envop-controller/0.1"));
    if (!config_.tlsServerName.empty()) {
      // cpprestsdk takes the name for SNI and for checking the server's certificate from the
      // Host header (the name alone: with a port it would check "name:port"); client-go's
      // ServerName. The apiserver does not route by Host.
      req.headers().add(U("Host"), utility::conversions::to_string_t(config_.tlsServerName));
    }
    if (const std::string token = config_.bearerToken(); !token.empty()) {
      req.headers().add(U("Authorization"), U("Bearer ") + token);
    } else if (!config_.username.empty()) {
      // Sent with every request rather than after a challenge: Harbor answers an anonymous
      // request to a public project as anonymous instead of asking for credentials.
      const std::string userpass = config_.username + ":" + config_.password;
      req.headers().add(U("Authorization"),
                        U("Basic ") + utility::conversions::to_base64(std::vector<unsigned char>(
                                          userpass.begin(), userpass.end())));
    }
    for (const auto& [name, value] : request.headers) {
      req.headers().add(utility::conversions::to_string_t(name),
                        utility::conversions::to_string_t(value));
    }
    if (!request.contentType.empty()) {
      req.set_body(request.body, request.contentType);
    }
    return req;
  }

  static int retryAfter(const http::http_response& response) {
    auto it = response.headers().find(U("Retry-After"));
    if (it == response.headers().end()) return 0;
    try {
      return std::stoi(it->second);
    } catch (const std::exception&) {
      return 0;
    }
  }

  // The request's headers as the transport sends them: Accept, User-Agent, Authorization, then
  // the caller's own.
  std::vector<std::pair<std::string, std::string>> headersFor(const HttpRequest& request) const {
    std::vector<std::pair<std::string, std::string>> headers;
    headers.reserve(3 + request.headers.size());
    headers.emplace_back("Accept", request.accept);
    headers.emplace_back("User-Agent", "envop-controller/0.1");
    if (const std::string token = config_.bearerToken(); !token.empty()) {
      headers.emplace_back("Authorization", "Bearer " + token);
    } else if (!config_.username.empty()) {
      // Sent with every request rather than after a challenge: Harbor answers an anonymous
      // request to a public project as anonymous instead of asking for credentials.
      const std::string userpass = config_.username + ":" + config_.password;
      headers.emplace_back("Authorization",
                           "Basic " + utility::conversions::to_base64(std::vector<unsigned char>(
                                          userpass.begin(), userpass.end())));
    }
    for (const auto& header : request.headers) headers.push_back(header);
    return headers;
  }

  // One exchange on the calling thread (HttpExchange): no task, no hop to an I/O thread.
  HttpResponse sendOnce(const HttpRequest& request) {
    if (config_.execCredentials) {
      // An exec plugin's new certificate needs new connections: TLS presents it at the handshake.
      const auto [cert, key] = clientCertificate();
      std::lock_guard lock(clientMu_);
      if (cert != certInUse_) {
        exchange_->setClientCertificate(cert, key);
        certInUse_ = cert;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    ExchangeResponse answer =
        exchange_->send({.method = request.method,
                         .target = request.pathAndQuery,
                         .headers = headersFor(request),
                         .body = request.body,
                         .contentType = request.contentType,
                         .deadline = request.timeout > std::chrono::seconds::zero()
                                         ? now + request.timeout
                                         : std::chrono::steady_clock::time_point::max()});
    HttpResponse result;
    if (answer.timedOut) {
      result.timedOut = true;
      result.error = request.method + " " + request.pathAndQuery + ": no answer within " +
                     std::to_string(request.timeout.count()) + "s";
      return result;
    }
    result.status = answer.status;
    result.error = std::move(answer.error);
    result.body = std::move(answer.body);
    if (const auto it = answer.headers.find("retry-after"); it != answer.headers.end()) {
      try {
        result.retryAfterSeconds = std::stoi(it->second);
      } catch (const std::exception&) {
        result.retryAfterSeconds = 0;
      }
    }
    result.headers = std::move(answer.headers);
    return result;
  }

  const Config config_;
  std::string host_;
  std::unique_ptr<HttpExchange> exchange_;  // request/response; watches stay on cpprestsdk
  std::mutex clientMu_;
  std::string certInUse_;  // the exec plugin's certificate the exchange presents ("" for none)
};

}  // namespace

TransportPtr makeTransport(const Config& config) {
  // cpprestsdk's pool now carries only the watch streams (requests and their answers never
  // touch it): its default of 40 threads was two thirds of the process's threads. Sized once,
  // before the first cpprestsdk client; a pool someone else initialised first is left as it is.
  static std::once_flag sized;
  std::call_once(sized, [] {
    try {
      crossplat::threadpool::initialize_with_threads(4);
    } catch (const std::exception&) {
    }
  });
  return std::make_shared<CppRestTransport>(config);
}

}  // namespace envop::kube
