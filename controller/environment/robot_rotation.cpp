#include "controller/environment/robot_rotation.h"

#include "controller/environment/conditions.h"
#include "controller/environment/helm_storage.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;
using Kind = RotationStep::Kind;

const char* phaseName(RotationPhase p) {
  switch (p) {
    case RotationPhase::kCreating:
      return "Creating";
    case RotationPhase::kOverlap:
      return "Overlap";
    case RotationPhase::kIdle:
      break;
  }
  return "Idle";
}

std::int64_t unixSeconds(util::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

const ObservedRobot* byName(const std::vector<ObservedRobot>& robots, const std::string& name) {
  if (name.empty()) return nullptr;
  for (const ObservedRobot& r : robots) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const ObservedRobot* byId(const std::vector<ObservedRobot>& robots, std::int64_t id) {
  for (const ObservedRobot& r : robots) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

bool usable(const ObservedRobot* r, util::WallTime now) {
  return r != nullptr && !r->disabled && (r->expiresAt < 0 || r->expiresAt > unixSeconds(now));
}

RotationStep revoke(const ObservedRobot& r, std::string why) {
  return {.kind = Kind::kRevokeRobot, .robot = r.name, .robotId = r.id, .why = std::move(why)};
}

// The record written with a new credential: Overlap while an old robot is left to revoke.
RotationRecord afterWriting(const std::string& robot, const ObservedRobot* replaced,
                            const RotationObservation& o) {
  RotationRecord after{.robot = robot, .rotatedAt = o.now};
  if (replaced != nullptr) {
    after.phase = RotationPhase::kOverlap;
    after.oldRobot = replaced->name;
    after.oldRobotId = replaced->id;
    const auto overlap = o.rotation ? o.rotation->overlap : std::chrono::seconds(0);
    // Whole seconds, rounded up: the record keeps seconds, and the overlap is never cut short.
    after.revokeAfter = std::chrono::ceil<std::chrono::seconds>(o.now + overlap);
  }
  return after;
}

// Makes a credential for `name` (creating the robot, or refreshing the one that is there but
// whose secret envop does not hold), replacing `replaced` if it is set.
RotationStep makeCredential(const std::string& name, const ObservedRobot* existing,
                            const ObservedRobot* replaced, const RotationObservation& o,
                            std::string why) {
  RotationStep step;
  step.kind = existing ? Kind::kRefreshRobot : Kind::kCreateRobot;
  step.robot = name;
  step.robotId = existing ? existing->id : 0;
  step.before = RotationRecord{.phase = RotationPhase::kCreating,
                               .newRobot = name,
                               .oldRobot = replaced ? replaced->name : "",
                               .oldRobotId = replaced ? replaced->id : 0,
                               .rotatedAt = o.record ? o.record->rotatedAt : std::nullopt};
  step.after = afterWriting(name, replaced, o);
  step.rotation = replaced != nullptr;
  step.why = std::move(why);
  return step;
}

}  // namespace

RobotSlots robotSlots(const std::string& project, const std::string& environment) {
  const std::string prefix = "robot$" + project + "+";
  return {prefix + environment, prefix + environment + "_b"};
}

std::string robotShortName(const std::string& fullName) {
  const std::size_t plus = fullName.find('+');
  return plus == std::string::npos ? fullName : fullName.substr(plus + 1);
}

std::string serializeRotationRecord(const RotationRecord& r) {
  Json j = {{"phase", phaseName(r.phase)}};
  if (!r.robot.empty()) j["robot"] = r.robot;
  if (!r.newRobot.empty()) j["newRobot"] = r.newRobot;
  if (!r.oldRobot.empty()) {
    j["oldRobot"] = r.oldRobot;
    j["oldRobotID"] = r.oldRobotId;
  }
  if (r.revokeAfter) j["revokeAfter"] = formatTime(*r.revokeAfter);
  if (r.rotatedAt) j["rotatedAt"] = formatTime(*r.rotatedAt);
  return j.dump();
}

std::optional<RotationRecord> parseRotationRecord(const std::string& text) {
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  RotationRecord r;
  const std::string phase = j.value("phase", "");
  if (phase == "Idle") {
    r.phase = RotationPhase::kIdle;
  } else if (phase == "Creating") {
    r.phase = RotationPhase::kCreating;
  } else if (phase == "Overlap") {
    r.phase = RotationPhase::kOverlap;
  } else {
    return std::nullopt;
  }
  auto str = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  r.robot = str("robot");
  r.newRobot = str("newRobot");
  r.oldRobot = str("oldRobot");
  if (j.contains("oldRobotID") && j["oldRobotID"].is_number_integer()) {
    r.oldRobotId = j["oldRobotID"].get<std::int64_t>();
  }
  if (auto t = parseRfc3339(str("revokeAfter"))) r.revokeAfter = *t;
  if (auto t = parseRfc3339(str("rotatedAt"))) r.rotatedAt = *t;
  if (r.phase == RotationPhase::kCreating && r.newRobot.empty()) return std::nullopt;
  if (r.phase == RotationPhase::kOverlap && (r.oldRobot.empty() || !r.revokeAfter)) {
    return std::nullopt;
  }
  return r;
}

std::int64_t robotDurationDays(const std::optional<RotationSpec>& rotation) {
  if (!rotation) return -1;
  constexpr std::int64_t kDay = 24 * 3600;
  const std::int64_t seconds = (rotation->every + rotation->overlap).count();
  // One day more than the rotation needs: a controller that was down for a while still rotates
  // before Harbor expires the robot.
  return (seconds + kDay - 1) / kDay + 1;
}

RotationStep nextRotationStep(const RotationObservation& o) {
  const std::optional<RotationRecord>& record = o.record;
  const ObservedRobot* held =
      o.slots.contains(o.secretRobot) ? byName(o.robots, o.secretRobot) : nullptr;
  const ObservedRobot* current = usable(held, o.now) ? held : nullptr;

  // A credential was being made when the last controller stopped: finish that one, so no second
  // robot appears.
  if (record && record->phase == RotationPhase::kCreating && o.slots.contains(record->newRobot) &&
      record->newRobot != o.secretRobot) {
    const ObservedRobot* fresh = byName(o.robots, record->newRobot);
    if (fresh != nullptr && !usable(fresh, o.now)) {
      return revoke(*fresh, "robot " + fresh->name + " is disabled or expired");
    }
    // What is replaced is what the Secret holds now and Harbor still accepts: that one keeps
    // working through the overlap.
    return makeCredential(
        record->newRobot, fresh, current, o,
        fresh ? "finishing the rotation to " + fresh->name + ": its secret was never stored"
              : "finishing the rotation to " + record->newRobot);
  }

  if (current == nullptr) {
    // The Secret holds nothing Harbor accepts (first time, or it was lost): reuse a slot robot
    // that is there, else create one. Unusable ones go first, so the slot is free.
    for (const std::string* name : {&o.slots.a, &o.slots.b}) {
      const ObservedRobot* r = byName(o.robots, *name);
      if (r != nullptr && !usable(r, o.now)) {
        return revoke(*r, "robot " + r->name + " is disabled or expired");
      }
    }
    for (const std::string* name : {&o.slots.a, &o.slots.b}) {
      if (const ObservedRobot* r = byName(o.robots, *name)) {
        return makeCredential(*name, r, nullptr, o,
                              "the pull Secret does not hold robot " + r->name + "'s secret");
      }
    }
    return makeCredential(o.slots.a, nullptr, nullptr, o, "no robot yet");
  }

  // The old robot of a rotation, revoked once the overlap has run out.
  if (record && record->phase == RotationPhase::kOverlap && record->robot == current->name) {
    const ObservedRobot* old = byId(o.robots, record->oldRobotId);
    if (old == nullptr) old = byName(o.robots, record->oldRobot);
    if (old != nullptr && old != current && o.slots.contains(old->name)) {
      if (o.now >= *record->revokeAfter) {
        return revoke(*old, "the overlap after rotating to " + current->name + " has run out");
      }
      return {.kind = Kind::kWait, .until = *record->revokeAfter, .why = "overlap"};
    }
    RotationRecord idle{.robot = current->name, .rotatedAt = record->rotatedAt};
    return {.kind = Kind::kRecord, .after = idle, .why = "rotation finished"};
  }

  // The new credential is in the Secret but the record still says Creating (someone edited the
  // annotation): the overlap starts now rather than the old robot being revoked at once.
  if (record && record->phase == RotationPhase::kCreating && record->newRobot == current->name) {
    const ObservedRobot* old = byName(o.robots, o.slots.other(current->name));
    RotationRecord after = afterWriting(current->name, old, o);
    after.rotatedAt = record->rotatedAt ? record->rotatedAt : o.now;
    return {.kind = Kind::kRecord, .after = after, .why = "rotation to " + current->name};
  }

  // Anything else with a slot name is a leak (a robot made before a crash, the other slot of a
  // rotation that finished).
  const ObservedRobot* other = byName(o.robots, o.slots.other(current->name));
  if (other != nullptr) return revoke(*other, "robot " + other->name + " is not in use");

  if (!record || record->phase != RotationPhase::kIdle || record->robot != current->name ||
      !record->rotatedAt) {
    // No record of when the credential was written (the annotation was removed or is foreign):
    // count from now; the robot's own expiry below still comes first if it is sooner.
    RotationRecord idle{.robot = current->name,
                        .rotatedAt = record && record->rotatedAt ? record->rotatedAt : o.now};
    if (record && record->robot != current->name) idle.rotatedAt = o.now;
    return {.kind = Kind::kRecord, .after = idle, .why = "recording the credential in use"};
  }
  if (!o.rotation && current->expiresAt < 0) return {.kind = Kind::kNothing};

  // Due at rotatedAt + every, and in any case an overlap before Harbor would expire the robot.
  std::optional<util::WallTime> due;
  if (o.rotation) due = *record->rotatedAt + o.rotation->every;
  if (current->expiresAt >= 0) {
    const auto overlap = o.rotation ? o.rotation->overlap : std::chrono::seconds(0);
    const util::WallTime expiry =
        util::WallTime(std::chrono::seconds(current->expiresAt)) - overlap;
    if (!due || expiry < *due) due = expiry;
  }
  if (o.now >= *due) {
    return makeCredential(o.slots.other(current->name), nullptr, current, o,
                          "rotation of " + current->name + " is due");
  }
  return {.kind = Kind::kWait, .until = *due, .why = "next rotation"};
}

}  // namespace envop::environment
