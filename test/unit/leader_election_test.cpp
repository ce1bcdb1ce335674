// The leader election decision core, driven by a FakeClock: no API server, no sleeps.
#include "controller/runtime/leader_election.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace envop::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = LeaseAction::Kind;

// 2024-05-06T07:08:09.123456Z
const WallTime kWall = WallTime{} + seconds(1714979289) + std::chrono::microseconds(123456);

class LeaderElectionCoreTest : public ::testing::Test {
 protected:
  LeaseElection election(const std::string& identity) { return {identity, LeaseTimings{}}; }
  util::TimePoint now() const { return clock_.now(); }
  WallTime wall() const { return kWall + (clock_.now() - start_); }

  // `who` decides and, if asked to write, the write succeeds; returns what is now in the Lease.
  std::optional<LeaseRecord> step(LeaseElection& who, const std::optional<LeaseRecord>& lease) {
    auto action = who.decide(lease, now(), wall());
    if (action.kind == Kind::kWait) return lease;
    who.written(action.record, now());
    return action.record;
  }

  util::FakeClock clock_;
  util::TimePoint start_ = clock_.now();
};

TEST_F(LeaderElectionCoreTest, AcquiresAnAbsentLeaseByCreatingIt) {
  auto a = election("a");
  auto action = a.decide(std::nullopt, now(), wall());
  ASSERT_EQ(action.kind, Kind::kCreate);
  EXPECT_EQ(action.record.holderIdentity, "a");
  EXPECT_EQ(action.record.leaseDurationSeconds, 15);
  EXPECT_EQ(action.record.acquireTime, "2024-05-06T07:08:09.123456Z");
  EXPECT_EQ(action.record.renewTime, action.record.acquireTime);
  EXPECT_EQ(action.record.leaseTransitions, 0);
  EXPECT_FALSE(a.isLeader()) << "leading starts only once the write went through";
  a.written(action.record, now());
  EXPECT_TRUE(a.isLeader());
}

TEST_F(LeaderElectionCoreTest, DoesNotAcquireALeaseHeldByAnother) {
  auto a = election("a");
  auto b = election("b");
  auto lease = step(a, std::nullopt);
  EXPECT_EQ(b.decide(lease, now(), wall()).kind, Kind::kWait);
  clock_.advance(seconds(14));
  EXPECT_EQ(b.decide(lease, now(), wall()).kind, Kind::kWait);
  EXPECT_FALSE(b.isLeader());
}

TEST_F(LeaderElectionCoreTest, TakesOverOnceNoRenewalWasObservedForTheLeaseDuration) {
  auto a = election("a");
  auto b = election("b");
  auto lease = step(a, std::nullopt);
  // b's countdown starts when b first sees the record, not at the record's renewTime.
  clock_.advance(seconds(60));
  EXPECT_EQ(b.decide(lease, now(), wall()).kind, Kind::kWait);
  clock_.advance(seconds(15));
  auto action = b.decide(lease, now(), wall());
  ASSERT_EQ(action.kind, Kind::kUpdate);
  EXPECT_EQ(action.record.holderIdentity, "b");
  EXPECT_EQ(action.record.acquireTime, util::formatMicroTime(wall()));
  EXPECT_EQ(action.record.leaseTransitions, 1);
  b.written(action.record, now());
  EXPECT_TRUE(b.isLeader());
}

TEST_F(LeaderElectionCoreTest, AnObservedRenewalRestartsTheExpiryCountdown) {
  auto a = election("a");
  auto b = election("b");
  auto lease = step(a, std::nullopt);
  EXPECT_EQ(b.decide(lease, now(), wall()).kind, Kind::kWait);
  clock_.advance(seconds(10));
  lease = step(a, lease);
  EXPECT_EQ(b.decide(lease, now(), wall()).kind, Kind::kWait);
  clock_.advance(seconds(10));  // 20 s since b first looked, 10 s since the renewal it saw
  EXPECT_EQ(b.decide(lease, now(), wall()).kind, Kind::kWait);
  clock_.advance(seconds(5));
  EXPECT_EQ(b.decide(lease, now(), wall()).kind, Kind::kUpdate);
}

