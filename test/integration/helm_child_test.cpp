// What a running helm child of the controller holds, and what happens to it when the
// controller dies or stops leading: a control plane of the test's own, a registry holding
// test/charts/, real helm and envop-controller as processes. The release installs the chart
// whose pods never become Ready with wait: true, so its helm run lasts the release's timeout.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "test/support/charts.h"
#include "test/support/controller_process.h"
#include "test/support/local_cluster.h"

namespace envop::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// pid, comm and parent pid from /proc/<pid>/stat; false when the process is gone.
bool statOf(pid_t pid, std::string& comm, char& state, pid_t& ppid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const auto open = line.find('(');
  const auto close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  comm = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 2));
  return static_cast<bool>(rest >> state >> ppid);
}

// Running, not a zombie waiting for its new parent to reap it.
bool alive(pid_t pid) {
  std::string comm;
  char state = 0;
  pid_t ppid = 0;
  return statOf(pid, comm, state, ppid) && state != 'Z';
}

std::string cmdlineOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : s) c = c == '\0' ? ' ' : c;
  return s;
}

// A live helm whose parent is `parent` running `subcommand` ("": any), or 0.
pid_t helmChildOf(pid_t parent, const std::string& subcommand) {
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  if (!proc) return 0;
  while (const dirent* e = ::readdir(proc.get())) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    std::string comm;
    char state = 0;
    pid_t ppid = 0;
    if (pid <= 0 || !statOf(pid, comm, state, ppid)) continue;
    if (ppid == parent && comm == "helm" && state != 'Z' &&
        cmdlineOf(pid).find(" " + subcommand) != std::string::npos) {
      return pid;
    }
  }
  return 0;
}

// fd -> what it points at ("socket:[123]", "pipe:[456]", "/dev/null", a path).
std::map<int, std::string> descriptorsOf(pid_t pid) {
  std::map<int, std::string> fds;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code lec;
    const auto target = std::filesystem::read_symlink(entry.path(), lec);
    if (!lec) fds[std::stoi(entry.path().filename().string())] = target.string();
  }
  return fds;
}

std::string describe(const std::map<int, std::string>& fds) {
  std::string s;
  // Appended piece by piece: " " + std::string trips GCC 12's -Wrestrict at -O3.
  for (const auto& [fd, target] : fds) {
    s += ' ';
    s += std::to_string(fd);
    s += "->";
    s += target;
  }
  return s;
}

class HelmChildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ScopedCluster>();
    cluster_->applyCrds();
    registry_ = std::make_unique<TestRegistry>();
    helm_ = cluster_->helm();
    pushTestCharts(*registry_, helm_);
  }
  void TearDown() override {
    controllers_.clear();
    cluster_.reset();
    registry_.reset();
  }

  // `flags` come last, so they override the defaults given here.
  ControllerProcess& startController(const std::string& name,
                                     const std::vector<std::string>& flags = {},
                                     ControllerProcess::Ports ports = {}) {
    std::vector<std::string> all = {"--helm-binary", helm_, "--helm-state-dir",
                                    cluster_->dir() + "/" + uniqueName("helm-state")};
    all.insert(all.end(), flags.begin(), flags.end());
    controllers_.push_back(
        std::make_unique<ControllerProcess>(name, cluster_->kubeconfig(), all, ports));
    return *controllers_.back();
  }

  // `helm history` of the release, as JSON text ("" when helm fails: no such release).
  std::string history() {
    const CommandResult r = runCommand({helm_, "history", "orders", "-n", "slow", "-o", "json",
                                        "--kubeconfig", cluster_->kubeconfig()},
                                       isolatedHelmEnv(cluster_->dir()));
    return r.exitCode == 0 ? r.out : "";
  }

  // An Environment whose one release installs the chart that never becomes Ready and waits
  // for it: its helm child runs for the release's timeout.
  void applySlowRelease(const std::string& timeout, const std::string& remediation = "") {
    const CommandResult r = cluster_->apply(R"(apiVersion: envop.io/v1alpha1
kind: Environment
metadata: {name: slow}
spec:
  stage: test
  namespace: {name: slow}
  charts:
    repository: )" + registry_->repository() +
                                            R"(
    plainHTTP: true
  releases:
    - name: orders
      chart: orders
      version: )" + kBrokenVersion + R"(
      wait: true
      timeout: )" + timeout + R"(
)" + (remediation.empty() ? "" : "      remediation: " + remediation + "\n"));
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  }

  pid_t waitForHelmUpgrade(const ControllerProcess& controller) {
    pid_t helm = 0;
    EXPECT_TRUE(
        within(120s, [&] { return (helm = helmChildOf(controller.pid(), "upgrade ")) != 0; }))
        << "no helm upgrade started; log: " << controller.log();
    return helm;
  }

  std::unique_ptr<ScopedCluster> cluster_;
  std::unique_ptr<TestRegistry> registry_;
  std::vector<std::unique_ptr<ControllerProcess>> controllers_;
  std::string helm_;
};

