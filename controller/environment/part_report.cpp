#include "controller/environment/part_report.h"

#include "controller/environment/observer.h"

namespace envop::environment {

using kube::Json;
using State = PartOutcome::State;

void mark(PartReport& report, State state, std::string reason, std::string message) {
  if (static_cast<int>(state) <= static_cast<int>(report.state)) return;
  report.state = state;
  report.reason = std::move(reason);
  report.message = std::move(message);
}

std::string describe(const kube::Resource& r, const Json& object) {
  const std::string ns = kube::namespaceOf(object);
  return r.kind + " " + (ns.empty() ? "" : ns + "/") + kube::nameOf(object);
}

void applyTracked(Applier& applier, const kube::Resource& r, const Json& desired,
                  PartReport& report, ApplyOptions options) {
  const ApplyOutcome outcome = applier.apply(r, desired, options);
  if (!outcome.conflicts.empty()) {
    // Not envop's to take: the owner (a human, another tool) has to give the field up.
    mark(report, State::kStalled, "FieldConflict",
         describe(r, desired) + ": " + describeConflicts(outcome.conflicts) +
             "; envop does not take fields another manager owns");
    return;
  }
  if (outcome.error) {
    const kube::ApiError& e = *outcome.error;
    mark(report, e.isInvalid() || e.isForbidden() ? State::kStalled : State::kFailed, "ApplyFailed",
         "applying " + describe(r, desired) + ": " + e.describe());
    return;
  }
  if (outcome.repairedDrift) report.repaired.push_back(describe(r, desired));
}

void observeTracked(Applier& applier, const kube::Resource& r, const Json& desired,
                    PartReport& report) {
  const Observation seen = observe(applier, r, desired);
  if (seen.error) {
    mark(report, State::kFailed, "ObserveFailed",
         "reading " + describe(r, desired) + ": " + seen.error->describe());
    return;
  }
  if (seen.missing) {
    report.drift.push_back(describe(r, desired) + " is missing");
  } else if (!seen.difference.empty()) {
    report.drift.push_back(describe(r, desired) + " differs from the spec at " + seen.difference);
  }
}

void concludeObservation(PartReport& report) {
  if (report.drift.empty()) return;
  std::string message;
  for (const std::string& d : report.drift) message += (message.empty() ? "" : "; ") + d;
  // Not Stalled: nothing is wrong that a human must fix; resuming repairs it.
  mark(report, State::kProgressing, "DriftDetected",
       message + " (spec.suspend is true: envop changes nothing)");
}

}  // namespace envop::environment
