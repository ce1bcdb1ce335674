// What a helm child inherits from the controller and how long it outlives it: runProcess
// against /bin tools, no network (a socketpair stands in for the controller's sockets).
#include "controller/helm/helm_process.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace envop::helm {
namespace {

using namespace std::chrono_literals;

// Polls cond every 20 ms until it holds or `limit` passes.
bool within(std::chrono::milliseconds limit, const std::function<bool()>& cond) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return cond();
}

// Running and not a zombie (a killed orphan may wait a while for its new parent to reap it).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string id, comm, state;
  return static_cast<bool>(stat >> id >> comm >> state) && state != "Z";
}

// `ls -l /proc/self/fd` as run by the child: fd -> what it points at.
std::map<int, std::string> descriptorsOf(const std::string& lsOutput) {
  std::map<int, std::string> fds;
  std::istringstream in(lsOutput);
  for (std::string line; std::getline(in, line);) {
    const auto arrow = line.find(" -> ");
    if (arrow == std::string::npos) continue;
    const auto space = line.rfind(' ', arrow - 1);
    fds[std::stoi(line.substr(space + 1, arrow - space - 1))] = line.substr(arrow + 4);
  }
  return fds;
}

TEST(HelmProcess, TheChildHoldsOnlyItsThreeStandardStreams) {
  // What the controller holds that a child must not: sockets (its listeners and API
  // connections) and a file, all opened without close-on-exec.
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  const int file = ::open("/dev/zero", O_RDONLY);
  ASSERT_GE(file, 0);

  const ProcessOutput p = runProcess("/bin/ls", {"-l", "/proc/self/fd/"}, {}, "", 10s);
  ::close(pair[0]);
  ::close(pair[1]);
  ::close(file);
  ASSERT_TRUE(p.error.empty()) << p.error;
  ASSERT_EQ(p.exitCode, 0) << p.err;
  const auto fds = descriptorsOf(p.out);
  ASSERT_TRUE(fds.count(0) && fds.count(1) && fds.count(2)) << p.out;
  EXPECT_EQ(fds.at(0), "/dev/null") << p.out;
  EXPECT_THAT(fds.at(1), ::testing::StartsWith("pipe:")) << p.out;
  EXPECT_THAT(fds.at(2), ::testing::StartsWith("pipe:")) << p.out;
  for (const auto& [fd, target] : fds) {
    if (fd <= 2) continue;
    // The one descriptor ls opens itself: the directory it is listing.
    EXPECT_THAT(target, ::testing::MatchesRegex("/proc/[0-9]+/fd"))
        << "the child inherited fd " << fd << " -> " << target << "\n"
        << p.out;
  }
}

TEST(HelmProcess, TheChildDiesWhenTheControllerIsKilled) {
  const auto pidFile =
      std::filesystem::temp_directory_path() / ("envop-pdeathsig-" + std::to_string(::getpid()));
  std::filesystem::remove(pidFile);
  // The "controller": a process of its own that runs a long helm-like child and is then
  // SIGKILLed, so nothing of it can clean up.
  const pid_t controller = ::fork();
  ASSERT_GE(controller, 0);
  if (controller == 0) {
    runProcess("/bin/sh",
               {"-c", "echo $$ > " + pidFile.string() + ".tmp && mv " + pidFile.string() + ".tmp " +
                          pidFile.string() + " && exec sleep 60"},
               {}, "", 120s);
    ::_exit(0);
  }
  pid_t child = 0;
  ASSERT_TRUE(within(10s, [&] {
    std::ifstream in(pidFile);
    return static_cast<bool>(in >> child) && child > 0;
  })) << "the child never started";
  ASSERT_TRUE(within(10s, [&] {
    std::ifstream comm("/proc/" + std::to_string(child) + "/comm");
    std::string name;
    return static_cast<bool>(comm >> name) && name == "sleep";
  }));

  ASSERT_EQ(::kill(controller, SIGKILL), 0);
  ASSERT_EQ(::waitpid(controller, nullptr, 0), controller);
  const bool died = within(10s, [&] { return !alive(child); });
  if (!died) ::kill(child, SIGKILL);
  std::filesystem::remove(pidFile);
  EXPECT_TRUE(died) << "the child " << child << " outlived the killed controller";
}

