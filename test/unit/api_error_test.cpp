#include "controller/kube/api_error.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace envop::kube {
namespace {

// Bodies as kube-apiserver v1.30 sends them.
const char* k404 = R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
"message":"environments.envop.io \"pro\" not found","reason":"NotFound",
"details":{"name":"pro","group":"envop.io","kind":"environments"},"code":404})json";

const char* k409AlreadyExists = R"json({"kind":"Status","apiVersion":"v1","metadata":{},
"status":"Failure","message":"namespaces \"env-pro\" already exists","reason":"AlreadyExists",
"details":{"name":"env-pro","kind":"namespaces"},"code":409})json";

const char* k409Conflict =
    R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
"message":"Operation cannot be fulfilled on environments.envop.io \"pro\": the object has been modified; please apply your changes to the latest version and try again",
"reason":"Conflict","details":{"name":"pro","group":"envop.io","kind":"environments"},"code":409})json";

const char* k410 = R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
"message":"too old resource version: 1000 (2000)","reason":"Expired","code":410})json";

const char* k422 = R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
"message":"Environment.envop.io \"pro\" is invalid: [spec.stage: Unsupported value: \"prod\": supported values: \"pro\", \"pre\", \"test\", \"dev\", spec.quota.cpu: Required value]",
"reason":"Invalid","details":{"name":"pro","group":"envop.io","kind":"Environment","causes":[
{"reason":"FieldValueNotSupported","message":"Unsupported value: \"prod\": supported values: \"pro\", \"pre\", \"test\", \"dev\"","field":"spec.stage"},
{"reason":"FieldValueRequired","message":"Required value","field":"spec.quota.cpu"}]},"code":422})json";

const char* k429 = R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
"message":"Too many requests, please try again later.","reason":"TooManyRequests",
"details":{"causes":[{"message":"The apiserver is busy"}],"retryAfterSeconds":3},"code":429})json";

const char* k500 = R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
"message":"Internal error occurred: failed calling webhook \"validate.envop.io\"",
"reason":"InternalError","details":{"causes":[{"message":"failed calling webhook"}]},"code":500})json";

const char* k403 = R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
"message":"secrets is forbidden: User \"system:serviceaccount:envop-system:envop\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-system\"",
"reason":"Forbidden","details":{"kind":"secrets"},"code":403})json";

TEST(ApiErrorTest, NotFound) {
  const ApiError e = fromResponse(404, k404);
  EXPECT_EQ(e.httpStatus, 404);
  EXPECT_EQ(e.reason, "NotFound");
  EXPECT_TRUE(e.isNotFound());
  EXPECT_FALSE(e.isConflict());
  EXPECT_FALSE(e.isRetryable());
  EXPECT_EQ(e.name, "pro");
  EXPECT_EQ(e.describe(), "environments.envop.io \"pro\" not found");
}

TEST(ApiErrorTest, AlreadyExistsAndConflictShare409ButNotTheirHelpers) {
  const ApiError exists = fromResponse(409, k409AlreadyExists);
  EXPECT_TRUE(exists.isAlreadyExists());
  EXPECT_FALSE(exists.isConflict());
  const ApiError conflict = fromResponse(409, k409Conflict);
  EXPECT_TRUE(conflict.isConflict());
  EXPECT_FALSE(conflict.isAlreadyExists());
  EXPECT_FALSE(conflict.isRetryable());  // the reconcile loop re-reads and retries, not the client
  EXPECT_NE(conflict.describe().find("the object has been modified"), std::string::npos);
}

TEST(ApiErrorTest, ExpiredIsGone) {
  const ApiError e = fromResponse(410, k410);
  EXPECT_EQ(e.reason, "Expired");
  EXPECT_TRUE(e.isGone());
  EXPECT_FALSE(e.isRetryable());
  EXPECT_TRUE(fromResponse(410, "").isGone());
}

TEST(ApiErrorTest, WatchErrorEventUsesTheStatusCode) {
  // A watch ERROR event's object, delivered inside a 200 response.
  const ApiError e = fromStatus(nlohmann::json::parse(k410), 200);
  EXPECT_EQ(e.httpStatus, 410);
  EXPECT_TRUE(e.isGone());
}

