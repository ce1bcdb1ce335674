// ReleaseRunner runs the releases part's helm actions (install, upgrade, repair, rollback,
// uninstall, unlock) off the reconcile workers, so that a `wait: true` release with a
// five-minute timeout holds a helm child and one of the runner's own threads, never a worker:
// the reconcile decides, starts the run here and returns. At most `limit` runs execute at once
// (--max-concurrent-helm); the rest wait in FIFO order. When a run ends its owner (the
// Environment's key) is handed to the notify callback, which puts it into the work queue, and
// the next reconcile takes the outcome — once — and continues the plan.
//
// A run is keyed by owner and release: a second start for a key that has a run queued,
// running or finished-but-not-taken is refused, so no release ever has two helms.
// limit 0 runs each job on the caller's thread inside start(): the part then behaves as it
// did before runs were asynchronous (the tests that drive ReleasesPart without a manager).
// No exception crosses this API; a job that throws finishes with that message.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controller/environment/release_actions.h"
#include "controller/environment/release_state.h"
#include "controller/helm/helm_process.h"

namespace envop::environment {

// What the pass that started a run knew and the pass that takes its outcome needs: the
// spec may have moved meanwhile, and the outcome is of what was started, not of the spec now.
struct RunIntent {
  ReleaseAction action = ReleaseAction::kInstall;
  std::string digest;       // the release digest applied (install, upgrade, repair)
  bool installing = false;  // no release was there before (an install, not an upgrade)
  // Deleted objects a repair recreates: reported as repaired once helm succeeded.
  std::vector<std::string> repairedOnSuccess;
  std::string chartLabel;             // "orders 1.0.0", for messages
  std::chrono::seconds timeout{300};  // the release's helm timeout, for messages
  bool wait = false;                  // helm --wait
};

struct RunView {
  enum class Phase { kQueued, kRunning, kFinished };
  Phase phase = Phase::kQueued;
  RunIntent intent;
  int queuePosition = 0;  // kQueued: 1 for the next to start
  int running = 0;        // how many runs execute now (for a queued run's message)
  int limit = 0;
  ActionOutcome outcome;  // kFinished only
};

class ReleaseRunner final {
 public:
  using Job = std::function<ActionOutcome()>;
  using Notify = std::function<void(const std::string& owner)>;

  explicit ReleaseRunner(int limit, Notify notify = nullptr);
  // Drops queued runs and waits for running ones (see stop).
  ~ReleaseRunner();
  ReleaseRunner(const ReleaseRunner&) = delete;
  ReleaseRunner& operator=(const ReleaseRunner&) = delete;

  // Set before the first start; called on a runner thread, outside the runner's lock.
  void setNotify(Notify notify);

  enum class Started { kStarted, kBusy, kRefused };
  // kBusy: a run of this release exists (queued, running, or finished and not yet taken).
  // kRefused: the runner is draining (SIGTERM) or stopped; nothing was run.
  Started start(const std::string& owner, const std::string& release, RunIntent intent, Job job);

  // The run of a release, if any, without consuming it.
  std::optional<RunView> view(const std::string& owner, const std::string& release) const;
  // A finished run's outcome, consumed: a second call returns nothing.
  std::optional<RunView> take(const std::string& owner, const std::string& release);

  // For an Environment being deleted: its queued runs are dropped (they never started) and,
  // with kill, its running ones are cancelled (their helm process groups killed). Returns how
  // many of its runs are still running.
  int cancel(const std::string& owner, bool kill);
  // Runs of an owner that are queued or running.
  int activeRuns(const std::string& owner) const;
  // Drops the owner's finished outcomes nobody took.
  void forget(const std::string& owner);

  // SIGTERM: no run starts from now on; queued ones are dropped (they never started, so they
  // leave no pending-* lock behind). Running ones go on.
  void stopAccepting();
  // Waits up to `timeout` until no run is running; true when none is.
  bool waitIdle(std::chrono::milliseconds timeout);
  // stopAccepting, then waits for the running runs and joins the threads.
  void stop();

  int running() const;
  int queued() const;
  int limit() const { return limit_; }

 private:
  struct Run {
    std::string owner;
    std::string release;
    RunIntent intent;
    Job job;
    RunView::Phase phase = RunView::Phase::kQueued;
    std::chrono::steady_clock::time_point since;
    helm::CancelTokenPtr token = std::make_shared<helm::CancelToken>();
    ActionOutcome outcome;
  };
  using Key = std::pair<std::string, std::string>;

  void work();
  static ActionOutcome execute(Run& run);
  RunView viewOf(const Run& run) const;  // mu_ held
  void publishGauges() const;            // mu_ held

  const int limit_;
  mutable std::mutex mu_;
  std::condition_variable wake_;  // a run queued, or stopping
  std::condition_variable idle_;  // a run finished
  Notify notify_;
  std::map<Key, Run> runs_;
  std::deque<Key> queue_;
  int running_ = 0;
  bool accepting_ = true;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Reasons for a release whose run is not finished, for ReleasesReady=False.
const char* runReason(const RunView& run);
// "release orders: install of orders 1.0.0 running (helm --wait, timeout 300s)" or
// "release orders: upgrade of orders 1.0.0 queued behind --max-concurrent-helm=8 (8 running,
// 2nd in line)". No elapsed time: the message goes into status, and a status that changed on
// every look would be written on every look.
std::string runMessage(const std::string& release, const RunView& run);

}  // namespace envop::environment
