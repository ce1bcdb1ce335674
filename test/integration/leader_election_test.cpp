// Leader election against the real kube-apiserver: two electors on one Lease, as two replicas of
// the operator would run. Short timings (3 s / 2 s / 0.5 s) keep the suite fast.
#include "controller/runtime/leader_election.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "controller/kube/config.h"
#include "controller/util/metrics.h"
#include "test/support/clients.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using kube::Json;
using std::chrono::milliseconds;
using std::chrono::seconds;
namespace res = kube::resources;

// What the callbacks saw, across both electors; tests wait on it with bounded waits.
struct Leadership {
  std::mutex mutex;
  std::condition_variable changed;
  int leading = 0;
  int mostAtOnce = 0;
  std::vector<std::string> started;  // identities, in order
  std::vector<std::string> stopped;

  runtime::LeaderCallbacks callbacks(const std::string& identity) {
    return {[this, identity] {
              std::lock_guard lock(mutex);
              mostAtOnce = std::max(mostAtOnce, ++leading);
              started.push_back(identity);
              changed.notify_all();
            },
            [this, identity] {
              std::lock_guard lock(mutex);
              --leading;
              stopped.push_back(identity);
              changed.notify_all();
            }};
  }

  template <typename Predicate>
  bool waitFor(std::chrono::milliseconds timeout, Predicate predicate) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, predicate);
  }
};

double masterStatus(const std::string& leaseName) {
  for (const auto& family : util::metricsRegistry().Collect()) {
    if (family.name != "leader_election_master_status") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "name" && label.value == leaseName) return metric.gauge.value;
      }
    }
  }
  return -1;
}

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = adminClient();
    ns_ = uniqueName("leader");
    auto created = client_->create(
        res::namespaces(),
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created) << created.error().describe();
  }
  void TearDown() override {
    electors_.clear();  // stops them before the namespace goes
    (void)client_->remove(res::namespaces(), "", ns_);
  }

  runtime::LeaderElector& elector(const std::string& identity) {
    runtime::LeaderElectionConfig config{
        ns_, kLease, identity, {seconds(3), seconds(2), milliseconds(500)}};
    electors_.push_back(
        std::make_unique<runtime::LeaderElector>(client_, config, leadership_.callbacks(identity)));
    return *electors_.back();
  }

  Json lease() {
    auto got = client_->get(res::leases(), ns_, kLease);
    EXPECT_TRUE(got) << got.error().describe();
    return got ? got.value() : Json::object();
  }

  static constexpr const char* kLease = "envop-leader";
  kube::ClientPtr client_;
  std::string ns_;
  Leadership leadership_;
  std::vector<std::unique_ptr<runtime::LeaderElector>> electors_;
};

TEST_F(LeaderElectionTest, TwoElectorsOnOneLeaseExactlyOneLeads) {
  auto& a = elector("replica-a");
  auto& b = elector("replica-b");
  a.start();
  b.start();
  ASSERT_TRUE(leadership_.waitFor(seconds(10), [&] { return leadership_.leading == 1; }));
  // Several retry periods and a full lease duration: the follower must keep waiting because the
  // leader keeps renewing.
  EXPECT_FALSE(leadership_.waitFor(seconds(4), [&] { return leadership_.started.size() > 1; }));

  std::string leader;
  {
    std::lock_guard lock(leadership_.mutex);
    EXPECT_EQ(leadership_.mostAtOnce, 1);
    EXPECT_TRUE(leadership_.stopped.empty());
    leader = leadership_.started.front();
  }
  EXPECT_NE(a.isLeader(), b.isLeader());
  EXPECT_EQ((leader == "replica-a" ? a : b).isLeader(), true);
  EXPECT_EQ(masterStatus(kLease), 1);

  const Json spec = lease()["spec"];
  EXPECT_EQ(spec["holderIdentity"], leader);
  EXPECT_EQ(spec["leaseDurationSeconds"], 3);
  EXPECT_EQ(spec.value("leaseTransitions", -1), 0);
}

TEST_F(LeaderElectionTest, StoppingTheLeaderHandsOverToTheOtherWithinFiveSeconds) {
  auto& a = elector("replica-a");
  a.start();
  ASSERT_TRUE(leadership_.waitFor(seconds(10), [&] { return a.isLeader(); }));
  auto& b = elector("replica-b");
  b.start();
  ASSERT_FALSE(leadership_.waitFor(seconds(1), [&] { return leadership_.started.size() > 1; }));

  a.stop();
  const auto stopped = std::chrono::steady_clock::now();
  EXPECT_FALSE(a.isLeader());
  ASSERT_TRUE(leadership_.waitFor(seconds(5), [&] { return b.isLeader(); }))
      << "the follower did not take over a released lease within 5 s";
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, seconds(5));

  {
    std::lock_guard lock(leadership_.mutex);
    EXPECT_EQ(leadership_.mostAtOnce, 1);
    EXPECT_EQ(leadership_.started, (std::vector<std::string>{"replica-a", "replica-b"}));
    EXPECT_EQ(leadership_.stopped, std::vector<std::string>{"replica-a"});
  }
  const Json spec = lease()["spec"];
  EXPECT_EQ(spec["holderIdentity"], "replica-b");
  EXPECT_EQ(spec["leaseDurationSeconds"], 3);
  EXPECT_EQ(spec["leaseTransitions"], 1);
}

TEST_F(LeaderElectionTest, StopReleasesTheLeaseAndClearsTheMetric) {
  auto& a = elector(runtime::defaultIdentity());
  a.start();
  ASSERT_TRUE(leadership_.waitFor(seconds(10), [&] { return a.isLeader(); }));
  EXPECT_EQ(lease()["spec"]["holderIdentity"], a.identity());
  EXPECT_EQ(masterStatus(kLease), 1);

  a.stop();
  EXPECT_FALSE(a.isLeader());
  EXPECT_EQ(masterStatus(kLease), 0);
  const Json spec = lease()["spec"];
  EXPECT_EQ(spec["holderIdentity"], "");
  EXPECT_EQ(spec["leaseDurationSeconds"], 1);
  std::lock_guard lock(leadership_.mutex);
  EXPECT_EQ(leadership_.stopped, std::vector<std::string>{a.identity()});
}

}  // namespace
}  // namespace envop::testing