TEST(HelmProcess, KillChildrenForExitKillsEveryRunningGroup) {
  // In a process of its own: killChildrenForExit leaves runProcess blocked for good.
  const auto pidFile =
      std::filesystem::temp_directory_path() / ("envop-killall-" + std::to_string(::getpid()));
  std::filesystem::remove(pidFile);
  const pid_t controller = ::fork();
  ASSERT_GE(controller, 0);
  if (controller == 0) {
    std::thread worker([&] {
      // A child with a grandchild in its group: both must die.
      runProcess("/bin/sh",
                 {"-c", "sleep 60 & echo $! > " + pidFile.string() + ".tmp && mv " +
                            pidFile.string() + ".tmp " + pidFile.string() + "; wait"},
                 {}, "", 120s);
      ::_exit(3);  // a tripwire: runProcess must not return after the kill
    });
    while (runningChildren() == 0 || !std::filesystem::exists(pidFile)) {
      std::this_thread::sleep_for(10ms);
    }
    const int killed = killChildrenForExit();
    ::_exit(killed == 1 ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(controller, &status, 0), controller);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  pid_t grandchild = 0;
  std::ifstream(pidFile) >> grandchild;
  std::filesystem::remove(pidFile);
  ASSERT_GT(grandchild, 0);
  const bool died = within(10s, [&] { return !alive(grandchild); });
  if (!died) ::kill(grandchild, SIGKILL);
  EXPECT_TRUE(died) << "the grandchild " << grandchild << " survived";
}

TEST(HelmProcess, TheStartGateRefusesNewChildrenWhileItSaysNo) {
  bool open = false;
  setStartGate([&open] { return open; });
  const ProcessOutput refused = runProcess("/bin/echo", {"ran"}, {}, "", 10s);
  EXPECT_THAT(refused.error, ::testing::HasSubstr("not started")) << refused.error;
  EXPECT_EQ(refused.out, "");
  open = true;
  const ProcessOutput ran = runProcess("/bin/echo", {"ran"}, {}, "", 10s);
  setStartGate({});
  EXPECT_TRUE(ran.error.empty()) << ran.error;
  EXPECT_EQ(ran.out, "ran\n");
}

// An Environment deleted while its install runs: the run's token kills the helm child and
// what it spawned, well before the deadline, and nothing starts under a set token.
TEST(HelmProcess, ACancelledTokenKillsTheChildsGroupAndStartsNothing) {
  auto token = std::make_shared<CancelToken>();
  const auto pidFile =
      std::filesystem::temp_directory_path() / ("envop-cancel-" + std::to_string(::getpid()));
  std::filesystem::remove(pidFile);
  ProcessOutput out;
  std::thread runner([&] {
    CancelScope scope(token);
    out = runProcess("/bin/sh",
                     {"-c", "sleep 60 & echo $! > " + pidFile.string() + ".tmp && mv " +
                                pidFile.string() + ".tmp " + pidFile.string() + "; wait"},
                     {}, "", 120s);
  });
  ASSERT_TRUE(within(10s, [&] { return std::filesystem::exists(pidFile); }));
  pid_t grandchild = 0;
  std::ifstream(pidFile) >> grandchild;
  std::filesystem::remove(pidFile);
  const auto cancelled = std::chrono::steady_clock::now();
  token->cancel();
  runner.join();
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled, 10s);
  EXPECT_TRUE(out.cancelled);
  EXPECT_FALSE(out.timedOut);
  EXPECT_THAT(out.error, ::testing::HasSubstr("cancelled"));
  ASSERT_GT(grandchild, 0);
  const bool died = within(10s, [&] { return !alive(grandchild); });
  if (!died) ::kill(grandchild, SIGKILL);
  EXPECT_TRUE(died) << "the grandchild " << grandchild << " survived";

  std::thread again([&] {
    CancelScope scope(token);
    out = runProcess("/bin/echo", {"ran"}, {}, "", 10s);
  });
  again.join();
  EXPECT_TRUE(out.cancelled);
  EXPECT_EQ(out.out, "");
  // Outside the scope the thread's runs are not cancelled.
  EXPECT_EQ(currentCancelToken(), nullptr);
  EXPECT_EQ(runProcess("/bin/echo", {"ran"}, {}, "", 10s).out, "ran\n");
}

}  // namespace
}  // namespace envop::helm
