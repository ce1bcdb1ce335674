#include "controller/environment/status.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace envop::environment {
namespace {

using State = PartOutcome::State;

const util::WallTime kT0 = util::WallTime{} + std::chrono::seconds(1704164645);
const util::WallTime kT1 = kT0 + std::chrono::minutes(5);
const util::WallTime kT2 = kT1 + std::chrono::minutes(5);

PartOutcome part(std::string_view name, State state, std::string reason = "",
                 std::string message = "") {
  return {.part = std::string(name),
          .state = state,
          .reason = std::move(reason),
          .message = std::move(message)};
}

StatusInput input(std::vector<PartOutcome> parts, nlohmann::json previous = nullptr,
                  util::WallTime now = kT0) {
  return {.generation = 3,
          .namespaceName = "pro",
          .parts = std::move(parts),
          .previous = std::move(previous),
          .now = now};
}

std::vector<Condition> conditionsOf(const StatusResult& r) {
  return conditionsFromJson(r.status["conditions"]);
}

Condition mustFind(const StatusResult& r, std::string_view type) {
  const std::vector<Condition> conditions = conditionsOf(r);
  const Condition* c = findCondition(conditions, type);
  if (c == nullptr) {
    ADD_FAILURE() << "no condition " << type << " in " << r.status.dump();
    return {};
  }
  return *c;
}

bool has(const StatusResult& r, std::string_view type) {
  return findCondition(conditionsOf(r), type) != nullptr;
}

// The status the API server holds after the reconciler's write of `r`: none when nothing
// changed; otherwise the write replaces the status subresource with the body's status.
nlohmann::json afterWrite(const nlohmann::json& onServer, const StatusResult& r) {
  if (!r.changed) return onServer;
  const nlohmann::json object = {{"apiVersion", "envop.io/v1alpha1"},
                                 {"kind", "Environment"},
                                 {"metadata", {{"name", "pro"}, {"resourceVersion", "7"}}},
                                 {"status", onServer}};
  const nlohmann::json body = statusReplacement(object, r.status);
  EXPECT_EQ(body["metadata"]["resourceVersion"], "7") << "an unguarded replace loses writes";
  EXPECT_EQ(body["metadata"]["name"], "pro");
  EXPECT_FALSE(body.contains("spec"));
  return body["status"];
}

std::vector<PartOutcome> allReady() {
  return {part(kPartNamespace, State::kReady), part(kPartReleases, State::kReady)};
}

TEST(StatusCompute, AllConfiguredPartsReadyIsReady) {
  const StatusResult r = computeStatus(input(allReady()));
  EXPECT_EQ(r.status["phase"], "Ready");
  EXPECT_EQ(r.status["observedGeneration"], 3);
  EXPECT_EQ(r.status["namespace"], "pro");
  const Condition ready = mustFind(r, "Ready");
  EXPECT_EQ(ready.status, "True");
  EXPECT_EQ(ready.reason, "Reconciled");
  EXPECT_EQ(ready.message, "");
  EXPECT_EQ(mustFind(r, "NamespaceReady").status, "True");
  EXPECT_EQ(mustFind(r, "ReleasesReady").status, "True");
  EXPECT_FALSE(has(r, "Reconciling"));
  EXPECT_FALSE(has(r, "Stalled"));
  for (const Condition& c : conditionsOf(r)) {
    EXPECT_EQ(c.observedGeneration, 3) << c.type;
    EXPECT_EQ(c.lastTransitionTime, "2024-01-02T03:04:05Z") << c.type;
  }
  EXPECT_TRUE(r.changed);
}

TEST(StatusCompute, ConditionsAreListedInAFixedOrder) {
  const StatusResult r = computeStatus(
      input({part(kPartReleases, State::kProgressing), part(kPartNamespace, State::kStalled)}));
  std::vector<std::string> types;
  for (const Condition& c : conditionsOf(r)) types.push_back(c.type);
  EXPECT_EQ(types, (std::vector<std::string>{"Ready", "Reconciling", "Stalled", "NamespaceReady",
                                             "ReleasesReady"}));
}

TEST(StatusCompute, UnconfiguredPartHasNoCondition) {
  const StatusResult r = computeStatus(
      input({part(kPartNamespace, State::kReady), part(kPartRegistry, State::kNotConfigured)}));
  EXPECT_FALSE(has(r, "RegistryReady"));
  EXPECT_FALSE(has(r, "MonitoringReady"));
  EXPECT_EQ(mustFind(r, "Ready").status, "True");
}

TEST(StatusCompute, ExistingConditionOfUnconfiguredPartIsRemoved) {
  const StatusResult first = computeStatus(
      input({part(kPartNamespace, State::kReady), part(kPartRegistry, State::kFailed)}));
  ASSERT_TRUE(has(first, "RegistryReady"));
  const StatusResult gone = computeStatus(
      input({part(kPartNamespace, State::kReady), part(kPartRegistry, State::kNotConfigured)},
            first.status, kT1));
  EXPECT_FALSE(has(gone, "RegistryReady"));
  const StatusResult unlisted =
      computeStatus(input({part(kPartNamespace, State::kReady)}, first.status, kT1));
  EXPECT_FALSE(has(unlisted, "RegistryReady"));
  EXPECT_EQ(unlisted.status["phase"], "Ready");
}

TEST(StatusCompute, ReadySummaryNamesTheFirstFailingPart) {
  const StatusResult r = computeStatus(
      input({part(kPartNamespace, State::kReady),
             part(kPartReleases, State::kProgressing, "Installing", "gateway installing"),
             part(kPartRegistry, State::kFailed, "HarborUnavailable", "503 from harbor")}));
  const Condition ready = mustFind(r, "Ready");
  EXPECT_EQ(ready.status, "False");
  EXPECT_EQ(ready.reason, "HarborUnavailable");
  EXPECT_EQ(ready.message, "Registry: 503 from harbor");
  EXPECT_EQ(r.status["phase"], "Degraded");
  const Condition registry = mustFind(r, "RegistryReady");
  EXPECT_EQ(registry.status, "False");
  EXPECT_EQ(registry.reason, "HarborUnavailable");
  EXPECT_EQ(registry.message, "503 from harbor");
}

TEST(StatusCompute, ReadySummaryUsesDefaultReasonsAndPartOrder) {
  // Listed out of order; Namespace still comes first among equally failing parts.
  const StatusResult r = computeStatus(
      input({part(kPartRegistry, State::kFailed), part(kPartNamespace, State::kFailed)}));
  EXPECT_EQ(mustFind(r, "Ready").reason, "Failed");
  EXPECT_EQ(mustFind(r, "Ready").message, "Namespace failed");
}

TEST(StatusCompute, StalledTakesPrecedenceAndIsRemovedWhenResolved) {
  const StatusResult stalled =
      computeStatus(input({part(kPartNamespace, State::kReady),
                           part(kPartReleases, State::kStalled, "DependencyCycle", "a -> b -> a"),
                           part(kPartRegistry, State::kFailed, "HarborUnavailable", "down")}));
  EXPECT_EQ(mustFind(stalled, "Ready").reason, "DependencyCycle");
  EXPECT_EQ(mustFind(stalled, "Ready").message, "Releases: a -> b -> a");
  const Condition s = mustFind(stalled, "Stalled");
  EXPECT_EQ(s.status, "True");
  EXPECT_EQ(s.reason, "DependencyCycle");
  EXPECT_EQ(s.message, "Releases: a -> b -> a");
  EXPECT_EQ(stalled.status["phase"], "Degraded");

  const StatusResult fixed =
      computeStatus(input({part(kPartNamespace, State::kReady), part(kPartReleases, State::kReady),
                           part(kPartRegistry, State::kReady)},
                          stalled.status, kT1));
  EXPECT_FALSE(has(fixed, "Stalled"));
  EXPECT_EQ(mustFind(fixed, "Ready").status, "True");
  EXPECT_EQ(fixed.status["phase"], "Ready");
}

TEST(StatusCompute, ReconcilingWhileAnyPartProgresses) {
  const StatusResult r = computeStatus(
      input({part(kPartNamespace, State::kReady),
             part(kPartReleases, State::kProgressing, "Installing", "2/5 releases deployed")}));
  const Condition reconciling = mustFind(r, "Reconciling");
  EXPECT_EQ(reconciling.status, "True");
  EXPECT_EQ(reconciling.reason, "Progressing");
  EXPECT_EQ(reconciling.message, "Releases: 2/5 releases deployed");
  EXPECT_EQ(mustFind(r, "Ready").reason, "Installing");
  EXPECT_EQ(r.status["phase"], "Progressing");

  const StatusResult done = computeStatus(input(allReady(), r.status, kT1));
  EXPECT_FALSE(has(done, "Reconciling"));
}

TEST(StatusCompute, NothingObservedIsPending) {
  const StatusResult r = computeStatus(input({part(kPartNamespace, State::kNotConfigured)}));
  EXPECT_EQ(r.status["phase"], "Pending");
  EXPECT_EQ(mustFind(r, "Ready").status, "Unknown");
  EXPECT_EQ(mustFind(r, "Ready").reason, "Pending");
}

// What the reconciler passes while suspended: the namespace and external-services parts as
// observed (here a deleted quota, reported and not restored), and the releases as the last
// reconcile left them (carried over from the previous status), with status.releases untouched.
TEST(StatusCompute, SuspendedObservesOnly) {
  const StatusResult before = computeStatus(
      input({part(kPartNamespace, State::kReady), part(kPartExternalServices, State::kReady),
             part(kPartReleases, State::kReady)}));
  nlohmann::json previous = before.status;
  previous["releases"] = nlohmann::json::array({{{"name", "gateway"}, {"status", "deployed"}}});
  previous["releaseSummary"] = "1/1";

  StatusInput in = input({part(kPartNamespace, State::kProgressing, "DriftDetected",
                               "ResourceQuota pro/envop-quota is missing (spec.suspend is true: "
                               "envop changes nothing)"),
                          part(kPartExternalServices, State::kReady),
                          part(kPartReleases, State::kReady, "Reconciled")},
                         previous, kT1);
  in.suspended = true;
  const StatusResult r = computeStatus(in);
  EXPECT_EQ(r.status["phase"], "Suspended");
  const Condition ready = mustFind(r, "Ready");
  EXPECT_EQ(ready.status, "False");
  EXPECT_EQ(ready.reason, "Suspended");
  EXPECT_EQ(ready.message, "spec.suspend is true: observing only");
  // Not being worked on, and nothing a human must fix: neither Reconciling nor Stalled.
  EXPECT_FALSE(has(r, "Reconciling"));
  EXPECT_FALSE(has(r, "Stalled"));
  // What was observed is reported...
  const Condition ns = mustFind(r, "NamespaceReady");
  EXPECT_EQ(ns.status, "False");
  EXPECT_EQ(ns.reason, "DriftDetected");
  EXPECT_NE(ns.message.find("envop-quota is missing"), std::string::npos) << ns.message;
  EXPECT_EQ(mustFind(r, "ExternalServicesReady").status, "True");
  // ...and what was not looked at stays as it was, transition time included.
  const Condition releases = mustFind(r, "ReleasesReady");
  EXPECT_EQ(releases.status, "True");
  EXPECT_EQ(releases.lastTransitionTime, mustFind(before, "ReleasesReady").lastTransitionTime);
  EXPECT_EQ(r.status["releases"], previous["releases"]);
  EXPECT_EQ(r.status["releaseSummary"], "1/1");
  // The drift is news (a Warning event), the releases are not.
  bool namespaceWarned = false;
  for (const ConditionTransition& t : r.transitions) {
    EXPECT_NE(t.type, "ReleasesReady");
    if (t.type == "NamespaceReady") namespaceWarned = t.warning;
  }
  EXPECT_TRUE(namespaceWarned);
}

// A clash in the shared `ext` namespace is the external-services part's: it degrades the
// Environment, and the namespace and releases conditions stay their own.
TEST(StatusCompute, ExternalServicesHaveTheirOwnConditionRolledIntoReady) {
  const StatusResult r =
      computeStatus(input({part(kPartReleases, State::kReady),
                           part(kPartExternalServices, State::kStalled, "ExternalServiceConflict",
                                "Service ext/pg already exists and belongs to Environment first"),
                           part(kPartNamespace, State::kReady)}));
  EXPECT_EQ(mustFind(r, "NamespaceReady").status, "True");
  EXPECT_EQ(mustFind(r, "ReleasesReady").status, "True");
  const Condition ext = mustFind(r, "ExternalServicesReady");
  EXPECT_EQ(ext.status, "False");
  EXPECT_EQ(ext.reason, "ExternalServiceConflict");
  const Condition ready = mustFind(r, "Ready");
  EXPECT_EQ(ready.status, "False");
  EXPECT_EQ(ready.reason, "ExternalServiceConflict");
  EXPECT_EQ(ready.message,
            "ExternalServices: Service ext/pg already exists and belongs to Environment first");
  EXPECT_EQ(r.status["phase"], "Degraded");
  // Listed in api.md's order, whatever order the parts came in.
  std::vector<std::string> types;
  for (const Condition& c : conditionsOf(r)) types.push_back(c.type);
  EXPECT_EQ(types, (std::vector<std::string>{"Ready", "Stalled", "NamespaceReady",
                                             "ExternalServicesReady", "ReleasesReady"}));

  // Once no external service is declared the condition goes.
  const StatusResult gone =
      computeStatus(input({part(kPartNamespace, State::kReady), part(kPartReleases, State::kReady),
                           part(kPartExternalServices, State::kNotConfigured)},
                          r.status, kT1));
  EXPECT_FALSE(has(gone, "ExternalServicesReady"));
  EXPECT_EQ(mustFind(gone, "Ready").status, "True");
}

TEST(StatusCompute, DeletingIsTerminatingBeforeAnythingElse) {
  StatusInput in = input(allReady());
  in.deleting = true;
  in.suspended = true;
  const StatusResult r = computeStatus(in);
  EXPECT_EQ(r.status["phase"], "Terminating");
  EXPECT_EQ(mustFind(r, "Ready").status, "False");
  EXPECT_EQ(mustFind(r, "Ready").reason, "Terminating");
}

TEST(StatusCompute, TransitionTimeKeptOnMessageChangeMovedOnFlip) {
  const StatusResult first = computeStatus(input(
      {part(kPartNamespace, State::kReady), part(kPartReleases, State::kProgressing, "", "1/5")}));
  const StatusResult second = computeStatus(input(
      {part(kPartNamespace, State::kReady), part(kPartReleases, State::kProgressing, "", "2/5")},
      first.status, kT1));
  EXPECT_TRUE(second.changed);
  EXPECT_TRUE(second.transitions.empty());  // a message-only change is not an event
  EXPECT_EQ(mustFind(second, "ReleasesReady").message, "2/5");
  EXPECT_EQ(mustFind(second, "ReleasesReady").lastTransitionTime, formatTime(kT0));
  EXPECT_EQ(mustFind(second, "Ready").lastTransitionTime, formatTime(kT0));

  const StatusResult third = computeStatus(input(allReady(), second.status, kT2));
  EXPECT_EQ(mustFind(third, "ReleasesReady").lastTransitionTime, formatTime(kT2));
  EXPECT_EQ(mustFind(third, "Ready").lastTransitionTime, formatTime(kT2));
  EXPECT_EQ(mustFind(third, "NamespaceReady").lastTransitionTime, formatTime(kT0));
}

TEST(StatusCompute, NewGenerationUpdatesEveryObservedGeneration) {
  const StatusResult first = computeStatus(input(allReady()));
  StatusInput next = input(allReady(), first.status, kT1);
  next.generation = 4;
  const StatusResult r = computeStatus(next);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.status["observedGeneration"], 4);
  for (const Condition& c : conditionsOf(r)) {
    EXPECT_EQ(c.observedGeneration, 4) << c.type;
    EXPECT_EQ(c.lastTransitionTime, formatTime(kT0)) << c.type;
  }
}

