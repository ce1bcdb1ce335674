#include "controller/environment/conditions.h"

#include <gtest/gtest.h>

namespace envop::environment {
namespace {

using std::chrono::seconds;

// 2024-01-02T03:04:05Z
const util::WallTime kT0 = util::WallTime{} + seconds(1704164645);
const util::WallTime kT1 = kT0 + std::chrono::minutes(5);

Condition cond(std::string status, std::string reason = "Reconciled", std::string message = "",
               std::int64_t generation = 1) {
  return Condition{.type = "Ready",
                   .status = std::move(status),
                   .reason = std::move(reason),
                   .message = std::move(message),
                   .observedGeneration = generation};
}

TEST(ConditionTime, FormatsWholeSecondsInUtc) {
  EXPECT_EQ(formatTime(kT0), "2024-01-02T03:04:05Z");
  EXPECT_EQ(formatTime(kT0 + std::chrono::milliseconds(999)), "2024-01-02T03:04:05Z");
  EXPECT_EQ(formatTime(util::WallTime{}), "1970-01-01T00:00:00Z");
}

TEST(ConditionSet, NewConditionGetsNow) {
  std::vector<Condition> conditions;
  EXPECT_TRUE(setCondition(conditions, cond("True"), kT0));
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0].lastTransitionTime, "2024-01-02T03:04:05Z");
}

TEST(ConditionSet, NewConditionKeepsAGivenTime) {
  std::vector<Condition> conditions;
  Condition c = cond("True");
  c.lastTransitionTime = "2020-01-01T00:00:00Z";
  setCondition(conditions, c, kT0);
  EXPECT_EQ(conditions[0].lastTransitionTime, "2020-01-01T00:00:00Z");
}

TEST(ConditionSet, SameConditionIsNoChange) {
  std::vector<Condition> conditions;
  setCondition(conditions, cond("True"), kT0);
  const auto before = conditions;
  EXPECT_FALSE(setCondition(conditions, cond("True"), kT1));
  EXPECT_EQ(conditions, before);
}

TEST(ConditionSet, MessageReasonGenerationChangeKeepsTransitionTime) {
  std::vector<Condition> conditions;
  setCondition(conditions, cond("False", "Progressing", "waiting"), kT0);
  EXPECT_TRUE(setCondition(conditions, cond("False", "Progressing", "still waiting"), kT1));
  EXPECT_EQ(conditions[0].message, "still waiting");
  EXPECT_EQ(conditions[0].lastTransitionTime, formatTime(kT0));
  EXPECT_TRUE(setCondition(conditions, cond("False", "Failed", "still waiting", 2), kT1));
  EXPECT_EQ(conditions[0].reason, "Failed");
  EXPECT_EQ(conditions[0].observedGeneration, 2);
  EXPECT_EQ(conditions[0].lastTransitionTime, formatTime(kT0));
}

TEST(ConditionSet, SameStatusIgnoresAGivenTime) {
  std::vector<Condition> conditions;
  setCondition(conditions, cond("True"), kT0);
  Condition c = cond("True", "Reconciled", "new message");
  c.lastTransitionTime = formatTime(kT1);
  setCondition(conditions, c, kT1);
  EXPECT_EQ(conditions[0].lastTransitionTime, formatTime(kT0));
}

TEST(ConditionSet, StatusFlipMovesTransitionTime) {
  std::vector<Condition> conditions;
  setCondition(conditions, cond("False", "Progressing"), kT0);
  EXPECT_TRUE(setCondition(conditions, cond("True"), kT1));
  EXPECT_EQ(conditions[0].status, "True");
  EXPECT_EQ(conditions[0].lastTransitionTime, formatTime(kT1));
}

TEST(ConditionSet, OtherTypesAreUntouched) {
  std::vector<Condition> conditions;
  setCondition(conditions, cond("True"), kT0);
  Condition other = cond("True", "Stalled");
  other.type = "Stalled";
  setCondition(conditions, other, kT1);
  ASSERT_EQ(conditions.size(), 2u);
  EXPECT_EQ(conditions[0].lastTransitionTime, formatTime(kT0));
  EXPECT_EQ(conditions[1].type, "Stalled");
}

TEST(ConditionRemove, RemovesOnlyThatType) {
  std::vector<Condition> conditions;
  setCondition(conditions, cond("True"), kT0);
  EXPECT_FALSE(removeCondition(conditions, "Stalled"));
  EXPECT_EQ(conditions.size(), 1u);
  EXPECT_TRUE(removeCondition(conditions, "Ready"));
  EXPECT_TRUE(conditions.empty());
}

TEST(ConditionFind, FindsByType) {
  std::vector<Condition> conditions;
  setCondition(conditions, cond("True"), kT0);
  ASSERT_NE(findCondition(conditions, "Ready"), nullptr);
  EXPECT_EQ(findCondition(conditions, "Ready")->reason, "Reconciled");
  EXPECT_EQ(findCondition(conditions, "Stalled"), nullptr);
  EXPECT_TRUE(isConditionTrue(conditions, "Ready"));
  EXPECT_FALSE(isConditionTrue(conditions, "Stalled"));
}

TEST(ConditionJson, RoundTrips) {
  std::vector<Condition> conditions;
  setCondition(conditions, cond("True", "Reconciled", "ok", 3), kT0);
  const nlohmann::json json = conditionsToJson(conditions);
  EXPECT_EQ(json[0]["type"], "Ready");
  EXPECT_EQ(json[0]["status"], "True");
  EXPECT_EQ(json[0]["observedGeneration"], 3);
  EXPECT_EQ(json[0]["lastTransitionTime"], "2024-01-02T03:04:05Z");
  EXPECT_EQ(conditionsFromJson(json), conditions);
}

TEST(ConditionJson, ZeroGenerationIsOmittedLikeGo) {
  const nlohmann::json json = conditionToJson(cond("True", "Reconciled", "", 0));
  EXPECT_FALSE(json.contains("observedGeneration"));
}

TEST(ConditionJson, ParsingToleratesMissingAndMistypedFields) {
  const auto parsed = conditionsFromJson(nlohmann::json::parse(R"([
    {"type": "Ready"},
    {"type": "Stalled", "status": true, "observedGeneration": "7", "message": null},
    {"status": "True"},
    42
  ])"));
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0], Condition{.type = "Ready"});
  EXPECT_EQ(parsed[1], Condition{.type = "Stalled"});
  EXPECT_TRUE(conditionsFromJson(nlohmann::json()).empty());
  EXPECT_TRUE(conditionsFromJson(nlohmann::json::object()).empty());
  EXPECT_EQ(conditionFromJson("x"), Condition{});
}

}  // namespace
}  // namespace envop::environment
