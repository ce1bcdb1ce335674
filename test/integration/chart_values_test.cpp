// The chart's availability values, as helm renders them and the API server accepts them: a
// PodDisruptionBudget that keeps a standby through a drain (and none that would block every drain
// of a single replica), replicas spread over nodes, a priority class, and leader election that
// cannot be turned off while two replicas would both reconcile.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "controller/environment/values.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using Json = nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

class ChartValuesTest : public ::testing::Test {
 protected:
  // The suite's shared control plane; each test renders into a namespace of its own.
  ChartValuesTest() : cluster_(LocalCluster::get()), namespace_(uniqueName("chart-values")) {}
  void SetUp() override {
    ASSERT_EQ(cluster_.kubectl({"create", "namespace", namespace_}).exitCode, 0);
  }
  void TearDown() override {
    cluster_.kubectl({"delete", "namespace", namespace_, "--wait=false"});
  }
  std::string helmBinary() const {
    const std::string helm = cluster_.value("HELM");
    return helm.empty() ? cluster_.binDir() + "/helm" : helm;
  }

  // `helm template` of helm/envop with `--set` pairs; the exit code and, on success, the objects.
  struct Rendered {
    int exitCode = -1;
    std::string err;
    std::vector<Json> objects;
    std::string file;  // the manifest as rendered
  };
  Rendered render(const std::vector<std::string>& sets) const {
    std::vector<std::string> args = {helmBinary(),  "template",
                                     "envop",       std::string(ENVOP_SOURCE_DIR) + "/helm/envop",
                                     "--namespace", namespace_};
    for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
    const std::string state = std::string(ENVOP_BINARY_DIR) + "/" + namespace_ + "-helm";
    const CommandResult r = runCommand(args, {{"HELM_CONFIG_HOME", state + "/config"},
                                              {"HELM_CACHE_HOME", state + "/cache"},
                                              {"HELM_DATA_HOME", state + "/data"}});
    Rendered out{r.exitCode, r.err, {}, ""};
    if (r.exitCode != 0) return out;
    auto docs = environment::parseYamlDocuments(r.out, "helm template");
    if (auto* error = std::get_if<std::string>(&docs)) {
      ADD_FAILURE() << *error;
      return out;
    }
    out.objects = std::get<std::vector<Json>>(docs);
    out.file = state + "/" + uniqueName("rendered") + ".yaml";
    std::filesystem::create_directories(state);
    std::ofstream(out.file) << r.out;
    return out;
  }
  static const Json* find(const Rendered& r, const std::string& kind) {
    for (const Json& o : r.objects) {
      if (o.value("kind", "") == kind) return &o;
    }
    return nullptr;
  }
  static Json podSpec(const Rendered& r) {
    const Json* d = find(r, "Deployment");
    return d ? (*d)["spec"]["template"]["spec"] : Json();
  }
  static std::vector<std::string> args(const Rendered& r) {
    const Json pod = podSpec(r);
    if (!pod.is_object()) return {};
    return pod["containers"][0].value("args", std::vector<std::string>{});
  }

  // The server accepts every object rendered (the chart's CRD is already installed by the suite).
  CommandResult dryRun(const Rendered& r) const {
    return cluster_.kubectl({"apply", "--dry-run=server", "-f", r.file});
  }

  const LocalCluster& cluster_;
  const std::string namespace_;
};

