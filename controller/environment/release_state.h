// ReleaseState is the decision half of the releases part, after Flux helm-controller's
// internal/reconcile/state.go: everything observed about one release (Helm's stored
// release, whether its chart can be resolved, the desired digest, drift, the failure
// record) goes in, one named state and the one action that state calls for come out.
// Pure: no helm, no cluster, no clock but the one passed in — so "where is an upgrade
// decided" is answered here, and every state is unit-tested by feeding it observations.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "controller/environment/release_spec.h"

namespace envop::environment {

// The newest revision of a release in Helm's storage (its release Secrets' labels).
struct StoredRelease {
  int revision = 0;
  std::string status;  // deployed, failed, pending-install, pending-upgrade, ...
  // When that revision was written: a pending-* lock younger than the release's timeout
  // may belong to a helm that is still running (another replica's, or our own child).
  std::chrono::system_clock::time_point written{};
};

// What envop remembers of failed attempts at one desired digest.
struct FailureRecord {
  std::string digest;
  int attempts = 0;
  bool remediated = false;  // retries spent and the remedy applied: wait for a new spec
  std::string message;
};

// A helm run of this release that envop started and that has not finished yet (it may be
// queued behind --max-concurrent-helm): observed state, like Helm's storage.
struct InFlightRun {
  bool queued = false;
};

struct ReleaseObservation {
  // Our own run outranks everything else observed: while it runs, Helm's storage says
  // pending-* (its lock), and the spec may have moved on; nothing is started beside it.
  std::optional<InFlightRun> inFlight;
  std::optional<StoredRelease> stored;  // nullopt: Helm has no such release
  bool chartAvailable = true;
  bool chartStalled = false;  // a human must act (credentials Secret missing)
  std::string desiredDigest;  // "" when the chart is unavailable
  // What envop last deployed for this release (status.releases, or this process's memory).
  std::string deployedDigest;
  int deployedRevision = 0;
  std::vector<std::string> drift;  // findings; empty when in step or not looked at
  DriftDetection::Mode driftMode = DriftDetection::Mode::kEnabled;
  std::optional<FailureRecord> failure;  // for the desired digest only
  Remediation remediation;
  std::chrono::seconds timeout{300};   // the release's helm timeout
  std::chrono::seconds lockGrace{60};  // added to it before a lock is taken as abandoned
  std::chrono::system_clock::time_point now{};
};

enum class ReleaseState {
  kAbsent,                // not installed
  kInSync,                // deployed at the desired digest, no drift
  kOutOfSync,             // deployed, but not at the desired digest (spec, chart or values moved)
  kDrifted,               // deployed at the desired digest, objects changed in the cluster
  kDriftReported,         // drifted under driftDetection Warn: reported, not repaired
  kLocked,                // pending-* left by a helm that can no longer be running
  kBusy,                  // pending-* that a running helm may still own
  kFailed,                // the last install/upgrade failed; retries left
  kChartUnavailable,      // the chart cannot be resolved (registry down, 401, ...)
  kRemediationExhausted,  // failed and remediated for this very spec: wait for a change
  kInFlight,              // a helm run envop started is queued or running: wait for its exit
};

enum class ReleaseAction {
  kNone,
  kInstall,
  kUpgrade,
  kRepair,     // a helm upgrade of the same chart and values, to put drift back
  kUnlock,     // pending-install: uninstall; pending-upgrade/rollback: roll back
  kRollback,   // remediation
  kUninstall,  // remediation
  kWait,       // look again later (a busy lock), or when our run's exit wakes us
};

struct ReleaseDecision {
  ReleaseState state = ReleaseState::kInSync;
  ReleaseAction action = ReleaseAction::kNone;
  // For kWait on a busy lock: how long until it may be taken as abandoned.
  std::chrono::seconds recheckAfter{0};
};

ReleaseDecision decideRelease(const ReleaseObservation& observed);

const char* releaseStateName(ReleaseState state);
const char* releaseActionName(ReleaseAction action);

// Whether a Helm status is one of its pending-* (or uninstalling) locks.
bool isLockedStatus(const std::string& status);

}  // namespace envop::environment
