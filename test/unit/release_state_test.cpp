#include "controller/environment/release_state.h"

#include <gtest/gtest.h>

namespace envop::environment {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

const Clock::time_point kNow = Clock::time_point(1'700'000'000s);

ReleaseObservation deployedInSync() {
  ReleaseObservation o;
  o.stored = StoredRelease{.revision = 3, .status = "deployed", .written = kNow - 1h};
  o.desiredDigest = "sha256:a";
  o.deployedDigest = "sha256:a";
  o.deployedRevision = 3;
  o.now = kNow;
  return o;
}

void expect(const ReleaseObservation& o, ReleaseState state, ReleaseAction action) {
  const ReleaseDecision d = decideRelease(o);
  EXPECT_EQ(releaseStateName(d.state), std::string(releaseStateName(state)));
  EXPECT_EQ(releaseActionName(d.action), std::string(releaseActionName(action)));
}

TEST(ReleaseStateTest, NothingStoredIsInstalled) {
  ReleaseObservation o = deployedInSync();
  o.stored.reset();
  expect(o, ReleaseState::kAbsent, ReleaseAction::kInstall);
  o.stored = StoredRelease{.revision = 2, .status = "uninstalled"};
  expect(o, ReleaseState::kAbsent, ReleaseAction::kInstall);
}

TEST(ReleaseStateTest, DeployedAtTheDesiredDigestDoesNothing) {
  expect(deployedInSync(), ReleaseState::kInSync, ReleaseAction::kNone);
}

TEST(ReleaseStateTest, AnotherDigestOrRevisionIsAnUpgrade) {
  ReleaseObservation o = deployedInSync();
  o.desiredDigest = "sha256:b";
  expect(o, ReleaseState::kOutOfSync, ReleaseAction::kUpgrade);
  o = deployedInSync();
  o.stored->revision = 4;  // someone ran helm by hand
  expect(o, ReleaseState::kOutOfSync, ReleaseAction::kUpgrade);
}

TEST(ReleaseStateTest, UnavailableChartNeverTouchesWhatIsDeployed) {
  for (int revision : {0, 3}) {
    ReleaseObservation o = deployedInSync();
    if (revision == 0) o.stored.reset();
    o.chartAvailable = false;
    o.desiredDigest.clear();
    expect(o, ReleaseState::kChartUnavailable, ReleaseAction::kNone);
    // Not even when retries are spent for what was desired before.
    o.failure = FailureRecord{.digest = "", .attempts = 10};
    expect(o, ReleaseState::kChartUnavailable, ReleaseAction::kNone);
  }
}

TEST(ReleaseStateTest, DriftIsRepairedReportedOrIgnoredByMode) {
  ReleaseObservation o = deployedInSync();
  o.drift = {"Service pro/gateway: /spec/ports/0/port changed"};
  expect(o, ReleaseState::kDrifted, ReleaseAction::kRepair);
  o.driftMode = DriftDetection::Mode::kWarn;
  expect(o, ReleaseState::kDriftReported, ReleaseAction::kNone);
  o.driftMode = DriftDetection::Mode::kDisabled;
  expect(o, ReleaseState::kInSync, ReleaseAction::kNone);
}

TEST(ReleaseStateTest, FreshLockIsWaitedOnAndAnAbandonedOneUnlocked) {
  ReleaseObservation o = deployedInSync();
  o.timeout = 300s;
  o.lockGrace = 60s;
  o.stored = StoredRelease{.revision = 4, .status = "pending-upgrade", .written = kNow - 100s};
  const ReleaseDecision busy = decideRelease(o);
  EXPECT_EQ(busy.state, ReleaseState::kBusy);
  EXPECT_EQ(busy.action, ReleaseAction::kWait);
  EXPECT_EQ(busy.recheckAfter, 260s);
  o.stored->written = kNow - 360s;
  expect(o, ReleaseState::kLocked, ReleaseAction::kUnlock);
  o.stored->status = "pending-install";
  expect(o, ReleaseState::kLocked, ReleaseAction::kUnlock);
  // Even an unavailable chart does not stop a running helm from being waited for.
  o.stored->written = kNow;
  o.chartAvailable = false;
  expect(o, ReleaseState::kBusy, ReleaseAction::kWait);
}

TEST(ReleaseStateTest, FailedRevisionIsRetriedThenRemediated) {
  ReleaseObservation o = deployedInSync();
  o.desiredDigest = "sha256:b";
  o.stored = StoredRelease{.revision = 4, .status = "failed", .written = kNow};
  o.failure = FailureRecord{.digest = "sha256:b", .attempts = 3};
  o.remediation.retries = 3;
  expect(o, ReleaseState::kFailed, ReleaseAction::kUpgrade);
  o.failure->attempts = 4;
  expect(o, ReleaseState::kFailed, ReleaseAction::kRollback);
  o.remediation.onFailure = Remediation::OnFailure::kUninstall;
  expect(o, ReleaseState::kFailed, ReleaseAction::kUninstall);
  o.remediation.onFailure = Remediation::OnFailure::kNone;
  expect(o, ReleaseState::kRemediationExhausted, ReleaseAction::kNone);
}

TEST(ReleaseStateTest, FirstRevisionThatFailedIsUninstalledOnRollback) {
  ReleaseObservation o;
  o.now = kNow;
  o.desiredDigest = "sha256:a";
  o.stored = StoredRelease{.revision = 1, .status = "failed", .written = kNow};
  o.failure = FailureRecord{.digest = "sha256:a", .attempts = 4};
  expect(o, ReleaseState::kFailed, ReleaseAction::kUninstall);
}

TEST(ReleaseStateTest, RemediatedSpecWaitsForAChange) {
  ReleaseObservation o = deployedInSync();
  o.desiredDigest = "sha256:b";  // rolled back to the revision of sha256:a
  o.stored->revision = 5;
  o.failure = FailureRecord{.digest = "sha256:b", .attempts = 4, .remediated = true};
  expect(o, ReleaseState::kRemediationExhausted, ReleaseAction::kNone);
  // A new spec is a new chance.
  o.desiredDigest = "sha256:c";
  expect(o, ReleaseState::kOutOfSync, ReleaseAction::kUpgrade);
}

TEST(ReleaseStateTest, UpgradeThatFailedBeforeARevisionLeavesTheDeployedOneAlone) {
  // A chart that does not render fails without writing a revision: rolling back would
  // only churn a healthy release.
  ReleaseObservation o = deployedInSync();
  o.desiredDigest = "sha256:b";
  o.failure = FailureRecord{.digest = "sha256:b", .attempts = 4};
  expect(o, ReleaseState::kRemediationExhausted, ReleaseAction::kNone);
}

// A helm run envop started and that has not ended is observed state: whatever else is
// observed, nothing is started beside it, and its own pending-* lock is never "recovered".
TEST(ReleaseStateTest, ARunInFlightIsWaitedForWhateverElseIsObserved) {
  std::vector<ReleaseObservation> cases;
  cases.push_back(deployedInSync());
  ReleaseObservation absent = deployedInSync();
  absent.stored.reset();
  cases.push_back(absent);
  ReleaseObservation moved = deployedInSync();
  moved.desiredDigest = "sha256:b";  // the spec changed while the upgrade runs
  cases.push_back(moved);
  ReleaseObservation oldLock = deployedInSync();
  oldLock.stored = StoredRelease{.revision = 4, .status = "pending-upgrade", .written = kNow - 2h};
  cases.push_back(oldLock);  // would be unlocked, but it is our own run's lock
  ReleaseObservation drifted = deployedInSync();
  drifted.drift = {"Deployment orders: /spec/replicas"};
  cases.push_back(drifted);
  ReleaseObservation exhausted = deployedInSync();
  exhausted.stored->status = "failed";
  exhausted.failure = FailureRecord{.digest = "sha256:a", .attempts = 9};
  cases.push_back(exhausted);  // would be remediated
  ReleaseObservation noChart = deployedInSync();
  noChart.chartAvailable = false;
  cases.push_back(noChart);
  for (bool queued : {false, true}) {
    for (ReleaseObservation o : cases) {
      // Without the run each of these asks for something else (or nothing)...
      const ReleaseDecision without = decideRelease(o);
      EXPECT_NE(without.state, ReleaseState::kInFlight);
      // ...with it, every one waits for its exit.
      o.inFlight = InFlightRun{.queued = queued};
      expect(o, ReleaseState::kInFlight, ReleaseAction::kWait);
    }
  }
}

}  // namespace
}  // namespace envop::environment
