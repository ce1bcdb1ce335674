// Harbor's Errors body becomes the message a condition shows.
#include "controller/harbor/harbor_errors.h"

#include <gtest/gtest.h>

namespace envop::harbor {
namespace {

TEST(HarborErrorsTest, HarborsErrorsAreJoinedAsCodeAndMessage) {
  EXPECT_EQ(describeErrorBody(409, R"({"errors":[{"code":"CONFLICT","message":"project )"
                                   R"(springcloud already exists"}]})"),
            "CONFLICT: project springcloud already exists");
  EXPECT_EQ(describeErrorBody(400, R"({"errors":[{"code":"BAD_REQUEST","message":"a"},)"
                                   R"({"code":"BAD_REQUEST","message":"b"}]})"),
            "BAD_REQUEST: a; BAD_REQUEST: b");
}

TEST(HarborErrorsTest, AnotherBodyIsDescribedByStatusAndAShortExcerpt) {
  EXPECT_EQ(describeErrorBody(502, "<html>\n  <body>Bad Gateway</body>\n</html>"),
            "HTTP 502: <html> <body>Bad Gateway</body> </html>");
  EXPECT_EQ(describeErrorBody(401, ""), "HTTP 401");
  EXPECT_EQ(describeErrorBody(500, R"({"errors":[{"code":1}]})"),
            R"(HTTP 500: {"errors":[{"code":1}]})");
  const std::string longBody(1000, 'x');
  EXPECT_LE(describeErrorBody(503, longBody).size(), 220u);
}

TEST(HarborErrorsTest, TheErrorCarriesStatusAndRequestId) {
  const HarborError e = errorFromAnswer(412,
                                        R"({"errors":[{"code":"PRECONDITION","message":)"
                                        R"("the project contains repositories"}]})",
                                        "abc123");
  EXPECT_EQ(e.status, 412);
  EXPECT_EQ(e.message, "PRECONDITION: the project contains repositories");
  EXPECT_EQ(e.requestId, "abc123");
  EXPECT_FALSE(e.retryable());
  const HarborError none = errorWithoutAnswer("connection refused", "id");
  EXPECT_EQ(none.status, 0);
  EXPECT_TRUE(none.retryable());
  EXPECT_EQ(none.message, "connection refused");
}

}  // namespace
}  // namespace envop::harbor
