#include "controller/environment/release_state.h"

namespace envop::environment {
namespace {

ReleaseDecision is(ReleaseState state, ReleaseAction action) { return {state, action, {}}; }

// Retries spent for this digest: the remedy remediation asks for. Rolling back needs an
// earlier revision to go back to; a release whose first revision failed has none.
ReleaseDecision remediate(const ReleaseObservation& o) {
  const bool brokenRevision = o.stored && o.stored->status != "deployed";
  switch (o.remediation.onFailure) {
    case Remediation::OnFailure::kRollback:
      if (brokenRevision && o.stored->revision > 1) {
        return is(ReleaseState::kFailed, ReleaseAction::kRollback);
      }
      if (brokenRevision) return is(ReleaseState::kFailed, ReleaseAction::kUninstall);
      // The failure left the deployed revision as it was (a chart that does not render):
      // nothing to undo.
      return is(ReleaseState::kRemediationExhausted, ReleaseAction::kNone);
    case Remediation::OnFailure::kUninstall:
      if (o.stored) return is(ReleaseState::kFailed, ReleaseAction::kUninstall);
      return is(ReleaseState::kRemediationExhausted, ReleaseAction::kNone);
    case Remediation::OnFailure::kNone:
      return is(ReleaseState::kRemediationExhausted, ReleaseAction::kNone);
  }
  return is(ReleaseState::kRemediationExhausted, ReleaseAction::kNone);
}

}  // namespace

bool isLockedStatus(const std::string& status) {
  return status.starts_with("pending-") || status == "uninstalling";
}

ReleaseDecision decideRelease(const ReleaseObservation& o) {
  // One helm per release: its exit is an event that brings the next decision.
  if (o.inFlight) return is(ReleaseState::kInFlight, ReleaseAction::kWait);
  if (o.stored && isLockedStatus(o.stored->status)) {
    // Only a lock no helm can still hold is broken: one younger than the release's
    // timeout may be a running upgrade (ours, or a replica's that lost its Lease).
    const auto limit = o.timeout + o.lockGrace;
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(o.now - o.stored->written);
    if (age >= limit) return is(ReleaseState::kLocked, ReleaseAction::kUnlock);
    return {ReleaseState::kBusy, ReleaseAction::kWait,
            std::max(std::chrono::seconds(1), limit - age)};
  }
  // Without the chart nothing can be installed, upgraded or repaired, and what is
  // deployed is left exactly as it is: an outage of the registry is not a failure.
  if (!o.chartAvailable) return is(ReleaseState::kChartUnavailable, ReleaseAction::kNone);

  const bool failedHere = o.failure && o.failure->digest == o.desiredDigest;
  if (failedHere && o.failure->remediated) {
    return is(ReleaseState::kRemediationExhausted, ReleaseAction::kNone);
  }
  if (failedHere && o.failure->attempts > o.remediation.retries) return remediate(o);

  const bool absent = !o.stored || o.stored->status == "uninstalled";
  if (absent) {
    return is(failedHere ? ReleaseState::kFailed : ReleaseState::kAbsent, ReleaseAction::kInstall);
  }
  if (o.stored->status != "deployed") return is(ReleaseState::kFailed, ReleaseAction::kUpgrade);
  if (o.desiredDigest != o.deployedDigest || o.stored->revision != o.deployedRevision) {
    return is(failedHere ? ReleaseState::kFailed : ReleaseState::kOutOfSync,
              ReleaseAction::kUpgrade);
  }
  if (!o.drift.empty()) {
    switch (o.driftMode) {
      case DriftDetection::Mode::kEnabled:
        return is(ReleaseState::kDrifted, ReleaseAction::kRepair);
      case DriftDetection::Mode::kWarn:
        return is(ReleaseState::kDriftReported, ReleaseAction::kNone);
      case DriftDetection::Mode::kDisabled:
        break;
    }
  }
  return is(ReleaseState::kInSync, ReleaseAction::kNone);
}

const char* releaseStateName(ReleaseState state) {
  switch (state) {
    case ReleaseState::kAbsent:
      return "Absent";
    case ReleaseState::kInSync:
      return "InSync";
    case ReleaseState::kOutOfSync:
      return "OutOfSync";
    case ReleaseState::kDrifted:
      return "Drifted";
    case ReleaseState::kDriftReported:
      return "DriftReported";
    case ReleaseState::kLocked:
      return "Locked";
    case ReleaseState::kBusy:
      return "Busy";
    case ReleaseState::kFailed:
      return "Failed";
    case ReleaseState::kChartUnavailable:
      return "ChartUnavailable";
    case ReleaseState::kRemediationExhausted:
      return "RemediationExhausted";
    case ReleaseState::kInFlight:
      return "InFlight";
  }
  return "Unknown";
}

const char* releaseActionName(ReleaseAction action) {
  switch (action) {
    case ReleaseAction::kNone:
      return "none";
    case ReleaseAction::kInstall:
      return "install";
    case ReleaseAction::kUpgrade:
      return "upgrade";
    case ReleaseAction::kRepair:
      return "repair";
    case ReleaseAction::kUnlock:
      return "unlock";
    case ReleaseAction::kRollback:
      return "rollback";
    case ReleaseAction::kUninstall:
      return "uninstall";
    case ReleaseAction::kWait:
      return "wait";
  }
  return "unknown";
}

}  // namespace envop::environment
