// Running one helm child: argv only (never a shell), an explicit environment, optional stdin,
// both pipes captured, and a deadline after which the child's whole process group is killed
// with SIGKILL, so a hung helm (or anything it spawned) cannot hold a reconcile worker.
// The child gets stdin (/dev/null unless data is given), stdout and stderr and no other
// descriptor of the controller (its listening ports, its connections to the API server), and
// it dies with the controller (PR_SET_PDEATHSIG): a helm left running by a crashed controller
// would keep the ports the restarted one needs, and would go on writing to the cluster.
// Never throws: a spawn failure is reported in ProcessOutput::error.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace envop::helm {

struct ProcessOutput {
  int exitCode = -1;
  std::string out;
  std::string err;
  bool timedOut = false;
  bool cancelled = false;  // its CancelToken was set: killed (or never started) for that
  std::string error;       // the child could not be started (or waited for), or was cancelled
  std::chrono::milliseconds took{0};
};

// A request, from any thread, that a helm run stop: an Environment deleted while its install
// runs has no use for the install's outcome. Set once, never reset.
class CancelToken final {
 public:
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};
using CancelTokenPtr = std::shared_ptr<CancelToken>;

// While one is alive, every runProcess on this thread obeys `token`: none starts once it is
// set, and a running child's process group is killed (within kCancelPoll) when it is. Thread
// local rather than a parameter because helm is reached through HelmDriver's several commands
// and its pluggable runner, none of which should have to carry it.
class CancelScope final {
 public:
  explicit CancelScope(CancelTokenPtr token);
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  CancelTokenPtr previous_;
};
// The token of the innermost CancelScope on this thread; null outside any.
CancelTokenPtr currentCancelToken();
// How often a running child's token is looked at.
inline constexpr std::chrono::milliseconds kCancelPoll{100};

// The calling thread must stay alive until this returns (it always does, except after
// killChildrenForExit): the kernel's parent-death signal follows the thread that forked.
ProcessOutput runProcess(const std::string& executable, const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& environment,
                         const std::string& stdinData, std::chrono::milliseconds timeout);

// For a process that must stop acting at once (it lost its Lease, or its drain ran out):
// SIGKILLs the process group of every child runProcess has running, and from then on no
// runProcess starts a child or returns from one, so no caller goes on to act on a killed
// helm's result. The caller must exit the process right after. Returns how many process
// groups it killed.
int killChildrenForExit();

// From now on runProcess starts a child only when `gate` says yes at that moment (checked
// under the lock that killChildrenForExit takes), else it reports an error without running
// anything: helm writes to the cluster, so a replica that no longer holds the leader Lease
// must not start one. An empty gate lets everything run (the default).
void setStartGate(std::function<bool()> gate);

// How many children runProcess has running now (for logs and tests).
int runningChildren();

}  // namespace envop::helm
