// Helm actions that are no process, for ReleaseRunner's tests: each job blocks until the test
// lets it finish (or its run is cancelled), so the test decides when a "helm" ends and sees how
// many ran at once.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "controller/environment/release_actions.h"
#include "controller/helm/helm_process.h"

namespace envop::testing {

class FakeHelmJobs final {
 public:
  // A job named `name`: it counts as running until finish(name) or a cancel of its run.
  std::function<environment::ActionOutcome()> job(const std::string& name, bool ok = true) {
    return [this, name, ok] {
      std::unique_lock lock(mu_);
      started_.push_back(name);
      ++running_;
      maxRunning_ = std::max(maxRunning_, running_);
      changed_.notify_all();
      const helm::CancelTokenPtr token = helm::currentCancelToken();
      bool cancelled = false;
      while (!released_.count(name)) {
        // A real helm child notices its token within kCancelPoll; so does this one.
        changed_.wait_for(lock, std::chrono::milliseconds(10));
        if (token && token->cancelled()) {
          cancelled = true;
          break;
        }
      }
      --running_;
      changed_.notify_all();
      if (cancelled) return environment::ActionOutcome{.message = name + " cancelled"};
      return environment::ActionOutcome{.ok = ok, .revision = 1, .message = name};
    };
  }
  void finish(const std::string& name) {
    std::lock_guard lock(mu_);
    released_.insert({name, true});
    changed_.notify_all();
  }
  // Waits (up to 10 s) until `n` jobs have started; false if they did not.
  bool waitStarted(std::size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return started_.size() >= n; });
  }
  bool waitRunning(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return running_ == n; });
  }
  std::vector<std::string> started() const {
    std::lock_guard lock(mu_);
    return started_;
  }
  int maxRunning() const {
    std::lock_guard lock(mu_);
    return maxRunning_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, bool> released_;
  std::vector<std::string> started_;
  int running_ = 0;
  int maxRunning_ = 0;
};

// Collects the owners a runner wakes, in order.
class FakeWakeups final {
 public:
  void operator()(const std::string& owner) {
    std::lock_guard lock(mu_);
    owners_.push_back(owner);
    changed_.notify_all();
  }
  bool waitFor(std::size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return owners_.size() >= n; });
  }
  std::vector<std::string> owners() const {
    std::lock_guard lock(mu_);
    return owners_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> owners_;
};

}  // namespace envop::testing
