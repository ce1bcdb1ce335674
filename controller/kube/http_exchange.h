// HttpExchange sends a request and reads its whole response on the calling thread, over a pool
// of keep-alive connections (Boost.Beast, plain or TLS) to one server. It exists because the
// request path's cost was threads handing work to each other, not the work itself: cpprestsdk
// completes every step of a request (resolve, connect, handshake, write, status line, headers,
// body) on its own I/O pool and the caller waits on a task, so each API call of a reconcile
// crossed threads several times; and it builds a TLS context, parsing the CA and client
// certificate anew, for each connection. Here one TLS context is built per credential and
// shared by every connection, and each connection has an io_context of its own that only the
// thread holding the connection runs: no request ever leaves the thread that sent it.
//
// It knows HTTP, not Kubernetes: retries, credentials and 401s are the Transport's. Never throws.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/kube/cancellation.h"

namespace envop::kube {

struct ExchangeRequest {
  std::string method;
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with Content-Length when contentType is set
  std::string contentType;
  // The whole exchange must end by then (time_point::max(): no deadline), and no single read
  // or write may wait longer than `inactivity`.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::chrono::seconds inactivity{60};
  // Only a connection used once for this request (and then closed) will do: for a request that
  // must not be sent twice, when the caller wants no doubt about which connection carried it.
  bool freshConnection = false;
};

struct ExchangeResponse {
  int status = 0;  // 0: no response
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names; repeats joined with ", "
  std::string error;                           // why there is no response
  bool timedOut = false;                       // the deadline passed
  bool reusedConnection = false;               // sent on a pooled connection
};

struct ExchangeTls {
  std::string caPem;  // empty: the system's trust store
  std::string clientCertPem;
  std::string clientKeyPem;
  bool insecureSkipVerify = false;
  std::string serverName;  // SNI and the name checked in the certificate; empty: the URL's host
};

class HttpExchange final {
 public:
  // `server` is scheme://host[:port]; https gets TLS with `tls`. Nothing connects yet.
  HttpExchange(const std::string& server, const ExchangeTls& tls);
  ~HttpExchange();
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  ExchangeResponse send(const ExchangeRequest& request);
  // A request whose 2xx answer is a stream of lines (a watch): onLine gets each non-empty line
  // as it arrives, on this thread, until the server ends the body, onLine returns false, or
  // `cancel` fires (which closes the connection under the wait). A non-2xx answer is read
  // whole into `body`. `inactivity` bounds each wait for data. The connection goes back to the
  // pool only when the body ended by itself; `status` stays 0 with an `error` when the
  // connection failed mid-stream, and also after a cancel (with no error).
  ExchangeResponse stream(const ExchangeRequest& request,
                          const std::function<bool(std::string_view line)>& onLine,
                          Cancellation& cancel);
  // Closes every idle connection: the next request connects afresh (after an apiserver
  // restart, or when a new client certificate must be presented).
  void dropIdle();
  // A new client certificate for the connections made from now on (idle ones are dropped).
  void setClientCertificate(const std::string& certPem, const std::string& keyPem);

  // Why the configuration could not be used ("" when it can): a bad URL, CA or key. Every
  // send() then fails with it.
  const std::string& configError() const { return configError_; }
  // host[:port] as the server URL names it (the Host header, and the metrics' host label).
  const std::string& authority() const { return hostHeader_; }

 private:
  struct Connection;
  std::unique_ptr<Connection> checkout(bool fresh, std::string& error);
  // Takes a connection and sends the request on it (the TLS handshake first on a new one):
  // null, with response.error (and timedOut) set, when that failed.
  std::unique_ptr<Connection> begin(const ExchangeRequest& request, ExchangeResponse& response);
  void checkin(std::unique_ptr<Connection> connection);
  std::shared_ptr<boost::asio::ssl::context> makeContext(const std::string& certPem,
                                                         const std::string& keyPem,
                                                         std::string& error) const;

  bool tls_ = false;
  std::string host_;
  std::string port_;
  std::string hostHeader_;
  std::string verifyName_;
  ExchangeTls tlsConfig_;
  std::string configError_;

  std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_;  // shared by the connections it made
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace envop::kube
