// envop-controller as a process against the real control plane: probes, metrics,
// leader election between two replicas, and what SIGTERM and SIGKILL do to it.
#include "test/support/controller_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>

#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using namespace std::chrono_literals;

class Replica {
 public:
  Replica(const std::string& name, const std::string& kubeconfig, const std::string& leaseId)
      : leaseId_(leaseId),
        process_(name, kubeconfig,
                 {"--leader-elect", "--leader-election-namespace", "default",
                  "--leader-election-id", leaseId}) {}
  std::string metrics() const { return process_.metrics(); }
  int probe(const std::string& path) const { return process_.probe(path); }
  bool leading() const {
    return sample(metrics(), "leader_election_master_status{name=\"" + leaseId_ + "\"}") == 1;
  }
  double reconciles() const {
    return sample(
        metrics(),
        R"(controller_runtime_reconcile_total{controller="environment",result="success"})");
  }
  void signal(int sig) { process_.signal(sig); }
  int waitExit() { return process_.waitExit(); }
  const std::string& log() const { return process_.log(); }

 private:
  std::string leaseId_;
  ControllerProcess process_;
};

// Controllers reconcile (and put finalizers on) every Environment they see, so each
// test runs them against a control plane of its own.
class ControllerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
  }
  const std::string kubeconfig() const { return cluster_->kubeconfig(); }
  std::unique_ptr<ScopedCluster> cluster_;
};

TEST_F(ControllerProcessTest, ExactlyOneReplicaLeadsAndSigtermHandsOverQuickly) {
  const ScopedCluster& c = *cluster_;
  const std::string env = uniqueName("le");
  CommandResult r;
  const std::string manifest =
      "{\"apiVersion\":\"envop.io/v1alpha1\",\"kind\":\"Environment\","
      "\"metadata\":{\"name\":\"" +
      env + "\"},\"spec\":{\"stage\":\"test\"}}";
  const std::string file = std::string(ENVOP_BINARY_DIR) + "/" + env + ".json";
  { std::ofstream(file) << manifest; }
  r = c.kubectl({"apply", "-f", file});
  ASSERT_EQ(r.exitCode, 0) << r.err;

  const std::string lease = uniqueName("envop-le");
  Replica a("replica-a", kubeconfig(), lease);
  Replica b("replica-b", kubeconfig(), lease);

  ASSERT_TRUE(within(30s, [&] { return a.probe("/readyz") == 200 && b.probe("/readyz") == 200; }))
      << "replicas not ready; logs: " << a.log() << " " << b.log();
  EXPECT_EQ(a.probe("/healthz"), 200);
  ASSERT_TRUE(within(30s, [&] { return a.leading() != b.leading(); }))
      << "no single leader; logs: " << a.log() << " " << b.log();
  Replica& leader = a.leading() ? a : b;
  Replica& standby = a.leading() ? b : a;
  ASSERT_TRUE(within(30s, [&] { return leader.reconciles() >= 1; })) << leader.log();
  EXPECT_EQ(standby.reconciles(), 0) << "the standby reconciled: " << standby.log();

  const std::string page = leader.metrics();
  for (const char* name :
       {"controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds", "controller_runtime_active_workers",
        "controller_runtime_max_concurrent_reconciles", "workqueue_depth", "workqueue_adds_total",
        "workqueue_queue_duration_seconds", "workqueue_work_duration_seconds",
        "workqueue_retries_total", "leader_election_master_status", "rest_client_requests_total"}) {
    EXPECT_NE(page.find(std::string("\n") + name), std::string::npos) << name;
  }

  leader.signal(SIGTERM);
  EXPECT_EQ(leader.waitExit(), 0) << leader.log();
  EXPECT_TRUE(within(5s, [&] { return standby.leading(); }))
      << "the standby did not take over within 5 s of SIGTERM: " << standby.log();
  EXPECT_TRUE(within(30s, [&] { return standby.reconciles() >= 1; })) << standby.log();
  (void)c.kubectl({"delete", "environment", env});
}

TEST_F(ControllerProcessTest, SigkilledLeaderIsReplacedWithinTwentySeconds) {
  const std::string lease = uniqueName("envop-le");
  Replica a("replica-a", kubeconfig(), lease);
  ASSERT_TRUE(within(30s, [&] { return a.leading(); })) << a.log();
  Replica b("replica-b", kubeconfig(), lease);
  ASSERT_TRUE(within(30s, [&] { return b.probe("/readyz") == 200; })) << b.log();
  EXPECT_FALSE(b.leading());

  a.signal(SIGKILL);
  a.waitExit();
  EXPECT_TRUE(within(20s, [&] { return b.leading(); }))
      << "no takeover within 20 s of the leader's death: " << b.log();
}

TEST_F(ControllerProcessTest, BadFlagExitsTwoWithOneLine) {
  CommandResult r = runCommand({std::string(ENVOP_BINARY_DIR) + "/controller/envop-controller",
                                "--max-concurrent-reconciles=zero"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--max-concurrent-reconciles"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace envop::testing
