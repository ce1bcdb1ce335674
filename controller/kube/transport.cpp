#include "controller/kube/transport.h"

#include "controller/kube/http_exchange.h"

namespace envop::kube {

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

class BeastTransport final : public Transport {
 public:
  explicit BeastTransport(const Config& config) : config_(config) {
    const auto [cert, key] = clientCertificate();
    if (config_.execCredentials) certInUse_ = cert;
    exchange_ = std::make_unique<HttpExchange>(
        config.server, ExchangeTls{.caPem = config.caPem,
                                   .clientCertPem = cert,
                                   .clientKeyPem = key,
                                   .insecureSkipVerify = config.insecureSkipTlsVerify,
                                   .serverName = config.tlsServerName});
    host_ = exchange_->authority();
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
    useCurrentCertificate();
    // A watch lives for its timeoutSeconds and may be quiet for most of it: the wait for data
    // is bounded a little beyond that, by which time the server has ended it.
    ExchangeRequest exchange{.method = request.method,
                             .target = request.pathAndQuery,
                             .headers = headersFor(request),
                             .inactivity = request.timeout + std::chrono::seconds(30)};
    bool delivered = false;
    auto counting = [&](std::string_view line) {
      delivered = true;
      return onLine(line);
    };
    ExchangeResponse answer = exchange_->stream(exchange, counting, cancel);
    if (answer.status == 0 && !cancel.cancelled() && !delivered && !answer.timedOut) {
      // A pooled connection to an apiserver that restarted fails on first use (as in send()).
      exchange_->dropIdle();
      answer = exchange_->stream(exchange, counting, cancel);
    }
    HttpResponse result = fromExchange(std::move(answer));
    if (result.status == 401) config_.invalidateCredentials();
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
      headers.emplace_back("Authorization", "Basic " + encodeBase64(userpass));
    }
    for (const auto& header : request.headers) headers.push_back(header);
    return headers;
  }

  // An exec plugin's new certificate needs new connections: TLS presents it at the handshake.
  void useCurrentCertificate() {
    if (!config_.execCredentials) return;
    const auto [cert, key] = clientCertificate();
    std::lock_guard lock(clientMu_);
    if (cert != certInUse_) {
      exchange_->setClientCertificate(cert, key);
      certInUse_ = cert;
    }
  }

  static HttpResponse fromExchange(ExchangeResponse answer) {
    HttpResponse result;
    result.status = answer.status;
    result.timedOut = answer.timedOut;
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

  // One exchange on the calling thread (HttpExchange): no task, no hop to an I/O thread.
  HttpResponse sendOnce(const HttpRequest& request) {
    useCurrentCertificate();
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
    if (answer.timedOut) {
      HttpResponse result;
      result.timedOut = true;
      result.error = request.method + " " + request.pathAndQuery + ": no answer within " +
                     std::to_string(request.timeout.count()) + "s";
      return result;
    }
    return fromExchange(std::move(answer));
  }

  const Config config_;
  std::string host_;
  std::unique_ptr<HttpExchange> exchange_;
  std::mutex clientMu_;
  std::string certInUse_;  // the exec plugin's certificate the exchange presents ("" for none)
};

}  // namespace

TransportPtr makeTransport(const Config& config) {
  return std::make_shared<BeastTransport>(config);
}

}  // namespace envop::kube