TEST(StatusCompute, IdempotentOnItsOwnOutput) {
  const std::vector<std::vector<PartOutcome>> cases = {
      allReady(),
      {part(kPartNamespace, State::kReady), part(kPartReleases, State::kProgressing, "I", "m")},
      {part(kPartNamespace, State::kStalled, "NamespaceExists", "creationPolicy is Create"),
       part(kPartRegistry, State::kFailed)},
      {}};
  for (const auto& parts : cases) {
    const StatusResult first = computeStatus(input(parts));
    const nlohmann::json onServer = afterWrite(nullptr, first);
    EXPECT_EQ(onServer, first.status);
    // The next reconcile starts from what the server holds, and writes nothing.
    const StatusResult second = computeStatus(input(parts, onServer, kT1));
    EXPECT_EQ(second.status, first.status) << first.status.dump();
    EXPECT_EQ(second.status.dump(), first.status.dump());
    EXPECT_FALSE(second.changed);
    EXPECT_TRUE(second.transitions.empty());
    EXPECT_EQ(afterWrite(onServer, second), onServer);
  }
}

TEST(StatusCompute, KeepsFieldsItDoesNotOwn) {
  const nlohmann::json previous = {
      {"registry", {{"projectID", 12}}},
      {"releases", nlohmann::json::array({{{"name", "gateway"}}})},
      {"conditions", nlohmann::json::array({{{"type", "SomeoneElses"},
                                             {"status", "True"},
                                             {"reason", "X"},
                                             {"message", ""},
                                             {"lastTransitionTime", "2020-01-01T00:00:00Z"}}})}};
  StatusInput in = input(allReady(), previous);
  in.partFields = {{"monitoring", {{"serviceMonitors", 3}}}, {"releases", nullptr}};
  const StatusResult r = computeStatus(in);
  const nlohmann::json onServer = afterWrite(previous, r);
  EXPECT_EQ(onServer["registry"]["projectID"], 12);
  EXPECT_EQ(onServer["monitoring"]["serviceMonitors"], 3);
  EXPECT_FALSE(onServer.contains("releases")) << onServer.dump();
  ASSERT_TRUE(onServer.contains("conditions"));
  EXPECT_EQ(onServer["conditions"].back()["type"], "SomeoneElses");
  EXPECT_EQ(onServer["conditions"].back()["lastTransitionTime"], "2020-01-01T00:00:00Z");
}

