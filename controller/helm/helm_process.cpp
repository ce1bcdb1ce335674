#include "controller/helm/helm_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <future>
#include <mutex>
#include <set>
#include <thread>

namespace envop::helm {
namespace {

namespace bp = boost::process;
using Clock = std::chrono::steady_clock;

// After a kill, how long the pipes may take to reach EOF; only a grandchild that left the
// process group could keep them open that long.
constexpr std::chrono::seconds kDrainAfterKill{5};

// The process groups of the children runProcess has running. A group is registered under the
// lock as soon as its leader exists and removed under the lock before its leader is reaped, so
// a pid killed through this set is never one the kernel has handed to another process.
struct Children {
  std::mutex mutex;
  std::set<pid_t> groups;
  std::function<bool()> gate;
};
Children& children() {
  // Never destroyed: killChildrenForExit keeps the mutex locked while the process exits.
  static Children* c = new Children;
  return *c;
}

std::string ready(std::future<std::string>& f) {
  if (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return "";
  return f.get();
}

// Exited (or gone), without reaping it: a zombie keeps its pid, and so its process group id,
// from being reused while it is still registered.
bool exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return true;
  return info.si_pid == pid;
}

// Runs in the child between fork and exec, so only async-signal-safe calls: no allocation, no
// lock. `parent` and `maxFd` are computed before the fork.
void setUpChild(pid_t parent, int maxFd) {
  // Die with the controller. If it died before prctl took effect, we were already reparented.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
  // Everything but the three standard streams closes at exec. Close-on-exec rather than
  // close: Boost.Process reports a failed exec through a descriptor of its own, already marked.
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < maxFd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // kernel < 5.11
  }
}

thread_local CancelTokenPtr tCancelToken;

bool isCancelled(const CancelTokenPtr& token) { return token && token->cancelled(); }

int descriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 65536;
  return static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 1 << 20));
}

}  // namespace

CancelScope::CancelScope(CancelTokenPtr token) : previous_(std::move(tCancelToken)) {
  tCancelToken = std::move(token);
}
CancelScope::~CancelScope() { tCancelToken = std::move(previous_); }
CancelTokenPtr currentCancelToken() { return tCancelToken; }

ProcessOutput runProcess(const std::string& executable, const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& environment,
                         const std::string& stdinData, std::chrono::milliseconds timeout) {
  ProcessOutput result;
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  Children& registry = children();
  const CancelTokenPtr token = tCancelToken;
  if (isCancelled(token)) {
    result.cancelled = true;
    result.error = "not started: cancelled";
    return result;
  }
  try {
    bp::environment env;
    // set(), not operator[]: Boost 1.74's environment::find reads past the end of
    // shorter entries (AddressSanitizer catches it); set() compares within bounds.
    for (const auto& [k, v] : environment) env.set(k, v);
    boost::asio::io_context io;
    std::future<std::string> out;
    std::future<std::string> err;
    bp::group group;
    const pid_t parent = ::getpid();
    const int maxFd = descriptorLimit();
    auto setup = bp::extend::on_exec_setup = [parent, maxFd](auto&) { setUpChild(parent, maxFd); };
    std::unique_lock lock(registry.mutex);
    if (registry.gate && !registry.gate()) {
      result.error = "not started: this replica may no longer act on the cluster";
      result.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      return result;
    }
    bp::child child =
        stdinData.empty()
            ? bp::child(bp::exe = executable, bp::args = args, env, group,
                        bp::std_in<bp::null, bp::std_out> out, bp::std_err > err, io, setup)
            : bp::child(bp::exe = executable, bp::args = args, env, group,
                        bp::std_in<boost::asio::buffer(stdinData), bp::std_out> out,
                        bp::std_err > err, io, setup);
    // The child has exec'd (Boost waits for that), so its process group exists.
    const pid_t pid = child.id();
    registry.groups.insert(pid);
    lock.unlock();
    // The io_context runs out of work when both pipes reach EOF, which is normally exit. It
    // runs in slices only when there is a token to look at between them.
    while (!io.stopped() && Clock::now() < deadline && !isCancelled(token)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      io.run_for(token ? std::min(left, kCancelPoll) : left);
    }
    std::error_code ec;
    const auto killNow = [&] {
      result.cancelled = isCancelled(token);
      result.timedOut = !result.cancelled;
      group.terminate(ec);
    };
    if (!io.stopped()) {
      killNow();
      io.restart();
      io.run_for(kDrainAfterKill);
    }
    // A child may close its pipes before it exits: give it the rest of the deadline.
    while (!result.timedOut && !result.cancelled && !exited(pid) && Clock::now() < deadline &&
           !isCancelled(token)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!result.timedOut && !result.cancelled && !exited(pid)) killNow();
    lock.lock();  // blocks for good once killChildrenForExit has run
    registry.groups.erase(pid);
    lock.unlock();
    const bool killed = result.timedOut || result.cancelled;
    if (!killed) group.detach();  // exited: nothing left to kill
    child.wait(ec);
    result.exitCode = killed ? -1 : child.exit_code();
    if (result.cancelled) result.error = "cancelled: its process group was killed";
    result.out = ready(out);
    result.err = ready(err);
  } catch (const std::exception& e) {
    result.error = std::string("cannot run ") + executable + ": " + e.what();
  }
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return result;
}

int killChildrenForExit() {
  Children& registry = children();
  registry.mutex.lock();  // never unlocked: the process is about to exit
  for (pid_t group : registry.groups) ::kill(-group, SIGKILL);
  return static_cast<int>(registry.groups.size());
}

void setStartGate(std::function<bool()> gate) {
  Children& registry = children();
  std::lock_guard lock(registry.mutex);
  registry.gate = std::move(gate);
}

int runningChildren() {
  Children& registry = children();
  std::lock_guard lock(registry.mutex);
  return static_cast<int>(registry.groups.size());
}

}  // namespace envop::helm
