#include "controller/environment/release_plan.h"

#include <gtest/gtest.h>

namespace envop::environment {
namespace {

using Names = std::vector<std::string>;
using Set = std::set<std::string>;

ReleaseSpec release(std::string name, Names dependsOn = {}) {
  return ReleaseSpec{.name = std::move(name), .chart = "c", .dependsOn = std::move(dependsOn)};
}

ReleasePlan mustPlan(const std::vector<ReleaseSpec>& releases) {
  auto result = planReleases(releases);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<ReleasePlan>(result);
}

std::string planError(const std::vector<ReleaseSpec>& releases) {
  auto result = planReleases(releases);
  if (auto* error = std::get_if<std::string>(&result)) return *error;
  ADD_FAILURE() << "planned without error";
  return "";
}

// The scenario: gateway and order-service both need config-server; registry stands alone.
std::vector<ReleaseSpec> springcloud() {
  return {release("gateway", {"config-server"}), release("config-server"),
          release("order-service", {"config-server"}), release("registry")};
}

TEST(ReleasePlan, OrdersDependenciesFirst) {
  const ReleasePlan plan = mustPlan(springcloud());
  EXPECT_EQ(plan.order(), (Names{"config-server", "registry", "gateway", "order-service"}));
  EXPECT_EQ(plan.dependenciesOf("gateway"), Names{"config-server"});
  EXPECT_TRUE(plan.dependenciesOf("nope").empty());
}

TEST(ReleasePlan, IndependentReleasesShareAWave) {
  const ReleasePlan plan = mustPlan(springcloud());
  ASSERT_EQ(plan.waves().size(), 2u);
  EXPECT_EQ(plan.waves()[0], (Names{"config-server", "registry"}));
  EXPECT_EQ(plan.waves()[1], (Names{"gateway", "order-service"}));
}

TEST(ReleasePlan, WaveIsOneMoreThanTheDeepestDependency) {
  // d needs a (wave 0) and c (wave 2): d goes in wave 3.
  const ReleasePlan plan =
      mustPlan({release("d", {"a", "c"}), release("c", {"b"}), release("b", {"a"}), release("a")});
  EXPECT_EQ(plan.waves(), (std::vector<Names>{{"a"}, {"b"}, {"c"}, {"d"}}));
  EXPECT_TRUE(mustPlan({}).waves().empty());
}

TEST(ReleasePlan, ReadyStartsWithReleasesWithoutDependencies) {
  const ReleasePlan plan = mustPlan(springcloud());
  EXPECT_EQ(plan.ready({}, {}, {}), (Names{"config-server", "registry"}));
  // In flight: not offered again; its dependents still wait.
  EXPECT_EQ(plan.ready({}, {"config-server"}, {}), (Names{"registry"}));
  // Deployed: both dependents become ready together, in parallel.
  EXPECT_EQ(plan.ready({"config-server"}, {"registry"}, {}), (Names{"gateway", "order-service"}));
  EXPECT_EQ(plan.ready({"config-server", "registry", "gateway"}, {"order-service"}, {}), Names{});
  EXPECT_EQ(plan.ready({"config-server", "registry", "gateway", "order-service"}, {}, {}), Names{});
}

TEST(ReleasePlan, FailedReleaseIsNotOfferedAndBlocksItsDependents) {
  const ReleasePlan plan = mustPlan(springcloud());
  EXPECT_EQ(plan.ready({"registry"}, {}, {"config-server"}), Names{});
  EXPECT_EQ(plan.blockedBy("gateway", {"registry"}, {"config-server"}),
            (std::vector<Blocker>{{.dependency = "config-server", .failed = "config-server"}}));
  EXPECT_EQ(plan.blockedMessage("gateway", {"registry"}, {"config-server"}),
            "blocked: config-server failed");
  // Once the caller clears the failure (backoff over), it is offered again.
  EXPECT_EQ(plan.ready({"registry"}, {}, {}), Names{"config-server"});
}

TEST(ReleasePlan, BlockedByListsUnmetDependenciesInSpecOrder) {
  const ReleasePlan plan = mustPlan(
      {release("app", {"db", "cache", "mq"}), release("db"), release("cache"), release("mq")});
  EXPECT_EQ(plan.blockedBy("app", {"cache"}, {}),
            (std::vector<Blocker>{{.dependency = "db"}, {.dependency = "mq"}}));
  EXPECT_EQ(plan.blockedMessage("app", {"cache"}, {}), "waiting for db, mq");
  EXPECT_TRUE(plan.blockedBy("app", {"db", "cache", "mq"}, {}).empty());
  EXPECT_EQ(plan.blockedMessage("app", {"db", "cache", "mq"}, {}), "");
  EXPECT_TRUE(plan.blockedBy("db", {}, {}).empty());
}

TEST(ReleasePlan, TransitiveFailureIsNamed) {
  const ReleasePlan plan = mustPlan(
      {release("web", {"api", "cdn"}), release("api", {"db"}), release("db"), release("cdn")});
  EXPECT_EQ(plan.blockedBy("web", {}, {"db"}),
            (std::vector<Blocker>{{.dependency = "api", .failed = "db"}, {.dependency = "cdn"}}));
  // The failure leads; a plain wait is left out of the message.
  EXPECT_EQ(plan.blockedMessage("web", {}, {"db"}), "blocked: api waits on failed db");
  // A dependency that is deployed and Ready does not pass a failure behind it on.
  EXPECT_TRUE(plan.blockedBy("web", {"api", "cdn"}, {"db"}).empty());
}

TEST(ReleasePlan, TwoCycleIsNamed) {
  EXPECT_EQ(planError({release("a", {"b"}), release("b", {"a"})}), "dependsOn cycle: a -> b -> a");
}

TEST(ReleasePlan, ThreeCycleIsNamedInOrder) {
  EXPECT_EQ(planError({release("x"), release("a", {"b"}), release("b", {"c"}), release("c", {"a"}),
                       release("y", {"a"})}),
            "dependsOn cycle: a -> b -> c -> a");
  // Entered from a release outside it, the cycle is still reported from its first member.
  EXPECT_EQ(planError({release("entry", {"c"}), release("a", {"b"}), release("b", {"c"}),
                       release("c", {"a"})}),
            "dependsOn cycle: a -> b -> c -> a");
}

TEST(ReleasePlan, SelfLoopIsNamed) {
  EXPECT_EQ(planError({release("ok"), release("self", {"self"})}), "dependsOn cycle: self -> self");
}

TEST(ReleasePlan, UnknownDependenciesAreNamed) {
  const std::string error = planError({release("gateway", {"config-server", "ghost"}),
                                       release("config-server"), release("api", {"phantom"})});
  EXPECT_EQ(error, "dependsOn names unknown releases: gateway -> ghost, api -> phantom");
}

TEST(ReleasePlan, DuplicateNamesAreAnError) {
  EXPECT_EQ(planError({release("a"), release("a")}), "duplicate release name \"a\"");
}

TEST(ReleasePlan, RepeatedDependencyCountsOnce) {
  const ReleasePlan plan = mustPlan({release("a", {"b", "b"}), release("b")});
  EXPECT_EQ(plan.dependenciesOf("a"), Names{"b"});
  EXPECT_EQ(plan.blockedBy("a", {}, {}).size(), 1u);
}

}  // namespace
}  // namespace envop::environment
