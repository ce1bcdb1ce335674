// Transport is the one seam between envop and an HTTP library: it sends a request to
// the API server and returns the response, or streams a response line by line (a
// watch). The REST client above it knows Kubernetes; the transport knows only HTTP,
// so it can be swapped (Boost.Beast today, through HttpExchange) or faked. Transports never throw.
#pragma once

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
#include "controller/kube/config.h"

namespace envop::kube {

struct HttpRequest {
  std::string method = "GET";
  std::string pathAndQuery;  // "/api/v1/namespaces?limit=500"
  std::string body;
  std::string contentType;  // empty: no body
  // send(): the whole exchange must end within this, or it is abandoned (zero: no deadline but
  // the connection's inactivity timer). stream(): the watch's own timeoutSeconds.
  std::chrono::seconds timeout{30};
  std::string accept = "application/json";
  // Extra request headers, sent as given after the transport's own (Accept, User-Agent,
  // Authorization). The Harbor client sends X-Request-Id and X-Is-Resource-Name this way.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

struct HttpResponse {
  int status = 0;    // 0: no response; `error` says why
  std::string body;  // for stream(): the body of a non-2xx response only
  int retryAfterSeconds = 0;
  std::string error;      // a network or TLS failure, in words
  bool timedOut = false;  // status 0 because the request's timeout elapsed
  // send() only: the response's headers by lower-cased name (a repeated header's values joined
  // with ", ", as HTTP allows). Harbor's Location, Link and X-Total-Count are read from here.
  std::map<std::string, std::string> headers = {};
};

// Whether a request that got no answer may be sent once more: only when doing it twice has the
// same effect as doing it once, because "no answer" does not say whether the server acted. So:
// GET and HEAD (safe); PUT (a replace: the same object again, and with a resourceVersion a
// repeat after success is refused with 409, never applied twice); DELETE (a repeat finds the
// object gone or going); PATCH as server-side apply (declarative: the same intent again) or as
// JSON merge patch (RFC 7386 patches are idempotent by construction). Not: POST (a second
// create, a second Event, a second TokenRequest), JSON patch (an `add` to "/-" appends twice,
// and a `test`-guarded one fails its own repeat with a misleading 422), strategic merge patch
// (its list directives are not all idempotent). client-go retries only GET on a reset; Go's
// http.Transport replays idempotent methods on a dead pooled connection, which is the case this
// retry is for (an apiserver that restarted under our keep-alive pool).
bool retryableWithoutAnswer(const HttpRequest& request);

class Transport {
 public:
  virtual ~Transport() = default;
  virtual HttpResponse send(const HttpRequest& request) = 0;
  // Calls onLine for each line of a 2xx body as it arrives, until the server ends the
  // stream, onLine returns false, or `cancel` fires. The response carries the status
  // (and, when it is not 2xx, the body).
  virtual HttpResponse stream(const HttpRequest& request,
                              const std::function<bool(std::string_view line)>& onLine,
                              Cancellation& cancel) = 0;
  // host[:port] of the server, for metrics labels.
  virtual const std::string& host() const = 0;
};
using TransportPtr = std::shared_ptr<Transport>;

// The transport: requests and watches go over HttpExchange (Boost.Beast) on the calling thread,
// with keep-alive connections and one TLS context.
// Trusts only the configured CA, presents the client certificate from memory, and re-reads a
// file-backed token once on a 401. A request that got no answer is retried once on a fresh
// connection when retryableWithoutAnswer allows it and it did not time out (its caller's time
// is spent).
TransportPtr makeTransport(const Config& config);

}  // namespace envop::kube