TEST(StatusCompute, TheLastReleaseRemovedLeavesNoReleasesAndThenNoWrite) {
  StatusInput with = input(allReady());
  with.partFields = {{"releases", nlohmann::json::array({{{"name", "gateway"}}})},
                     {"releaseSummary", "1/1"}};
  const nlohmann::json first = afterWrite(nullptr, computeStatus(with));
  ASSERT_TRUE(first.contains("releases"));

  StatusInput without = input({part(kPartNamespace, State::kReady)}, first, kT1);
  without.partFields = {{"releases", nullptr}, {"releaseSummary", nullptr}};
  const StatusResult removed = computeStatus(without);
  EXPECT_TRUE(removed.changed);
  const nlohmann::json second = afterWrite(first, removed);
  EXPECT_FALSE(second.contains("releases")) << second.dump();
  EXPECT_FALSE(second.contains("releaseSummary")) << second.dump();

  without.previous = second;
  without.now = kT2;
  const StatusResult resync = computeStatus(without);
  EXPECT_FALSE(resync.changed) << "a resync rewrites the status";
  EXPECT_EQ(afterWrite(second, resync), second);
}

TEST(StatusCompute, EmptyNamespaceNameKeepsThePreviousOne) {
  StatusInput in = input(allReady(), {{"namespace", "pro"}});
  in.namespaceName.clear();
  EXPECT_EQ(computeStatus(in).status["namespace"], "pro");
}