// A helm child holds its three standard streams and what it opens itself, none of the
// controller's sockets; SIGKILLing the controller mid-upgrade takes the helm with it, and a
// controller started again at once binds the same ports and reconciles.
TEST_F(HelmChildTest, HelmHoldsNothingOfTheControllerAndDiesWithIt) {
  ControllerProcess& first = startController("envop-helm-child");
  ASSERT_TRUE(within(60s, [&] { return first.probe("/readyz") == 200; })) << first.log();
  applySlowRelease("5m");
  const pid_t helm = waitForHelmUpgrade(first);
  ASSERT_NE(helm, 0);

  const auto controllerFds = descriptorsOf(first.pid());
  std::set<std::string> controllerObjects;  // its sockets and pipes, by inode
  for (const auto& [fd, target] : controllerFds) {
    if (target.rfind("socket:", 0) == 0 || target.rfind("pipe:", 0) == 0) {
      controllerObjects.insert(target);
    }
  }
  ASSERT_FALSE(controllerObjects.empty()) << describe(controllerFds);
  const auto helmFds = descriptorsOf(helm);
  ASSERT_TRUE(helmFds.count(0) && helmFds.count(1) && helmFds.count(2)) << describe(helmFds);
  EXPECT_EQ(helmFds.at(0), "/dev/null");
  for (const auto& [fd, target] : helmFds) {
    if (fd <= 2) continue;
    EXPECT_FALSE(controllerObjects.count(target))
        << "helm holds the controller's " << target << " as fd " << fd
        << "\nhelm:" << describe(helmFds) << "\ncontroller:" << describe(controllerFds);
  }

  const ControllerProcess::Ports ports = first.ports();
  first.signal(SIGKILL);
  ASSERT_TRUE(first.waitExitFor(10s).has_value());
  const auto killed = Clock::now();
  ControllerProcess& second = startController("envop-helm-child-again", {}, ports);
  EXPECT_TRUE(within(10s, [&] { return !alive(helm); }))
      << "helm " << helm << " outlived its controller: " << cmdlineOf(helm);
  ASSERT_TRUE(within(60s, [&] { return second.probe("/readyz") == 200; }))
      << "the restarted controller did not come up on its ports: " << second.log();
  std::cout << "[ measure ] SIGKILL to the restarted controller ready on the same ports: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count()
            << " ms\n";
  // Carries on: it takes up the Environment and runs helm for its release again (a helm run
  // in progress, or one finished and counted).
  EXPECT_TRUE(within(60s, [&] {
    const std::string page = second.metrics();
    return sumSamples(page, "envop_helm_operations_total", {}) >= 1 ||
           helmChildOf(second.pid(), "") != 0;
  })) << second.log();
}

// SIGTERM lets a running helm finish only for the graceful shutdown timeout; then the helm is
// killed and the process exits, long before Kubernetes' grace period would SIGKILL it.
TEST_F(HelmChildTest, SigtermDrainsForTheGracefulShutdownTimeoutThenKillsHelm) {
  ControllerProcess& controller =
      startController("envop-drain", {"--graceful-shutdown-timeout", "3s"});
  ASSERT_TRUE(within(60s, [&] { return controller.probe("/readyz") == 200; })) << controller.log();
  applySlowRelease("5m");
  const pid_t helm = waitForHelmUpgrade(controller);
  ASSERT_NE(helm, 0);

  controller.signal(SIGTERM);
  const auto terminated = Clock::now();
  const std::optional<int> code = controller.waitExitFor(20s);
  ASSERT_TRUE(code.has_value()) << "still running 20 s after SIGTERM with a 3 s drain";
  std::cout
      << "[ measure ] SIGTERM to exit with a 3 s drain and helm running: "
      << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - terminated).count()
      << " ms\n";
  EXPECT_EQ(*code, 1);
  std::ifstream in(controller.log());
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("after the graceful shutdown timeout; killed 1 running helm process group(s)"),
            std::string::npos)
      << log;
  EXPECT_TRUE(within(10s, [&] { return !alive(helm); })) << "helm " << helm << " survived";
}

