#include "controller/kube/api_error.h"

#include <nlohmann/json.hpp>

namespace envop::kube {
namespace {

constexpr std::size_t kMaxBodySnippet = 200;

std::string stringField(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int intField(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

// Logs and conditions want one line; a proxy's HTML page or a multi-line message would break it.
std::string oneLine(std::string text, std::size_t limit = std::string::npos) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (text.size() > limit) text = text.substr(0, limit) + "...";
  return text;
}

bool isStatusObject(const nlohmann::json& body) {
  return body.is_object() && (stringField(body, "kind") == "Status" || body.contains("reason") ||
                              body.contains("code"));
}

}  // namespace

std::string reasonForHttpStatus(int httpStatus) {
  switch (httpStatus) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "Unknown";
  }
}

namespace {

// As client-go does: trust the reason when the server gave a specific one, else the code.
bool matches(const ApiError& e, const char* reason, int code) {
  if (!e.reason.empty() && e.reason != "Unknown") return e.reason == reason;
  return e.httpStatus == code;
}

}  // namespace

bool ApiError::isRetryable() const {
  if (httpStatus == 0 || httpStatus == 408 || httpStatus == 429 || httpStatus >= 500) return true;
  return reason == "Timeout" || reason == "ServerTimeout" || reason == "TooManyRequests";
}

bool ApiError::isNotFound() const { return matches(*this, "NotFound", 404); }
bool ApiError::isAlreadyExists() const { return reason == "AlreadyExists"; }
bool ApiError::isConflict() const { return matches(*this, "Conflict", 409); }
bool ApiError::isGone() const {
  return reason == "Expired" || reason == "Gone" || (reason.empty() && httpStatus == 410);
}
bool ApiError::isInvalid() const { return matches(*this, "Invalid", 422); }
bool ApiError::isForbidden() const { return matches(*this, "Forbidden", 403); }
bool ApiError::isUnauthorized() const { return matches(*this, "Unauthorized", 401); }
bool ApiError::isTooManyRequests() const { return matches(*this, "TooManyRequests", 429); }

std::string ApiError::describe() const {
  std::string base = message;
  if (base.empty()) base = "HTTP " + std::to_string(httpStatus) + " " + reason;
  if (causes.empty()) return oneLine(base);

  std::string list;
  for (const StatusCause& cause : causes) {
    if (!list.empty()) list += "; ";
    list += cause.field.empty() ? cause.message : cause.field + ": " + cause.message;
  }
  if (reason == "Invalid") {
    // The server's message repeats the causes in brackets; rebuild it so each shows once.
    std::string head;
    if (!kind.empty() && !name.empty()) {
      head = kind + (group.empty() ? "" : "." + group) + " \"" + name + "\" is invalid";
    } else if (const auto pos = base.find(" is invalid"); pos != std::string::npos) {
      head = base.substr(0, pos + std::string(" is invalid").size());
    } else {
      head = base;
    }
    return oneLine(head + ": " + list);
  }
  return oneLine(base + " (" + list + ")");
}

ApiError fromStatus(const nlohmann::json& status, int httpStatus) {
  ApiError error;
  if (!status.is_object()) {
    error.httpStatus = httpStatus;
    error.reason = reasonForHttpStatus(httpStatus);
    return error;
  }
  const int code = intField(status, "code");
  // A watch ERROR event arrives in a 200 response; its own code is the real status then.
  const bool responseSaysSuccess = httpStatus == 0 || (httpStatus >= 200 && httpStatus < 300);
  error.httpStatus = responseSaysSuccess && code != 0 ? code : httpStatus;
  error.reason = stringField(status, "reason");
  if (error.reason.empty()) error.reason = reasonForHttpStatus(error.httpStatus);
  error.message = stringField(status, "message");
  const auto details = status.find("details");
  if (details != status.end() && details->is_object()) {
    error.kind = stringField(*details, "kind");
    error.group = stringField(*details, "group");
    error.name = stringField(*details, "name");
    error.retryAfterSeconds = intField(*details, "retryAfterSeconds");
    const auto causes = details->find("causes");
    if (causes != details->end() && causes->is_array()) {
      for (const nlohmann::json& cause : *causes) {
        if (!cause.is_object()) continue;
        error.causes.push_back({stringField(cause, "field"), stringField(cause, "reason"),
                                stringField(cause, "message")});
      }
    }
  }
  return error;
}

ApiError fromResponse(int httpStatus, const std::string& body, int retryAfterHeader) {
  // The non-throwing parse: a proxy's HTML page is a normal input here, not an exception.
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  ApiError error;
  if (!parsed.is_discarded() && isStatusObject(parsed)) {
    error = fromStatus(parsed, httpStatus);
  } else {
    error.httpStatus = httpStatus;
    error.reason = reasonForHttpStatus(httpStatus);
    error.message =
        "the server responded with HTTP " + std::to_string(httpStatus) + " " + error.reason;
    if (const std::string snippet = oneLine(body, kMaxBodySnippet);
        snippet.find_first_not_of(' ') != std::string::npos) {
      error.message += ": " + snippet;
    }
  }
  if (error.retryAfterSeconds == 0 && retryAfterHeader > 0) {
    error.retryAfterSeconds = retryAfterHeader;
  }
  return error;
}

ApiError networkError(std::string what) {
  ApiError error;
  error.message = "network error: " + std::move(what);
  return error;
}

}  // namespace envop::kube
