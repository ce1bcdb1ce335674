// Robot rotation is the pure core of the registry part's credentials: from what was observed (this
// Environment's robot accounts in Harbor, the robot the pull Secret holds, the in-flight rotation
// recorded on that Secret, now) it returns the one next step. The part carries the step out and
// observes again; nothing here does I/O, so every crash point is a unit test.
//
// Why it is crash-safe: each Environment has two robot names (slots), "robot$<project>+<env>" and
// "robot$<project>+<env>_b", used in turn. A Kubernetes name cannot hold '_', so no other
// Environment's robot can ever be named like either slot, and every robot of this Environment is
// found by name alone. Before each Harbor write that makes a credential (create, refresh) the
// intent is recorded on the pull Secret (annotation envop.io/rotation, phase Creating); the new
// credential goes into the Secret together with the record of what is left to do (phase Overlap:
// revoke the old robot after revokeAfter) in one write. A restarted controller therefore finds
// either a robot whose secret it never stored (refreshed, so no second robot is made), or a record
// saying which robot to revoke and when; a slot robot that is neither held nor in flight is a
// leak and is deleted. Deletes need no record: they are decided again from what is observed.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controller/environment/registry_spec.h"
#include "controller/util/wall_time.h"

namespace envop::environment {

inline constexpr const char* kRotationAnnotation = "envop.io/rotation";

// The full names of an Environment's two robots in a project.
struct RobotSlots {
  std::string a;
  std::string b;
  bool contains(const std::string& name) const { return name == a || name == b; }
  const std::string& other(const std::string& name) const { return name == a ? b : a; }
};
RobotSlots robotSlots(const std::string& project, const std::string& environment);
// The name envop asks Harbor for ("pro", "pro_b"): Harbor prefixes "robot$<project>+".
std::string robotShortName(const std::string& fullName);

struct ObservedRobot {
  std::int64_t id = 0;
  std::string name;  // full: robot$springcloud+pro
  bool disabled = false;
  std::int64_t expiresAt = -1;  // unix seconds; -1: never
};

enum class RotationPhase { kIdle, kCreating, kOverlap };

// What the pull Secret's annotation says; absent fields are empty.
struct RotationRecord {
  RotationPhase phase = RotationPhase::kIdle;
  std::string robot;     // the robot whose credential the Secret holds (Idle, Overlap)
  std::string newRobot;  // Creating: the robot being created or refreshed
  std::string oldRobot;  // Creating, Overlap: the robot being replaced; "" when none
  std::int64_t oldRobotId = 0;
  std::optional<util::WallTime> revokeAfter;  // Overlap
  std::optional<util::WallTime> rotatedAt;    // when the Secret last got a new credential

  bool operator==(const RotationRecord&) const = default;
};

std::string serializeRotationRecord(const RotationRecord& record);
// nullopt for text that is not a record (a human's edit): then it is as if there were none.
std::optional<RotationRecord> parseRotationRecord(const std::string& text);

struct RotationObservation {
  RobotSlots slots;
  std::vector<ObservedRobot> robots;  // the project's robots; only the slots' are looked at
  std::string secretRobot;            // the username the pull Secret holds; "" when none
  std::optional<RotationRecord> record;
  std::optional<RotationSpec> rotation;
  util::WallTime now;
};

struct RotationStep {
  enum class Kind {
    kNothing,       // in order, and nothing will come due
    kWait,          // in order until `until`
    kRecord,        // write `after` to the annotation, nothing else
    kCreateRobot,   // write `before`, create `robot`, write its credential with `after`
    kRefreshRobot,  // write `before`, refresh `robotId`'s secret, write it with `after`
    kRevokeRobot,   // delete `robotId`; then observe again
  };
  Kind kind = Kind::kNothing;
  std::string robot;
  std::int64_t robotId = 0;
  util::WallTime until{};
  RotationRecord before;  // kCreateRobot, kRefreshRobot
  RotationRecord after;   // kRecord, kCreateRobot, kRefreshRobot (rotatedAt: now)
  bool rotation = false;  // the step replaces a working credential (events say RobotRotated)
  std::string why;        // for logs and events; never a secret
};

RotationStep nextRotationStep(const RotationObservation& observed);

// Harbor's robot duration in days: long enough that Harbor never expires a robot before envop has
// rotated it and let the overlap run out; -1 (never) without rotation.
std::int64_t robotDurationDays(const std::optional<RotationSpec>& rotation);

}  // namespace envop::environment
