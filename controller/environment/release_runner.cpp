#include "controller/environment/release_runner.h"

#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "controller/util/metrics.h"

namespace envop::environment {
namespace {

using Clock = std::chrono::steady_clock;

struct RunGauges {
  prometheus::Family<prometheus::Gauge>& family =
      prometheus::BuildGauge()
          .Name("envop_helm_runs")
          .Help(
              "Helm runs of releases by state: running (a helm child each, at most "
              "--max-concurrent-helm) and queued behind that limit.")
          .Register(util::metricsRegistry());
  prometheus::Gauge& running = family.Add({{"state", "running"}});
  prometheus::Gauge& queued = family.Add({{"state", "queued"}});

  static RunGauges& get() {
    static RunGauges g;
    return g;
  }
};

const char* actionVerb(ReleaseAction action) {
  switch (action) {
    case ReleaseAction::kInstall:
      return "install";
    case ReleaseAction::kUpgrade:
      return "upgrade";
    case ReleaseAction::kRepair:
      return "drift repair";
    case ReleaseAction::kUnlock:
      return "recovery of a stale pending-* lock";
    case ReleaseAction::kRollback:
      return "rollback";
    case ReleaseAction::kUninstall:
      return "uninstall";
    default:
      return "helm run";
  }
}

std::string ordinal(int n) {
  const int tens = n % 100;
  const char* suffix = (tens >= 11 && tens <= 13) ? "th"
                       : n % 10 == 1              ? "st"
                       : n % 10 == 2              ? "nd"
                       : n % 10 == 3              ? "rd"
                                                  : "th";
  return std::to_string(n) + suffix;
}

}  // namespace

ReleaseRunner::ReleaseRunner(int limit, Notify notify)
    : limit_(std::max(limit, 0)), notify_(std::move(notify)) {
  RunGauges::get();  // the family exists from the start, at zero
  for (int i = 0; i < limit_; ++i) threads_.emplace_back([this] { work(); });
}

ReleaseRunner::~ReleaseRunner() { stop(); }

void ReleaseRunner::setNotify(Notify notify) {
  std::lock_guard lock(mu_);
  notify_ = std::move(notify);
}

ActionOutcome ReleaseRunner::execute(Run& run) {
  // Every helm child of this job obeys the run's token (cancel with kill).
  helm::CancelScope scope(run.token);
  try {
    return run.job();
  } catch (const std::exception& e) {
    return {.message = "release " + run.release + ": " + e.what()};
  } catch (...) {
    return {.message = "release " + run.release + ": unknown error"};
  }
}

ReleaseRunner::Started ReleaseRunner::start(const std::string& owner, const std::string& release,
                                            RunIntent intent, Job job) {
  std::unique_lock lock(mu_);
  if (!accepting_) return Started::kRefused;
  const Key key{owner, release};
  if (runs_.count(key) != 0) return Started::kBusy;
  Run& run = runs_[key];
  run.owner = owner;
  run.release = release;
  run.intent = std::move(intent);
  run.job = std::move(job);
  run.since = Clock::now();
  if (limit_ == 0) {
    // Inline: the caller's thread is the runner's; the caller takes the outcome right after.
    run.phase = RunView::Phase::kRunning;
    ++running_;
    lock.unlock();
    ActionOutcome outcome = execute(run);  // the entry cannot go: only this caller has the key
    lock.lock();
    run.outcome = std::move(outcome);
    run.phase = RunView::Phase::kFinished;
    run.job = nullptr;
    --running_;
    idle_.notify_all();
    return Started::kStarted;
  }
  queue_.push_back(key);
  RunGauges::get().queued.Increment();
  wake_.notify_one();
  return Started::kStarted;
}

void ReleaseRunner::work() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left that may start
    const Key key = queue_.front();
    queue_.pop_front();
    RunGauges::get().queued.Decrement();
    auto it = runs_.find(key);
    if (it == runs_.end() || it->second.phase != RunView::Phase::kQueued) continue;
    Run& run = it->second;
    run.phase = RunView::Phase::kRunning;
    run.since = Clock::now();
    ++running_;
    RunGauges::get().running.Increment();
    // The map entry stays while it runs: cancel() and forget() leave running runs in place.
    lock.unlock();
    ActionOutcome outcome = execute(run);
    lock.lock();
    run.outcome = std::move(outcome);
    run.phase = RunView::Phase::kFinished;
    run.job = nullptr;
    --running_;
    RunGauges::get().running.Decrement();
    const bool cancelled = run.token->cancelled();
    if (cancelled) runs_.erase(it);  // nobody waits for the outcome of a cancelled run
    Notify notify = notify_;
    idle_.notify_all();
    lock.unlock();
    // Its exit is an event for its Environment: the next reconcile takes the outcome (or, for
    // a cancelled run, finds no run left and lets the finalizer go).
    if (notify) {
      try {
        notify(key.first);
      } catch (const std::exception& e) {
        spdlog::error("helm run of {}/{}: waking its Environment: {}", key.first, key.second,
                      e.what());
      }
    }
    lock.lock();
  }
}

