// ApiError is a failed call to the Kubernetes API in the API's own terms: the HTTP status, the
// metav1.Status reason (NotFound, Conflict, Expired, Invalid, ...), the server's message and its
// per-field causes. Callers branch on the helpers (isNotFound(), isConflict(), ...) and on
// isRetryable() instead of on raw status codes, as client-go's apierrors package lets them.
// A network failure (no response at all) is an ApiError with httpStatus 0.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace envop::kube {

// One entry of status.details.causes: which field was wrong and why.
struct StatusCause {
  std::string field;    // e.g. "spec.stage"; empty when the cause is not about one field
  std::string reason;   // e.g. "FieldValueNotSupported"
  std::string message;  // e.g. "Unsupported value: \"prod\""
};

struct ApiError final {
  int httpStatus = 0;  // 0: no response (connection refused, TLS failure, timeout on our side)
  std::string reason;  // the metav1.Status reason, or one derived from httpStatus
  std::string message;
  std::vector<StatusCause> causes;
  int retryAfterSeconds = 0;  // 0: the server gave no hint
  // From status.details: what the error is about, used by describe().
  std::string kind;
  std::string group;
  std::string name;

  // Worth retrying the same request after a back-off: 429, 5xx, timeouts and network failures.
  // 400/401/403/404/409/410/422 are not: the same request would fail the same way. A Conflict
  // is still recoverable, but by the reconcile loop (re-read, re-apply), not by the client.
  bool isRetryable() const;

  bool isNotFound() const;
  bool isAlreadyExists() const;
  bool isConflict() const;
  bool isGone() const;  // 410 Gone or Expired: a watch/list resourceVersion is too old; relist
  bool isInvalid() const;
  bool isForbidden() const;
  bool isUnauthorized() const;
  bool isTooManyRequests() const;
  bool isNetworkError() const { return httpStatus == 0; }

  // One line for logs, events and conditions, listing the field causes, e.g.
  // `Environment.envop.io "pro" is invalid: spec.stage: Unsupported value: "prod"`.
  std::string describe() const;
};

// Builds the error from a non-2xx response. A metav1.Status body is parsed; any other body
// (an HTML page from a proxy, an empty body) falls back to the HTTP status. retryAfterHeader is
// the Retry-After header in seconds (0 when absent); the Status's own hint wins when present.
ApiError fromResponse(int httpStatus, const std::string& body, int retryAfterHeader = 0);

// Builds the error from an already-parsed metav1.Status, e.g. the object of a watch ERROR event
// (which arrives inside a 200 response, so the status's `code` is the one that counts).
ApiError fromStatus(const nlohmann::json& status, int httpStatus = 0);

// A request that got no response at all; always retryable.
ApiError networkError(std::string what);

// The Status reason client-go assumes for an HTTP status when the body does not say.
std::string reasonForHttpStatus(int httpStatus);

}  // namespace envop::kube
