// The robot rotation state machine, driven by an injected "now": each step it returns is carried
// out on an in-test model of Harbor and the pull Secret, with crashes injected between the writes
// of every step, and the credential the Secret holds is checked at every moment.
#include "controller/environment/robot_rotation.h"

#include <gtest/gtest.h>

#include <map>

namespace envop::environment {
namespace {

using namespace std::chrono_literals;
using Kind = RotationStep::Kind;

const util::WallTime kStart = util::WallTime(std::chrono::seconds(1'800'000'000));
const RobotSlots kSlots = robotSlots("springcloud", "pro");

// Harbor's robots and the pull Secret, as the registry part would change them.
struct World {
  struct Robot {
    std::int64_t id;
    int secretVersion = 1;
    std::int64_t expiresAt = -1;
  };
  std::map<std::string, Robot> robots;
  std::string secretRobot;
  int secretVersion = 0;
  std::optional<RotationRecord> record;
  util::WallTime now = kStart;
  std::optional<RotationSpec> rotation = RotationSpec{.every = 2min, .overlap = 30s};
  std::int64_t nextId = 1;
  int creates = 0;

  RotationObservation observe() const {
    RotationObservation o{.slots = kSlots,
                          .secretRobot = secretRobot,
                          .record = record,
                          .rotation = rotation,
                          .now = now};
    for (const auto& [name, r] : robots) {
      o.robots.push_back({.id = r.id, .name = name, .expiresAt = r.expiresAt});
    }
    // A foreign robot in the same project is never touched.
    o.robots.push_back({.id = 999, .name = "robot$springcloud+pre"});
    return o;
  }
  // Whether the pull Secret's credential is one Harbor accepts now.
  bool secretWorks() const {
    auto it = robots.find(secretRobot);
    if (it == robots.end() || it->second.secretVersion != secretVersion) return false;
    using std::chrono::seconds;
    const auto nowS = std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
    return it->second.expiresAt < 0 || it->second.expiresAt > nowS;
  }
  // Carries the step out; `crashAfter` writes (1: the record only, 2: also Harbor's change)
  // are done before the controller "dies". Returns false if it crashed.
  bool apply(const RotationStep& step, int crashAfter = 99) {
    int writes = 0;
    auto write = [&] { return ++writes <= crashAfter; };
    switch (step.kind) {
      case Kind::kNothing:
      case Kind::kWait:
        return true;
      case Kind::kRecord:
        if (!write()) return false;
        record = step.after;
        return true;
      case Kind::kCreateRobot: {
        if (!write()) return false;
        record = step.before;
        if (!write()) return false;
        EXPECT_EQ(robots.count(step.robot), 0u) << "Harbor answers 409 to a second " << step.robot;
        const std::int64_t days = robotDurationDays(rotation);
        robots[step.robot] = {
            .id = nextId++,
            .expiresAt =
                days < 0 ? -1
                         : std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch())
                                   .count() +
                               days * 86400};
        ++creates;
        if (!write()) return false;
        secretRobot = step.robot;
        secretVersion = robots[step.robot].secretVersion;
        record = step.after;
        return true;
      }
      case Kind::kRefreshRobot: {
        if (!write()) return false;
        record = step.before;
        if (!write()) return false;
        auto it = robots.find(step.robot);
        EXPECT_NE(it, robots.end());
        EXPECT_EQ(it->second.id, step.robotId);
        ++it->second.secretVersion;
        if (!write()) return false;
        secretRobot = step.robot;
        secretVersion = it->second.secretVersion;
        record = step.after;
        return true;
      }
      case Kind::kRevokeRobot: {
        if (!write()) return false;
        EXPECT_NE(step.robot, secretRobot) << "the robot in use is never revoked";
        EXPECT_NE(step.robotId, 999) << "another Environment's robot";
        for (auto it = robots.begin(); it != robots.end(); ++it) {
          if (it->second.id == step.robotId) {
            robots.erase(it);
            break;
          }
        }
        return true;
      }
    }
    return true;
  }
  // Steps until the machine waits or has nothing to do; at most `limit` steps.
  RotationStep settle(int limit = 10) {
    for (int i = 0; i < limit; ++i) {
      const RotationStep step = nextRotationStep(observe());
      if (step.kind == Kind::kWait || step.kind == Kind::kNothing) return step;
      apply(step);
    }
    ADD_FAILURE() << "no steady state after " << limit << " steps";
    return {};
  }
};

TEST(RobotRotationTest, SlotsCannotCollideWithAnotherEnvironment) {
  EXPECT_EQ(kSlots.a, "robot$springcloud+pro");
  EXPECT_EQ(kSlots.b, "robot$springcloud+pro_b");
  EXPECT_EQ(robotShortName(kSlots.b), "pro_b");
  EXPECT_FALSE(robotSlots("springcloud", "pro_b").contains("robot$springcloud+pro"));
}

TEST(RobotRotationTest, FirstPassCreatesTheFirstSlotAndWaitsForTheRotation) {
  World w;
  const RotationStep first = nextRotationStep(w.observe());
  ASSERT_EQ(first.kind, Kind::kCreateRobot);
  EXPECT_EQ(first.robot, kSlots.a);
  EXPECT_EQ(first.before.phase, RotationPhase::kCreating) << "intent recorded before Harbor";
  EXPECT_EQ(first.before.newRobot, kSlots.a);
  EXPECT_FALSE(first.rotation);
  w.apply(first);
  EXPECT_TRUE(w.secretWorks());
  const RotationStep wait = w.settle();
  ASSERT_EQ(wait.kind, Kind::kWait);
  EXPECT_EQ(wait.until, kStart + 2min);
  EXPECT_EQ(w.robots.size(), 1u);
}

TEST(RobotRotationTest, WithoutRotationNothingComesDue) {
  World w;
  w.rotation.reset();
  w.settle();
  EXPECT_EQ(w.robots.at(kSlots.a).expiresAt, -1);
  EXPECT_EQ(nextRotationStep(w.observe()).kind, Kind::kNothing);
}

TEST(RobotRotationTest, RotatesToTheOtherSlotAndRevokesTheOldOneOnlyAfterTheOverlap) {
  World w;
  w.settle();
  w.now = kStart + 2min;
  const RotationStep rotate = nextRotationStep(w.observe());
  ASSERT_EQ(rotate.kind, Kind::kCreateRobot);
  EXPECT_EQ(rotate.robot, kSlots.b);
  EXPECT_TRUE(rotate.rotation);
  EXPECT_EQ(rotate.before.oldRobot, kSlots.a);
  EXPECT_EQ(rotate.after.phase, RotationPhase::kOverlap);
  EXPECT_EQ(rotate.after.revokeAfter, w.now + 30s);
  w.apply(rotate);
  EXPECT_TRUE(w.secretWorks());
  const RotationStep wait = nextRotationStep(w.observe());
  ASSERT_EQ(wait.kind, Kind::kWait);
  EXPECT_EQ(wait.until, kStart + 2min + 30s);
  EXPECT_EQ(w.robots.count(kSlots.a), 1u) << "the old robot works through the overlap";

  w.now = kStart + 2min + 29s;
  EXPECT_EQ(nextRotationStep(w.observe()).kind, Kind::kWait);
  w.now = kStart + 2min + 30s;
  const RotationStep revoke = nextRotationStep(w.observe());
  ASSERT_EQ(revoke.kind, Kind::kRevokeRobot);
  EXPECT_EQ(revoke.robot, kSlots.a);
  w.apply(revoke);
  const RotationStep next = w.settle();
  ASSERT_EQ(next.kind, Kind::kWait);
  EXPECT_EQ(next.until, kStart + 4min);
  EXPECT_EQ(w.robots.size(), 1u);
  EXPECT_EQ(w.record->phase, RotationPhase::kIdle);
}

TEST(RobotRotationTest, CrashBetweenCreateAndSecretWriteRefreshesInsteadOfCreatingAgain) {
  World w;
  w.settle();
  w.now = kStart + 2min;
  ASSERT_FALSE(w.apply(nextRotationStep(w.observe()), 2)) << "robot b made, Secret not written";
  ASSERT_EQ(w.robots.size(), 2u);
  EXPECT_TRUE(w.secretWorks()) << "the Secret still holds a";
  w.now += 5s;  // the restarted controller
  const RotationStep finish = nextRotationStep(w.observe());
  ASSERT_EQ(finish.kind, Kind::kRefreshRobot);
  EXPECT_EQ(finish.robot, kSlots.b);
  EXPECT_EQ(finish.robotId, w.robots.at(kSlots.b).id);
  EXPECT_TRUE(finish.rotation);
  EXPECT_EQ(finish.after.oldRobot, kSlots.a);
  w.apply(finish);
  EXPECT_TRUE(w.secretWorks());
  EXPECT_EQ(w.secretRobot, kSlots.b);
  EXPECT_EQ(w.creates, 2) << "no duplicate robot";
}

TEST(RobotRotationTest, CrashBetweenSecretWriteAndRevokeRevokesAfterTheRestart) {
  World w;
  w.settle();
  w.now = kStart + 2min;
  w.apply(nextRotationStep(w.observe()));
  w.now = kStart + 2min + 30s;
  ASSERT_FALSE(w.apply(nextRotationStep(w.observe()), 0)) << "crashed before the delete";
  const RotationStep revoke = nextRotationStep(w.observe());
  ASSERT_EQ(revoke.kind, Kind::kRevokeRobot);
  EXPECT_EQ(revoke.robot, kSlots.a);
}

TEST(RobotRotationTest, ALeakedSlotRobotIsRevoked) {
  World w;
  w.settle();
  w.robots[kSlots.b] = {.id = 50};
  const RotationStep step = nextRotationStep(w.observe());
  ASSERT_EQ(step.kind, Kind::kRevokeRobot);
  EXPECT_EQ(step.robotId, 50);
}

TEST(RobotRotationTest, ALostSecretIsRefreshedOnTheRobotThatIsThere) {
  World w;
  w.settle();
  w.secretRobot.clear();  // the pull Secret was deleted
  w.record.reset();
  const RotationStep step = nextRotationStep(w.observe());
  ASSERT_EQ(step.kind, Kind::kRefreshRobot);
  EXPECT_EQ(step.robot, kSlots.a);
  w.apply(step);
  EXPECT_TRUE(w.secretWorks());
  EXPECT_EQ(w.creates, 1);
}

TEST(RobotRotationTest, ARobotDeletedInHarborIsMadeAgain) {
  World w;
  w.settle();
  w.robots.clear();
  const RotationStep step = nextRotationStep(w.observe());
  ASSERT_EQ(step.kind, Kind::kCreateRobot);
  w.apply(step);
  EXPECT_TRUE(w.secretWorks());
}

TEST(RobotRotationTest, AnExpiryBeforeTheRotationIsDueRotatesFirst) {
  World w;
  w.rotation = RotationSpec{.every = 720h, .overlap = 24h};
  w.settle();
  w.robots.at(kSlots.a).expiresAt =
      std::chrono::duration_cast<std::chrono::seconds>((kStart + 48h).time_since_epoch()).count();
  const RotationStep wait = nextRotationStep(w.observe());
  ASSERT_EQ(wait.kind, Kind::kWait);
  EXPECT_EQ(wait.until, kStart + 24h) << "an overlap before Harbor's expiry";
  w.now = kStart + 24h;
  EXPECT_EQ(nextRotationStep(w.observe()).kind, Kind::kCreateRobot);
}

TEST(RobotRotationTest, DurationCoversEveryPlusOverlap) {
  EXPECT_EQ(robotDurationDays(std::nullopt), -1);
  EXPECT_EQ(robotDurationDays(RotationSpec{.every = 2min, .overlap = 30s}), 2);
  EXPECT_EQ(robotDurationDays(RotationSpec{.every = 720h, .overlap = 24h}), 32);
  EXPECT_GE(robotDurationDays(RotationSpec{.every = 720h, .overlap = 25h}) * 24h, 745h);
}

TEST(RobotRotationTest, RecordsRoundTripAndForeignTextIsNoRecord) {
  const RotationRecord r{.phase = RotationPhase::kOverlap,
                         .robot = kSlots.b,
                         .oldRobot = kSlots.a,
                         .oldRobotId = 7,
                         .revokeAfter = kStart + 30s,
                         .rotatedAt = kStart};
  EXPECT_EQ(parseRotationRecord(serializeRotationRecord(r)), r);
  EXPECT_FALSE(parseRotationRecord("not json").has_value());
  EXPECT_FALSE(parseRotationRecord(R"({"phase":"Sideways"})").has_value());
  EXPECT_FALSE(parseRotationRecord(R"({"phase":"Overlap","robot":"x"})").has_value());
}

// Three rotations with the controller dying after every possible write of every step, each
// time restarted: the Secret always holds a credential Harbor accepts (once it held one), no
// robot is created twice, and after each overlap exactly one robot is left.
TEST(RobotRotationTest, ACrashAtAnyWriteOfThreeRotationsLeavesNoDuplicateAndNoLeak) {
  for (int crashAt = 0; crashAt < 40; ++crashAt) {
    World w;
    w.settle();
    int stepIndex = 0;
    int rotations = 0;
    int safety = 0;
    while (rotations < 3 && ++safety < 200) {
      const RotationStep step = nextRotationStep(w.observe());
      if (step.kind == Kind::kWait) {
        w.now = std::max(w.now + 1s, step.until);
        continue;
      }
      ASSERT_NE(step.kind, Kind::kNothing);
      if (step.rotation && step.kind == Kind::kCreateRobot) ++rotations;
      // Crash during one step per run, after 0, 1 or 2 of its writes.
      const bool crashed = !w.apply(step, stepIndex++ == crashAt / 3 ? crashAt % 3 : 99);
      ASSERT_TRUE(w.secretWorks()) << "crashAt " << crashAt << " step " << step.why;
      ASSERT_LE(w.robots.size(), 2u) << "crashAt " << crashAt;
      if (crashed) w.now += 1s;  // the restarted controller looks again
    }
    const RotationStep last = w.settle();
    w.now = std::max(w.now, last.until);
    while (true) {
      const RotationStep s = nextRotationStep(w.observe());
      if (s.kind == Kind::kWait && s.until > w.now + 1min) break;
      if (s.kind == Kind::kWait) {
        w.now = s.until;
        continue;
      }
      w.apply(s);
    }
    EXPECT_EQ(w.robots.size(), 1u) << "crashAt " << crashAt << ": a leaked robot";
    EXPECT_TRUE(w.secretWorks());
    EXPECT_LE(w.creates, 4) << "crashAt " << crashAt << ": a duplicate robot";
  }
}

}  // namespace
}  // namespace envop::environment