TEST_F(LeaderElectionCoreTest, TheLeaderRenewsKeepingAcquireTimeAndTransitions) {
  auto a = election("a");
  auto lease = step(a, LeaseRecord{"", 1, "", "", 4});
  ASSERT_TRUE(a.isLeader());
  const std::string acquired = lease->acquireTime;
  clock_.advance(seconds(2));
  auto action = a.decide(lease, now(), wall());
  ASSERT_EQ(action.kind, Kind::kUpdate);
  EXPECT_EQ(action.record.holderIdentity, "a");
  EXPECT_EQ(action.record.acquireTime, acquired);
  EXPECT_EQ(action.record.renewTime, "2024-05-06T07:08:11.123456Z");
  EXPECT_EQ(action.record.leaseTransitions, 5);
  a.written(action.record, now());
  EXPECT_TRUE(a.isLeader());
}

TEST_F(LeaderElectionCoreTest, LosesLeadershipWhenRenewalFailsPastTheRenewDeadline) {
  auto a = election("a");
  auto lease = step(a, std::nullopt);
  clock_.advance(seconds(2));
  lease = step(a, lease);
  // Every renewal from here on fails: decide() asks, the write never lands.
  for (int i = 0; i < 4; ++i) {
    clock_.advance(seconds(2));
    EXPECT_EQ(a.decide(lease, now(), wall()).kind, Kind::kUpdate);
    EXPECT_FALSE(a.renewDeadlinePassed(now()));
    EXPECT_TRUE(a.isLeader());
  }
  clock_.advance(milliseconds(1999));
  EXPECT_FALSE(a.renewDeadlinePassed(now()));
  clock_.advance(milliseconds(1));
  EXPECT_TRUE(a.renewDeadlinePassed(now()));
  EXPECT_FALSE(a.isLeader());
  EXPECT_FALSE(a.renewDeadlinePassed(now())) << "reported once";
}

// What fences the leader's writes: trust ends a renew deadline after the last renewal went
// out, even when nothing ran in between to notice (a stopped process), and well before any
// candidate, whose countdown starts only when it sees that renewal, may take over.
TEST_F(LeaderElectionCoreTest, TrustEndsARenewDeadlineAfterTheLastRenewal) {
  auto a = election("a");
  EXPECT_EQ(a.trustedUntil(), util::TimePoint::min()) << "not leading yet";
  auto lease = step(a, std::nullopt);
  const auto renewed = now();
  EXPECT_EQ(a.trustedUntil(), renewed + seconds(10));
  clock_.advance(seconds(2));
  lease = step(a, lease);
  EXPECT_EQ(a.trustedUntil(), now() + seconds(10));
  EXPECT_LT(a.trustedUntil(), now() + seconds(lease->leaseDurationSeconds));
  LeaseRecord stolen{"b", 15, lease->acquireTime, util::formatMicroTime(wall()), 1};
  a.decide(stolen, now(), wall());
  EXPECT_EQ(a.trustedUntil(), util::TimePoint::min()) << "someone else holds it";
}

TEST_F(LeaderElectionCoreTest, StepsDownAtOnceWhenSomeoneElseIsSeenHoldingTheLease) {
  auto a = election("a");
  auto lease = step(a, std::nullopt);
  ASSERT_TRUE(a.isLeader());
  LeaseRecord stolen{"b", 15, lease->acquireTime, util::formatMicroTime(wall()), 1};
  EXPECT_EQ(a.decide(stolen, now(), wall()).kind, Kind::kWait);
  EXPECT_FALSE(a.isLeader());
  EXPECT_FALSE(a.releaseRecord(wall())) << "nothing of ours to release";
}

