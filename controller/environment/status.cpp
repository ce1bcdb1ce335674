#include "controller/environment/status.h"

#include <algorithm>
#include <array>

namespace envop::environment {
namespace {

using State = PartOutcome::State;

constexpr std::array<std::string_view, 5> kKnownParts = {
    kPartNamespace, kPartExternalServices, kPartReleases, kPartRegistry, kPartMonitoring};

std::string defaultReason(State state) {
  switch (state) {
    case State::kReady:
      return std::string(kReasonReconciled);
    case State::kProgressing:
      return std::string(kReasonProgressing);
    case State::kFailed:
      return std::string(kReasonFailed);
    case State::kStalled:
      return std::string(kReasonStalled);
    case State::kNotConfigured:
      break;
  }
  return {};
}

std::string reasonOf(const PartOutcome& outcome) {
  return outcome.reason.empty() ? defaultReason(outcome.state) : outcome.reason;
}

// The summary conditions say which part they speak for, since they speak for one of several.
std::string summaryMessage(const PartOutcome& outcome) {
  if (!outcome.message.empty()) return outcome.part + ": " + outcome.message;
  switch (outcome.state) {
    case State::kProgressing:
      return outcome.part + " is progressing";
    case State::kFailed:
      return outcome.part + " failed";
    case State::kStalled:
      return outcome.part + " is stalled";
    default:
      return outcome.part;
  }
}

// Configured parts, known ones in kKnownParts order and then any others in input order, so
// that the order the caller lists them in changes neither the summary nor the JSON. A part
// listed twice counts once, as listed last.
std::vector<PartOutcome> configuredParts(const std::vector<PartOutcome>& parts) {
  std::vector<PartOutcome> known(kKnownParts.size());
  std::vector<PartOutcome> others;
  for (const PartOutcome& p : parts) {
    const auto it = std::find(kKnownParts.begin(), kKnownParts.end(), p.part);
    if (it != kKnownParts.end()) {
      known[static_cast<std::size_t>(it - kKnownParts.begin())] = p;
      continue;
    }
    std::erase_if(others, [&](const PartOutcome& o) { return o.part == p.part; });
    others.push_back(p);
  }
  std::vector<PartOutcome> configured;
  for (auto& p : known) {
    if (p.state != State::kNotConfigured) configured.push_back(std::move(p));
  }
  for (auto& p : others) {
    if (p.state != State::kNotConfigured) configured.push_back(std::move(p));
  }
  return configured;
}

const PartOutcome* firstIn(const std::vector<PartOutcome>& parts, State state) {
  const auto it = std::find_if(parts.begin(), parts.end(),
                               [&](const PartOutcome& p) { return p.state == state; });
  return it == parts.end() ? nullptr : &*it;
}

Condition makeCondition(std::string_view type, std::string_view status, std::string reason,
                        std::string message, std::int64_t generation) {
  return Condition{.type = std::string(type),
                   .status = std::string(status),
                   .reason = std::move(reason),
                   .message = std::move(message),
                   .observedGeneration = generation};
}

// Ours first in a fixed order (summary, kstatus, parts) so the list reads the same on every
// write; conditions someone else set keep their relative order after ours.
std::vector<Condition> canonicalOrder(std::vector<Condition> conditions,
                                      const std::vector<PartOutcome>& configured,
                                      const std::vector<PartOutcome>& all) {
  std::vector<std::string> order = {std::string(kConditionReady),
                                    std::string(kConditionReconciling),
                                    std::string(kConditionStalled)};
  for (std::string_view part : kKnownParts) order.push_back(partConditionType(part));
  for (const PartOutcome& p : configured) order.push_back(partConditionType(p.part));
  for (const PartOutcome& p : all) order.push_back(partConditionType(p.part));
  std::vector<Condition> ordered;
  for (const std::string& type : order) {
    const auto it = std::find_if(conditions.begin(), conditions.end(),
                                 [&](const Condition& c) { return c.type == type; });
    if (it == conditions.end()) continue;
    ordered.push_back(std::move(*it));
    conditions.erase(it);
  }
  for (Condition& c : conditions) ordered.push_back(std::move(c));
  return ordered;
}

bool isWarning(const Condition& c) {
  if (c.type == kConditionStalled) return c.status == kConditionTrue;
  if (c.type == kConditionReconciling) return false;
  return c.type.ends_with("Ready") && c.status == kConditionFalse;
}

std::vector<ConditionTransition> transitionsBetween(const std::vector<Condition>& before,
                                                    const std::vector<Condition>& after) {
  std::vector<ConditionTransition> transitions;
  for (const Condition& now : after) {
    const Condition* was = findCondition(before, now.type);
    if (was != nullptr && was->status == now.status && was->reason == now.reason) continue;
    transitions.push_back({.type = now.type,
                           .oldStatus = was ? was->status : std::string(),
                           .newStatus = now.status,
                           .oldReason = was ? was->reason : std::string(),
                           .reason = now.reason,
                           .message = now.message,
                           .warning = isWarning(now)});
  }
  for (const Condition& was : before) {
    if (findCondition(after, was.type) != nullptr) continue;
    transitions.push_back(
        {.type = was.type, .oldStatus = was.status, .oldReason = was.reason, .warning = false});
  }
  return transitions;
}

}  // namespace

std::string partConditionType(std::string_view part) { return std::string(part) + "Ready"; }

std::vector<ConditionEvent> eventsFor(const std::vector<ConditionTransition>& transitions) {
  auto describe = [](const ConditionTransition& t) {
    std::string note = t.type + " is " + t.newStatus;
    if (!t.message.empty()) note += ": " + t.message;
    return note;
  };
  auto reasonOf = [](const ConditionTransition& t) { return t.reason.empty() ? t.type : t.reason; };
  std::vector<ConditionEvent> events;
  std::vector<const ConditionTransition*> normal;
  for (const ConditionTransition& t : transitions) {
    if (t.newStatus.empty()) continue;
    if (t.warning) {
      events.push_back({.warning = true, .reason = reasonOf(t), .note = describe(t)});
    } else if (t.type == kConditionReady) {
      normal.insert(normal.begin(), &t);
    } else {
      normal.push_back(&t);
    }
  }
  if (!normal.empty()) {
    ConditionEvent folded{.reason = reasonOf(*normal.front())};
    for (const ConditionTransition* t : normal) {
      folded.note += (folded.note.empty() ? "" : "; ") + describe(*t);
    }
    events.push_back(std::move(folded));
  }
  return events;
}

StatusResult computeStatus(const StatusInput& input) {
  nlohmann::json status = input.previous.is_object() ? input.previous : nlohmann::json::object();
  const std::vector<Condition> before = status.contains("conditions")
                                            ? conditionsFromJson(status["conditions"])
                                            : std::vector<Condition>{};
  std::vector<Condition> conditions = before;
  const std::int64_t generation = input.generation;

  // A part not configured (or not listed) reports nothing, rather than a stale or invented state.
  for (std::string_view part : kKnownParts) removeCondition(conditions, partConditionType(part));
  for (const PartOutcome& p : input.parts) removeCondition(conditions, partConditionType(p.part));
  // Re-adding from `before` keeps lastTransitionTime for parts whose status did not flip.
  const std::vector<PartOutcome> configured = configuredParts(input.parts);
  for (const PartOutcome& p : configured) {
    const std::string type = partConditionType(p.part);
    if (const Condition* old = findCondition(before, type)) conditions.push_back(*old);
    const std::string_view s = p.state == State::kReady ? kConditionTrue : kConditionFalse;
    setCondition(conditions, makeCondition(type, s, reasonOf(p), p.message, generation), input.now);
  }

  const PartOutcome* stalled = firstIn(configured, State::kStalled);
  const PartOutcome* failed = firstIn(configured, State::kFailed);
  const PartOutcome* progressing = firstIn(configured, State::kProgressing);
  const PartOutcome* failing = stalled ? stalled : failed ? failed : progressing;

  Condition ready;
  std::string_view phase;
  if (input.deleting) {
    ready = makeCondition(kConditionReady, kConditionFalse, std::string(kReasonTerminating),
                          "the Environment is being deleted", generation);
    phase = kPhaseTerminating;
  } else if (input.suspended) {
    ready = makeCondition(kConditionReady, kConditionFalse, std::string(kReasonSuspended),
                          std::string(kSuspendedMessage), generation);
    phase = kPhaseSuspended;
  } else if (configured.empty()) {
    ready = makeCondition(kConditionReady, kConditionUnknown, std::string(kReasonPending),
                          "no part has been observed yet", generation);
    phase = kPhasePending;
  } else if (failing == nullptr) {
    ready = makeCondition(kConditionReady, kConditionTrue, std::string(kReasonReconciled), "",
                          generation);
    phase = kPhaseReady;
  } else {
    ready = makeCondition(kConditionReady, kConditionFalse, reasonOf(*failing),
                          summaryMessage(*failing), generation);
    phase = (stalled || failed) ? kPhaseDegraded : kPhaseProgressing;
  }
  setCondition(conditions, std::move(ready), input.now);

  // kstatus: abnormal-true conditions exist only while true. A suspended Environment is not
  // being worked on, so it is not Reconciling whatever its parts look like.
  if (progressing != nullptr && !input.suspended) {
    setCondition(
        conditions,
        makeCondition(kConditionReconciling, kConditionTrue, std::string(kReasonProgressing),
                      summaryMessage(*progressing), generation),
        input.now);
  } else {
    removeCondition(conditions, kConditionReconciling);
  }
  if (stalled != nullptr) {
    setCondition(conditions,
                 makeCondition(kConditionStalled, kConditionTrue, reasonOf(*stalled),
                               summaryMessage(*stalled), generation),
                 input.now);
  } else {
    removeCondition(conditions, kConditionStalled);
  }

  conditions = canonicalOrder(std::move(conditions), configured, input.parts);

  status["observedGeneration"] = generation;
  status["phase"] = std::string(phase);
  status["conditions"] = conditionsToJson(conditions);
  if (!input.namespaceName.empty()) status["namespace"] = input.namespaceName;
  if (input.partFields.is_object()) {
    for (const auto& [key, value] : input.partFields.items()) {
      if (value.is_null()) {
        status.erase(key);
      } else {
        status[key] = value;
      }
    }
  }

  StatusResult result;
  result.changed = status != input.previous;
  result.status = std::move(status);
  result.transitions = transitionsBetween(before, conditions);
  return result;
}

nlohmann::json statusReplacement(const nlohmann::json& object, const nlohmann::json& status) {
  const nlohmann::json metadata = object.value("metadata", nlohmann::json::object());
  nlohmann::json guard = {{"name", metadata.value("name", "")},
                          {"resourceVersion", metadata.value("resourceVersion", "")}};
  if (metadata.contains("uid")) guard["uid"] = metadata["uid"];
  // Items of a list may come without their type; an Environment's is known.
  return {{"apiVersion", object.value("apiVersion", "envop.io/v1alpha1")},
          {"kind", object.value("kind", "Environment")},
          {"metadata", guard},
          {"status", status}};
}

}  // namespace envop::environment