TEST(StatusTransitions, ReportAppearedFlippedAndRemovedConditions) {
  const StatusResult first =
      computeStatus(input({part(kPartNamespace, State::kReady),
                           part(kPartReleases, State::kStalled, "Cycle", "a->a")}));
  // Everything is new on the first computation.
  ASSERT_EQ(first.transitions.size(), 4u);
  EXPECT_EQ(first.transitions[0], (ConditionTransition{.type = "Ready",
                                                       .newStatus = "False",
                                                       .reason = "Cycle",
                                                       .message = "Releases: a->a",
                                                       .warning = true}));
  EXPECT_EQ(first.transitions[1].type, "Stalled");
  EXPECT_TRUE(first.transitions[1].warning);
  EXPECT_EQ(first.transitions[2].type, "NamespaceReady");
  EXPECT_FALSE(first.transitions[2].warning);

  const StatusResult second = computeStatus(input(allReady(), first.status, kT1));
  ASSERT_EQ(second.transitions.size(), 3u);
  EXPECT_EQ(second.transitions[0], (ConditionTransition{.type = "Ready",
                                                        .oldStatus = "False",
                                                        .newStatus = "True",
                                                        .oldReason = "Cycle",
                                                        .reason = "Reconciled",
                                                        .message = ""}));
  EXPECT_EQ(second.transitions[1].type, "ReleasesReady");
  EXPECT_EQ(second.transitions[1].newStatus, "True");
  EXPECT_EQ(second.transitions[2],
            (ConditionTransition{.type = "Stalled", .oldStatus = "True", .oldReason = "Cycle"}));
}