TEST_F(ChartValuesTest, TwoReplicasGetADisruptionBudgetASpreadAndLeaderElection) {
  const Rendered r = render({});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const Json* pdb = find(r, "PodDisruptionBudget");
  ASSERT_NE(pdb, nullptr) << "two replicas and no PodDisruptionBudget";
  EXPECT_EQ((*pdb)["spec"]["maxUnavailable"], 1);
  // The budget covers exactly the controller's pods.
  const Json* deployment = find(r, "Deployment");
  ASSERT_NE(deployment, nullptr);
  EXPECT_EQ((*pdb)["spec"]["selector"]["matchLabels"],
            (*deployment)["spec"]["selector"]["matchLabels"]);
  const Json spread = podSpec(r)["topologySpreadConstraints"];
  ASSERT_TRUE(spread.is_array() && spread.size() == 1) << spread.dump();
  EXPECT_EQ(spread[0]["topologyKey"], "kubernetes.io/hostname");
  EXPECT_EQ(spread[0]["whenUnsatisfiable"], "ScheduleAnyway")
      << "a soft spread, never unschedulable";
  EXPECT_EQ(spread[0]["labelSelector"]["matchLabels"],
            (*deployment)["spec"]["selector"]["matchLabels"]);
  EXPECT_THAT(args(r), Contains("--leader-elect=true"));
  EXPECT_THAT(args(r), Contains("--leader-election-id=envop-controller-leader"));
  EXPECT_FALSE(podSpec(r).contains("priorityClassName"));

  // The API server takes what the chart renders, the PodDisruptionBudget included.
  const CommandResult accepted = dryRun(r);
  EXPECT_EQ(accepted.exitCode, 0) << accepted.out << accepted.err;
}

TEST_F(ChartValuesTest, OneReplicaHasNoBudgetThatWouldBlockEveryDrain) {
  const Rendered r = render({"replicaCount=1"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(find(r, "PodDisruptionBudget"), nullptr);
  EXPECT_FALSE(podSpec(r).contains("topologySpreadConstraints"));
  // Leader election may be off with one replica.
  const Rendered single = render({"replicaCount=1", "leaderElection.enabled=false"});
  ASSERT_EQ(single.exitCode, 0) << single.err;
  EXPECT_THAT(args(single), Contains("--leader-elect=false"));
}

TEST_F(ChartValuesTest, LeaderElectionCannotBeTurnedOffForTwoReplicas) {
  const Rendered r = render({"leaderElection.enabled=false"});
  EXPECT_NE(r.exitCode, 0) << "two replicas without leader election would both reconcile";
  EXPECT_THAT(r.err, HasSubstr("leaderElection.enabled=false needs replicaCount 1"));
}

TEST_F(ChartValuesTest, PriorityClassSpreadAndBudgetAreTheUsersToSet) {
  const Rendered r =
      render({"priorityClassName=system-cluster-critical", "podDisruptionBudget.maxUnavailable=50%",
              "topologySpreadConstraints[0].maxSkew=1",
              "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
              "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
              "podAnnotations.example\\.com/team=platform", "leaderElection.id=stages-leader"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(podSpec(r)["priorityClassName"], "system-cluster-critical");
  const Json spread = podSpec(r)["topologySpreadConstraints"];
  ASSERT_TRUE(spread.is_array() && spread.size() == 1) << spread.dump();
  EXPECT_EQ(spread[0]["topologyKey"], "topology.kubernetes.io/zone") << "the user's replaces ours";
  EXPECT_EQ((*find(r, "PodDisruptionBudget"))["spec"]["maxUnavailable"], "50%");
  EXPECT_EQ(
      (*find(r, "Deployment"))["spec"]["template"]["metadata"]["annotations"]["example.com/team"],
      "platform");
  EXPECT_THAT(args(r), Contains("--leader-election-id=stages-leader"));
  EXPECT_THAT(args(r), Not(Contains("--leader-election-id=envop-controller-leader")));

  const CommandResult accepted = dryRun(r);
  EXPECT_EQ(accepted.exitCode, 0) << accepted.out << accepted.err;
  // Values the schema refuses: a budget of zero, a spread without its required fields.
  EXPECT_NE(render({"podDisruptionBudget.maxUnavailable=0"}).exitCode, 0);
  EXPECT_NE(render({"topologySpreadConstraints[0].maxSkew=1"}).exitCode, 0);
}

}  // namespace
}  // namespace envop::testing
