// envop-controller as a process against the real control plane: probes, metrics,
// leader election between two replicas, and what SIGTERM and SIGKILL do to it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <boost/process.hpp>
#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

namespace bp = boost::process;
using namespace std::chrono_literals;

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// GET http://127.0.0.1:port/path with curl; {status, body}.
std::pair<int, std::string> httpGet(int port, const std::string& path) {
  CommandResult r = runCommand({"curl", "-s", "-o", "-", "-w", "\n%{http_code}",
                                "http://127.0.0.1:" + std::to_string(port) + path});
  const auto nl = r.out.rfind('\n');
  if (r.exitCode != 0 || nl == std::string::npos) return {0, r.err};
  return {std::stoi(r.out.substr(nl + 1)), r.out.substr(0, nl)};
}

// The value of one sample line of a Prometheus text page, or -1 when absent.
double sample(const std::string& page, const std::string& metricWithLabels) {
  const std::regex line(
      "^" + std::regex_replace(metricWithLabels, std::regex(R"([{}."\\])"), R"(\$&)") +
          R"( ([0-9.e+-]+)$)",
      std::regex::multiline);
  std::smatch m;
  return std::regex_search(page, m, line) ? std::stod(m[1]) : -1;
}

class Replica {
 public:
  Replica(const std::string& name, const std::string& leaseId) : leaseId_(leaseId) {
    metricsPort_ = freePort();
    probePort_ = freePort();
    log_ = std::string(ENVOP_BINARY_DIR) + "/" + uniqueName(name) + ".log";
    child_ =
        bp::child(std::string(ENVOP_BINARY_DIR) + "/controller/envop-controller", "--kubeconfig",
                  LocalCluster::get().kubeconfig(), "--leader-elect", "--leader-election-namespace",
                  "default", "--leader-election-id", leaseId, "--metrics-bind-address",
                  "127.0.0.1:" + std::to_string(metricsPort_), "--health-probe-bind-address",
                  "127.0.0.1:" + std::to_string(probePort_), "--log-format", "text",
                  bp::std_in.close(), (bp::std_out & bp::std_err) > log_);
  }
  ~Replica() {
    if (child_.running()) {
      ::kill(child_.id(), SIGKILL);
    }
    if (child_.valid()) child_.wait();
  }
  std::string metrics() const { return httpGet(metricsPort_, "/metrics").second; }
  int probe(const std::string& path) const { return httpGet(probePort_, path).first; }
  bool leading() const {
    return sample(metrics(), "leader_election_master_status{name=\"" + leaseId() + "\"}") == 1;
  }
  double reconciles() const {
    return sample(
        metrics(),
        R"(controller_runtime_reconcile_total{controller="environment",result="success"})");
  }
  void signal(int sig) { ::kill(child_.id(), sig); }
  int waitExit() {
    child_.wait();
    return child_.exit_code();
  }
  const std::string& log() const { return log_; }
  const std::string& leaseId() const { return leaseId_; }

 private:
  std::string leaseId_;
  int metricsPort_ = 0;
  int probePort_ = 0;
  std::string log_;
  bp::child child_;
};

// Polls cond every 100 ms until it holds or `limit` passes; the deadline is the
// requirement being tested, not a stand-in for synchronisation.
bool within(std::chrono::milliseconds limit, const std::function<bool()>& cond) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return cond();
}

// The CRD is applied once for the suite by the cluster.crds ctest fixture.
class ControllerProcessTest : public ::testing::Test {};

TEST_F(ControllerProcessTest, ExactlyOneReplicaLeadsAndSigtermHandsOverQuickly) {
  const LocalCluster& c = LocalCluster::get();
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
  Replica a("replica-a", lease);
  Replica b("replica-b", lease);

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
  Replica a("replica-a", lease);
  ASSERT_TRUE(within(30s, [&] { return a.leading(); })) << a.log();
  Replica b("replica-b", lease);
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