RunView ReleaseRunner::viewOf(const Run& run) const {
  RunView v;
  v.phase = run.phase;
  v.intent = run.intent;
  v.running = running_;
  v.limit = limit_;
  if (run.phase == RunView::Phase::kQueued) {
    const auto at = std::find(queue_.begin(), queue_.end(), Key{run.owner, run.release});
    v.queuePosition = static_cast<int>(at - queue_.begin()) + 1;
  }
  if (run.phase == RunView::Phase::kFinished) v.outcome = run.outcome;
  return v;
}

std::optional<RunView> ReleaseRunner::view(const std::string& owner,
                                           const std::string& release) const {
  std::lock_guard lock(mu_);
  auto it = runs_.find({owner, release});
  if (it == runs_.end()) return std::nullopt;
  return viewOf(it->second);
}

std::optional<RunView> ReleaseRunner::take(const std::string& owner, const std::string& release) {
  std::lock_guard lock(mu_);
  auto it = runs_.find({owner, release});
  if (it == runs_.end() || it->second.phase != RunView::Phase::kFinished) return std::nullopt;
  RunView v = viewOf(it->second);
  runs_.erase(it);
  return v;
}

int ReleaseRunner::cancel(const std::string& owner, bool kill) {
  std::lock_guard lock(mu_);
  int stillRunning = 0;
  for (auto it = runs_.lower_bound({owner, ""}); it != runs_.end() && it->first.first == owner;) {
    Run& run = it->second;
    if (run.phase == RunView::Phase::kRunning) {
      if (kill) run.token->cancel();
      ++stillRunning;
      ++it;
      continue;
    }
    if (run.phase == RunView::Phase::kQueued) {
      queue_.erase(std::remove(queue_.begin(), queue_.end(), it->first), queue_.end());
      RunGauges::get().queued.Decrement();
      spdlog::info("helm run of {}/{} dropped before it started: its Environment is deleted", owner,
                   run.release);
    }
    it = runs_.erase(it);
  }
  return stillRunning;
}

int ReleaseRunner::activeRuns(const std::string& owner) const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (auto it = runs_.lower_bound({owner, ""}); it != runs_.end() && it->first.first == owner;
       ++it) {
    if (it->second.phase != RunView::Phase::kFinished) ++n;
  }
  return n;
}

void ReleaseRunner::forget(const std::string& owner) {
  std::lock_guard lock(mu_);
  for (auto it = runs_.lower_bound({owner, ""}); it != runs_.end() && it->first.first == owner;) {
    it = it->second.phase == RunView::Phase::kFinished ? runs_.erase(it) : std::next(it);
  }
}

void ReleaseRunner::stopAccepting() {
  std::lock_guard lock(mu_);
  accepting_ = false;
  // Runs that have not started never will: they leave no lock behind, and the next leader
  // decides them afresh.
  for (const Key& key : queue_) {
    auto it = runs_.find(key);
    if (it != runs_.end() && it->second.phase == RunView::Phase::kQueued) runs_.erase(it);
  }
  RunGauges::get().queued.Decrement(static_cast<double>(queue_.size()));
  queue_.clear();
}

bool ReleaseRunner::waitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_.wait_for(lock, timeout, [this] { return running_ == 0; });
}

void ReleaseRunner::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
  }
  stopAccepting();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    notify_ = nullptr;  // what it wakes may be gone by now
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

int ReleaseRunner::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

int ReleaseRunner::queued() const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [key, run] : runs_) n += run.phase == RunView::Phase::kQueued ? 1 : 0;
  return n;
}

const char* runReason(const RunView& run) {
  if (run.phase == RunView::Phase::kQueued) return "HelmRunQueued";
  switch (run.intent.action) {
    case ReleaseAction::kInstall:
      return "Installing";
    case ReleaseAction::kUpgrade:
      return "Upgrading";
    case ReleaseAction::kRepair:
      return "RepairingDrift";
    case ReleaseAction::kUnlock:
      return "Recovering";
    case ReleaseAction::kRollback:
      return "RollingBack";
    case ReleaseAction::kUninstall:
      return "Uninstalling";
    default:
      return "ReleasesProgressing";
  }
}

std::string runMessage(const std::string& release, const RunView& run) {
  std::string text = "release " + release + ": " + actionVerb(run.intent.action);
  if (!run.intent.chartLabel.empty()) text += " of " + run.intent.chartLabel;
  if (run.phase == RunView::Phase::kQueued) {
    return text + " queued behind --max-concurrent-helm=" + std::to_string(run.limit) + " (" +
           std::to_string(run.running) + " running, " + ordinal(run.queuePosition) + " in line)";
  }
  return text + " running" +
         (run.intent.wait
              ? " (helm --wait, timeout " + std::to_string(run.intent.timeout.count()) + "s)"
              : "");
}

}  // namespace envop::environment