TEST(ApiErrorTest, InvalidListsEveryFieldCause) {
  const ApiError e = fromResponse(422, k422);
  EXPECT_TRUE(e.isInvalid());
  EXPECT_FALSE(e.isRetryable());
  ASSERT_EQ(e.causes.size(), 2u);
  EXPECT_EQ(e.causes[0].field, "spec.stage");
  EXPECT_EQ(e.causes[0].reason, "FieldValueNotSupported");
  EXPECT_EQ(e.causes[1].message, "Required value");
  EXPECT_EQ(
      e.describe(),
      "Environment.envop.io \"pro\" is invalid: spec.stage: Unsupported value: \"prod\": "
      "supported values: \"pro\", \"pre\", \"test\", \"dev\"; spec.quota.cpu: Required value");
}

TEST(ApiErrorTest, InvalidWithoutDetailsKeepsTheMessageHead) {
  ApiError e;
  e.httpStatus = 422;
  e.reason = "Invalid";
  e.message = "ConfigMap \"x\" is invalid: [data: Too long]";
  e.causes = {{"data", "FieldValueTooLong", "Too long"}};
  EXPECT_EQ(e.describe(), "ConfigMap \"x\" is invalid: data: Too long");
}

TEST(ApiErrorTest, TooManyRequestsCarriesRetryAfter) {
  const ApiError e = fromResponse(429, k429);
  EXPECT_TRUE(e.isTooManyRequests());
  EXPECT_TRUE(e.isRetryable());
  EXPECT_EQ(e.retryAfterSeconds, 3);
  EXPECT_EQ(e.describe(), "Too many requests, please try again later. (The apiserver is busy)");
  EXPECT_EQ(fromResponse(429, k429, 10).retryAfterSeconds, 3);  // the Status's own hint wins
  EXPECT_EQ(fromResponse(429, "", 10).retryAfterSeconds, 10);
}

TEST(ApiErrorTest, InternalErrorIsRetryable) {
  const ApiError e = fromResponse(500, k500);
  EXPECT_EQ(e.reason, "InternalError");
  EXPECT_TRUE(e.isRetryable());
}

TEST(ApiErrorTest, ForbiddenIsTerminal) {
  const ApiError e = fromResponse(403, k403);
  EXPECT_TRUE(e.isForbidden());
  EXPECT_FALSE(e.isRetryable());
  EXPECT_NE(e.describe().find("cannot list resource \"secrets\""), std::string::npos);
}

TEST(ApiErrorTest, NonJsonBodyFallsBackToTheHttpStatus) {
  const ApiError e = fromResponse(502, "<html>\n<body>Bad Gateway</body>\n</html>");
  EXPECT_EQ(e.httpStatus, 502);
  EXPECT_EQ(e.reason, "Unknown");
  EXPECT_TRUE(e.isRetryable());
  EXPECT_EQ(e.describe(),
            "the server responded with HTTP 502 Unknown: <html> <body>Bad Gateway</body> </html>");
  const ApiError unauthorized = fromResponse(401, "Unauthorized");
  EXPECT_TRUE(unauthorized.isUnauthorized());
  EXPECT_FALSE(unauthorized.isRetryable());
  const ApiError notFound = fromResponse(404, "");
  EXPECT_TRUE(notFound.isNotFound());
  EXPECT_EQ(notFound.describe(), "the server responded with HTTP 404 NotFound");
  EXPECT_TRUE(fromResponse(504, "[1,2]").isRetryable());  // JSON, but not a Status
  EXPECT_EQ(fromResponse(504, "[1,2]").reason, "Timeout");
  EXPECT_EQ(fromResponse(500, std::string(1000, 'x')).describe().size(), 253u);
}

TEST(ApiErrorTest, RetryableTable) {
  for (const int code : {408, 429, 500, 502, 503, 504}) {
    EXPECT_TRUE(fromResponse(code, "").isRetryable()) << code;
  }
  for (const int code : {400, 401, 403, 404, 409, 410, 422}) {
    EXPECT_FALSE(fromResponse(code, "").isRetryable()) << code;
  }
  const ApiError serverTimeout = fromResponse(
      504, R"({"kind":"Status","reason":"ServerTimeout","message":"timed out","code":504})");
  EXPECT_TRUE(serverTimeout.isRetryable());
}

TEST(ApiErrorTest, NetworkErrorIsRetryableAndSaysWhat) {
  const ApiError e = networkError("connection refused (127.0.0.1:6443)");
  EXPECT_EQ(e.httpStatus, 0);
  EXPECT_TRUE(e.isNetworkError());
  EXPECT_TRUE(e.isRetryable());
  EXPECT_FALSE(e.isNotFound());
  EXPECT_EQ(e.describe(), "network error: connection refused (127.0.0.1:6443)");
}

}  // namespace
}  // namespace envop::kube