// The leader stopped mid-upgrade loses the Lease to the other replica; continued, it exits on
// the lost-lease path at once, its helm child killed, instead of acting on what it was doing.
TEST_F(HelmChildTest, ALeaderStoppedMidUpgradeExitsOnContinueAndTakesItsHelmAlong) {
  const std::string lease = uniqueName("envop-slow");
  const std::vector<std::string> flags = {"--leader-elect", "--leader-election-namespace",
                                          "default", "--leader-election-id", lease};
  ControllerProcess& a = startController("envop-leader-a", flags);
  ControllerProcess& b = startController("envop-leader-b", flags);
  const std::string status = "leader_election_master_status{name=\"" + lease + "\"}";
  auto leads = [&](const ControllerProcess& c) { return sample(c.metrics(), status) == 1; };
  ASSERT_TRUE(within(60s, [&] { return leads(a) != leads(b); })) << a.log() << b.log();
  ControllerProcess& leader = leads(a) ? a : b;
  ControllerProcess& standby = leads(a) ? b : a;

  applySlowRelease("5m");
  const pid_t helm = waitForHelmUpgrade(leader);
  ASSERT_NE(helm, 0);

  leader.signal(SIGSTOP);
  EXPECT_TRUE(within(60s, [&] { return leads(standby); }))
      << "the standby never took over: " << standby.log();
  ASSERT_TRUE(alive(helm)) << "the upgrade must still be running when the old leader resumes";
  // The new leader finds the release locked by a helm that may still be running (it is): it
  // waits rather than rolling the running upgrade back.
  ASSERT_TRUE(within(60s, [&] { return standby.reconciles() > 0; })) << standby.log();
  EXPECT_EQ(sumSamples(standby.metrics(), "envop_helm_operations_total", {"op=\"rollback\""}), 0)
      << standby.metrics();
  EXPECT_EQ(sumSamples(standby.metrics(), "envop_helm_operations_total", {"op=\"uninstall\""}), 0)
      << standby.metrics();
  EXPECT_NE(history().find("\"status\":\"pending-"), std::string::npos) << history();
  ASSERT_TRUE(alive(helm));

  leader.signal(SIGCONT);
  const auto resumed = Clock::now();
  const std::optional<int> code = leader.waitExitFor(15s);
  ASSERT_TRUE(code.has_value()) << "the old leader kept running after SIGCONT";
  std::cout << "[ measure ] SIGCONT to the old leader's exit: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - resumed).count()
            << " ms\n";
  EXPECT_EQ(*code, 1);
  std::ifstream in(leader.log());
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("lost the leader Lease; killed 1 running helm process group(s)"),
            std::string::npos)
      << log;
  EXPECT_TRUE(within(10s, [&] { return !alive(helm); }))
      << "helm " << helm << " outlived the old leader";
  EXPECT_TRUE(leads(standby));
}

// The leader stopped until after its helm run has failed wakes up holding a result it would act
// on (the remediation uninstalls), while another replica leads. The standby cannot run helm
// here, so any change in the release's history is the old leader's: there must be none.
TEST_F(HelmChildTest, ALeaderResumedAfterItsHelmFailedActsNoMore) {
  const std::string lease = uniqueName("envop-resumed");
  const std::vector<std::string> flags = {"--leader-elect", "--leader-election-namespace",
                                          "default", "--leader-election-id", lease};
  const std::string status = "leader_election_master_status{name=\"" + lease + "\"}";
  auto leads = [&](const ControllerProcess& c) { return sample(c.metrics(), status) == 1; };
  ControllerProcess& leader = startController("envop-resumed-a", flags);
  ASSERT_TRUE(within(60s, [&] { return leads(leader); })) << leader.log();
  std::vector<std::string> standbyFlags = flags;
  standbyFlags.insert(standbyFlags.end(), {"--helm-binary", "/nonexistent/helm"});
  ControllerProcess& standby = startController("envop-resumed-b", standbyFlags);
  ASSERT_TRUE(within(60s, [&] { return standby.probe("/readyz") == 200; })) << standby.log();

  applySlowRelease("20s", "{retries: 0, onFailure: Uninstall}");
  const pid_t helm = waitForHelmUpgrade(leader);
  ASSERT_NE(helm, 0);
  leader.signal(SIGSTOP);
  ASSERT_TRUE(within(60s, [&] { return leads(standby); })) << standby.log();
  // helm gives up at the release's timeout; its stopped parent cannot reap it.
  ASSERT_TRUE(within(60s, [&] { return !alive(helm); })) << "helm did not time out";
  const std::string before = history();
  ASSERT_NE(before.find("\"failed\""), std::string::npos) << before;

  leader.signal(SIGCONT);
  const std::optional<int> code = leader.waitExitFor(15s);
  ASSERT_TRUE(code.has_value()) << "the old leader kept running after SIGCONT";
  EXPECT_EQ(*code, 1);
  std::ifstream in(leader.log());
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("lost the leader Lease"), std::string::npos) << log;
  EXPECT_EQ(history(), before) << "the old leader changed the release after losing the Lease";
}

}  // namespace
}  // namespace envop::testing