TEST_F(LeaderElectionCoreTest, ReleaseMakesTheLeaseImmediatelyAcquirableByOthers) {
  auto a = election("a");
  auto b = election("b");
  auto lease = step(a, std::nullopt);
  EXPECT_EQ(b.decide(lease, now(), wall()).kind, Kind::kWait);
  clock_.advance(seconds(1));
  auto release = a.releaseRecord(wall());
  ASSERT_TRUE(release);
  EXPECT_EQ(release->holderIdentity, "");
  EXPECT_EQ(release->leaseDurationSeconds, 1);
  EXPECT_EQ(release->renewTime, util::formatMicroTime(wall()));
  a.released(*release, now());
  EXPECT_FALSE(a.isLeader());
  EXPECT_FALSE(a.releaseRecord(wall()));

  auto action = b.decide(release, now(), wall());  // no clock advance at all
  ASSERT_EQ(action.kind, Kind::kUpdate);
  EXPECT_EQ(action.record.holderIdentity, "b");
  EXPECT_EQ(action.record.leaseDurationSeconds, 15);
  EXPECT_EQ(action.record.leaseTransitions, 1);
}

TEST_F(LeaderElectionCoreTest, LeaseTransitionsIncrementOnEachTakeover) {
  auto a = election("a");
  auto b = election("b");
  auto lease = step(a, std::nullopt);
  EXPECT_EQ(lease->leaseTransitions, 0);
  lease = step(b, lease);  // first look: wait
  clock_.advance(seconds(15));
  lease = step(b, lease);
  EXPECT_EQ(lease->holderIdentity, "b");
  EXPECT_EQ(lease->leaseTransitions, 1);
  lease = step(a, lease);
  clock_.advance(seconds(15));
  lease = step(a, lease);
  EXPECT_EQ(lease->holderIdentity, "a");
  EXPECT_EQ(lease->leaseTransitions, 2);
  clock_.advance(seconds(2));
  lease = step(a, lease);
  EXPECT_EQ(lease->leaseTransitions, 2) << "renewals are not transitions";
}

TEST_F(LeaderElectionCoreTest, ARecordLeftByAnEarlierRunOfTheSameIdentityIsOursAtOnce) {
  auto a = election("a");
  LeaseRecord mine{"a", 15, "2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:01.000000Z", 3};
  auto action = a.decide(mine, now(), wall());
  ASSERT_EQ(action.kind, Kind::kUpdate);
  EXPECT_EQ(action.record.acquireTime, mine.acquireTime);
  EXPECT_EQ(action.record.leaseTransitions, 3);
}

TEST(LeaderElectionRecordTest, FormatsMicroTimeInUtc) {
  EXPECT_EQ(util::formatMicroTime(kWall), "2024-05-06T07:08:09.123456Z");
  EXPECT_EQ(util::formatMicroTime(WallTime{}), "1970-01-01T00:00:00.000000Z");
}

TEST(LeaderElectionRecordTest, JsonRoundTripAndToleratesMissingOrMistypedFields) {
  LeaseRecord record{"a", 15, "2024-05-06T07:08:09.123456Z", "2024-05-06T07:08:10.000000Z", 2};
  kube::Json lease = {{"spec", leaseSpecToJson(record)}};
  EXPECT_EQ(leaseRecordFromJson(lease), record);

  kube::Json released = leaseSpecToJson(LeaseRecord{"", 1, "", "", 0});
  EXPECT_FALSE(released.contains("acquireTime")) << "the API rejects an empty MicroTime";
  EXPECT_EQ(released["holderIdentity"], "");

  EXPECT_EQ(leaseRecordFromJson(kube::Json::object()), LeaseRecord{});
  EXPECT_EQ(leaseRecordFromJson({{"spec", {{"holderIdentity", 7}, {"leaseTransitions", "x"}}}}),
            LeaseRecord{});
}

TEST(LeaderElectionRecordTest, DefaultIdentityIsHostnamePlusARandomSuffix) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  const std::string a = defaultIdentity();
  EXPECT_EQ(a.rfind(std::string(host) + "_", 0), 0u) << a;
  EXPECT_GT(a.size(), std::string(host).size() + 1);
  EXPECT_NE(a, defaultIdentity());
}

}  // namespace
}  // namespace envop::runtime
