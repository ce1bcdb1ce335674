// Link and X-Total-Count as Harbor sends them (src/server/v2.0/handler/base.go builds the Link
// from the request URL: `<...>; rel="prev" , <...>; rel="next"`).
#include "controller/harbor/harbor_paging.h"

#include <gtest/gtest.h>

namespace envop::harbor {
namespace {

TEST(HarborPagingTest, TheNextTargetIsFoundBesidePrev) {
  EXPECT_EQ(nextPageLink(R"(</api/v2.0/robots?page=1&page_size=100>; rel="prev" , )"
                         R"(</api/v2.0/robots?page=3&page_size=100>; rel="next")"),
            "/api/v2.0/robots?page=3&page_size=100");
  EXPECT_EQ(nextPageLink(R"(</api/v2.0/robots?page=2&page_size=100>; rel="next")"),
            "/api/v2.0/robots?page=2&page_size=100");
}

TEST(HarborPagingTest, TheLastPageHasNoNext) {
  EXPECT_EQ(nextPageLink(R"(</api/v2.0/robots?page=2&page_size=100>; rel="prev")"), std::nullopt);
  EXPECT_EQ(nextPageLink(""), std::nullopt);
}

TEST(HarborPagingTest, CommasInsideTheTargetDoNotSplitIt) {
  // Harbor's q syntax joins conditions with "," and a Link repeats the request's query.
  EXPECT_EQ(nextPageLink("</api/v2.0/robots?q=Level=project,ProjectID=3&page=2>; rel=next"),
            "/api/v2.0/robots?q=Level=project,ProjectID=3&page=2");
}

TEST(HarborPagingTest, AnAbsoluteTargetKeepsOnlyItsPath) {
  EXPECT_EQ(nextPageLink(R"(<https://harbor.example.com/api/v2.0/projects?page=2>; rel="next")"),
            "/api/v2.0/projects?page=2");
}

TEST(HarborPagingTest, ATargetOutsideTheApiIsNotFollowed) {
  EXPECT_EQ(nextPageLink(R"(<https://elsewhere.example.com/steal?page=2>; rel="next")"),
            std::nullopt);
  EXPECT_EQ(nextPageLink(R"(</c/login>; rel="next")"), std::nullopt);
}

TEST(HarborPagingTest, RelMayBeUnquotedOrListSeveralTypes) {
  EXPECT_EQ(nextPageLink(R"(</api/v2.0/a?page=2>; REL="last next")"), "/api/v2.0/a?page=2");
  EXPECT_EQ(nextPageLink(R"(</api/v2.0/a?page=2>; rel="nextpage")"), std::nullopt);
}

TEST(HarborPagingTest, TotalCountIsANonNegativeInteger) {
  EXPECT_EQ(parseTotalCount("42"), 42);
  EXPECT_EQ(parseTotalCount(" 0 "), 0);
  EXPECT_EQ(parseTotalCount(""), std::nullopt);
  EXPECT_EQ(parseTotalCount("-1"), std::nullopt);
  EXPECT_EQ(parseTotalCount("12abc"), std::nullopt);
}

}  // namespace
}  // namespace envop::harbor
