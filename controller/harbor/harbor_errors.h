// How an answer from Harbor becomes a HarborError. Harbor reports failures as
// `{"errors":[{"code":"CONFLICT","message":"..."}]}` (swagger definition Errors); the message a
// condition shows is those entries as "CODE: message; CODE: message", so a human reads Harbor's
// own words. A body that is not Harbor's error shape (a proxy's HTML page, an empty 502) is
// described by status and a short, single-line excerpt. Pure functions, no I/O.
#pragma once

#include <string>

#include "controller/harbor/harbor_api.h"

namespace envop::harbor {

// The message for a non-2xx answer: Harbor's errors[] when the body carries them, otherwise
// "HTTP <status>" and up to 200 characters of the body on one line.
std::string describeErrorBody(int status, const std::string& body);

// A non-2xx answer as a HarborError carrying the request's X-Request-Id.
HarborError errorFromAnswer(int status, const std::string& body, const std::string& requestId);

// No answer (network, TLS, timeout): status 0, the transport's words.
HarborError errorWithoutAnswer(const std::string& what, const std::string& requestId);

}  // namespace envop::harbor