TEST(StatusTransitions, ReasonChangeWithoutFlipIsATransition) {
  const StatusResult first = computeStatus(
      input({part(kPartNamespace, State::kReady), part(kPartRegistry, State::kProgressing)}));
  const StatusResult second = computeStatus(
      input({part(kPartNamespace, State::kReady), part(kPartRegistry, State::kFailed, "Down", "x")},
            first.status, kT1));
  // Ready False:Progressing -> False:Down, RegistryReady likewise, Reconciling removed.
  ASSERT_EQ(second.transitions.size(), 3u);
  EXPECT_EQ(second.transitions[0].type, "Ready");
  EXPECT_EQ(second.transitions[0].oldReason, "Progressing");
  EXPECT_EQ(second.transitions[0].reason, "Down");
  EXPECT_EQ(second.transitions[1].type, "RegistryReady");
  EXPECT_EQ(second.transitions[2].type, "Reconciling");
  EXPECT_EQ(second.transitions[2].newStatus, "");
  EXPECT_EQ(mustFind(second, "Ready").lastTransitionTime, formatTime(kT0));
}

TEST(StatusEvents, NormalTransitionsAreOneEventWarningsEachTheirOwn) {
  const StatusResult first = computeStatus(
      input({part(kPartNamespace, State::kReady), part(kPartReleases, State::kReady)}));
  // A first reconcile: Ready, NamespaceReady and ReleasesReady appear, one event says so.
  EXPECT_EQ(eventsFor(first.transitions),
            (std::vector<ConditionEvent>{
                {.reason = "Reconciled",
                 .note = "Ready is True; NamespaceReady is True; ReleasesReady is True"}}));

  const StatusResult failing = computeStatus(
      input({part(kPartNamespace, State::kReady), part(kPartRegistry, State::kFailed, "Down", "x"),
             part(kPartReleases, State::kStalled, "Cycle", "a->a")},
            first.status, kT1));
  const std::vector<ConditionEvent> events = eventsFor(failing.transitions);
  // Ready False, RegistryReady False, ReleasesReady False and Stalled True are warnings, each
  // with its reason; the removed condition is not news.
  ASSERT_EQ(events.size(), failing.transitions.size());
  for (const ConditionEvent& e : events) {
    EXPECT_TRUE(e.warning) << e.note;
    EXPECT_FALSE(e.reason.empty()) << e.note;
  }
  EXPECT_NE(std::find_if(events.begin(), events.end(),
                         [](const ConditionEvent& e) {
                           return e.reason == "Down" && e.note == "RegistryReady is False: x";
                         }),
            events.end());

  // Normal ones without Ready keep their own order and the first one's reason.
  EXPECT_EQ(
      eventsFor({{.type = "NamespaceReady", .newStatus = "True", .reason = "Reconciled"},
                 {.type = "Reconciling",
                  .newStatus = "True",
                  .reason = "Progressing",
                  .message = "Releases: installing web"},
                 {.type = "Stalled", .oldStatus = "True"}}),
      (std::vector<ConditionEvent>{
          {.reason = "Reconciled",
           .note = "NamespaceReady is True; Reconciling is True: Releases: installing web"}}));
  EXPECT_TRUE(eventsFor({}).empty());
}

}  // namespace
}  // namespace envop::environment
