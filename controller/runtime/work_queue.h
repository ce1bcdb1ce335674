// The WorkQueue holds the keys ("name" or "namespace/name") of the objects a controller must
// reconcile, with client-go's semantics: a key added several times while it waits is queued once;
// a key is never handed to two workers at once (added while being processed, it is marked dirty
// and queued again when the worker calls done); a key can be added after a delay (the earliest of
// several delays wins) or after the rate limiter's backoff; a shut-down queue refuses new keys
// but still hands out the ones already queued, then tells every get() to stop.
//
// WorkQueueCore is all of that logic, non-blocking and single-threaded, reading time only from an
// injected clock so that tests drive delayed adds with a FakeClock. WorkQueue is the thread-safe
// layer the workers use: a mutex around the core and a blocking get().
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "controller/runtime/rate_limiter.h"
#include "controller/util/clock.h"

namespace envop::runtime {

// What the queue reports, one callback per workqueue_* metric of controller-runtime. Callbacks
// run under the queue's lock: they must be quick and must not call back into the queue.
class WorkQueueMetrics {
 public:
  virtual ~WorkQueueMetrics() = default;
  // workqueue_depth (a gauge): keys waiting to be handed out, counting a key that was added
  // while being processed, as client-go does. Called with the new value after every change.
  virtual void onDepth(std::size_t depth) noexcept = 0;
  // workqueue_adds_total: a key entered the queue; adds absorbed by deduplication do not count.
  virtual void onAdd() noexcept = 0;
  // workqueue_queue_duration_seconds: from a key's add (or, for a delayed add, from the moment it
  // became ready) to the get() that handed it out.
  virtual void onQueueDuration(double seconds) noexcept = 0;
  // workqueue_work_duration_seconds: from get() to done().
  virtual void onWorkDuration(double seconds) noexcept = 0;
  // workqueue_retries_total: every addAfter and addRateLimited, as client-go counts them.
  virtual void onRetry() noexcept = 0;
  // Keys waiting out a delay (a backoff, a requeueAfter) and when the earliest is due, measured
  // on the queue's clock at `now`; called after every change. workqueue_depth leaves them out,
  // as client-go's does, so without this a pending retry looks like an idle controller.
  virtual void onDelayed(std::size_t /*keys*/, std::optional<util::TimePoint> /*earliest*/,
                         util::TimePoint /*now*/) noexcept {}
};
using WorkQueueMetricsPtr = std::shared_ptr<WorkQueueMetrics>;

class NullWorkQueueMetrics final : public WorkQueueMetrics {
 public:
  void onDepth(std::size_t /*depth*/) noexcept override {}
  void onAdd() noexcept override {}
  void onQueueDuration(double /*seconds*/) noexcept override {}
  void onWorkDuration(double /*seconds*/) noexcept override {}
  void onRetry() noexcept override {}
};

class WorkQueueCore final {
 public:
  // A null rate limiter means defaultControllerRateLimiter(clock); null metrics report nowhere.
  WorkQueueCore(util::ClockPtr clock, RateLimiterPtr rateLimiter = nullptr,
                WorkQueueMetricsPtr metrics = nullptr);

  void add(const std::string& key);
  // A delay <= 0 adds now.
  void addAfter(const std::string& key, util::Duration delay);
  // addAfter with the rate limiter's delay for the key; counts a failure of the key.
  void addRateLimited(const std::string& key);
  // add(), unless the key is failing: its last reconcile failed and has not been forgotten, so
  // a rate-limited retry is already scheduled (or the key is being processed and its outcome
  // will schedule one). For events that change nothing the reconciler acts on (a status write,
  // a resync): with a plain add() they would cut the backoff short and a failing key would spin.
  void addUnlessBackingOff(const std::string& key);
  // After a successful reconcile: resets the key's backoff. Does not remove a queued key.
  void forget(const std::string& key);
  int numRequeues(const std::string& key) const;

  // The next ready key, which the caller now processes and must pass to done(); nullopt when no
  // key is ready (check shuttingDown() to tell an idle queue from a finished one).
  std::optional<std::string> tryGet();
  // The worker finished the key; if it was added meanwhile, it is queued again. A key that is
  // not being processed is ignored.
  void done(const std::string& key);

  // Refuses new keys and drops the delayed ones; keys already queued are still handed out.
  void shutDown();
  bool shuttingDown() const { return shuttingDown_; }

  // Keys ready to be handed out.
  std::size_t len();
  // Keys handed out and not yet done.
  std::size_t numProcessing() const { return processing_.size(); }
  // When the earliest delayed key becomes ready; nullopt when none waits.
  std::optional<util::TimePoint> nextReadyAt() const;
  const util::ClockPtr& clock() const { return clock_; }

 private:
  // Delayed keys are ordered by ready time, then by the order they were delayed in.
  using ReadyOrder = std::pair<util::TimePoint, std::uint64_t>;

  // Every operation first moves the delayed keys that are due into the queue, so that the order
  // is the one a background timer would have produced.
  void promoteDue();
  void enqueue(const std::string& key, util::TimePoint addedAt);
  void reportDelayed(util::TimePoint now);

  util::ClockPtr clock_;
  RateLimiterPtr rateLimiter_;
  WorkQueueMetricsPtr metrics_;

  std::deque<std::string> queue_;
  // Keys to be processed (queued, or added while processing) -> when they were added.
  std::unordered_map<std::string, util::TimePoint> dirty_;
  // Keys handed out -> when.
  std::unordered_map<std::string, util::TimePoint> processing_;
  std::map<ReadyOrder, std::string> delayed_;
  std::unordered_map<std::string, ReadyOrder> delayedIndex_;
  std::uint64_t nextSequence_ = 0;
  bool shuttingDown_ = false;
};

class WorkQueue final {
 public:
  explicit WorkQueue(util::ClockPtr clock = util::steadyClock(),
                     RateLimiterPtr rateLimiter = nullptr, WorkQueueMetricsPtr metrics = nullptr);

  void add(const std::string& key);
  void addAfter(const std::string& key, util::Duration delay);
  void addRateLimited(const std::string& key);
  void addUnlessBackingOff(const std::string& key);
  void forget(const std::string& key);
  int numRequeues(const std::string& key);
  // When the earliest delayed key becomes ready (on the injected clock); nullopt when none waits.
  std::optional<util::TimePoint> nextReadyAt();

  // Blocks until a key is ready and returns it; the caller must pass it to done(). Returns
  // nullopt once the queue is shut down and holds no ready key.
  std::optional<std::string> get();
  // get() without blocking, for tests driven by a FakeClock (which a blocked get() would only
  // notice when the real time it computed from that clock has elapsed).
  std::optional<std::string> tryGet();
  void done(const std::string& key);

  // Wakes every blocked get(); new adds are ignored.
  void shutDown();
  // shutDown(), then waits until no key is being processed (or until shutDown() is called).
  void shutDownWithDrain();
  bool shuttingDown();

  std::size_t len();
  // Threads blocked in get(): the idle workers.
  std::size_t blockedGets();

 private:
  std::mutex mutex_;
  // Signalled when a key may have become ready or the earliest delay changed.
  std::condition_variable ready_;
  // Signalled when the last key being processed is done.
  std::condition_variable drained_;
  WorkQueueCore core_;
  bool draining_ = false;
  std::size_t blockedGets_ = 0;
};

}  // namespace envop::runtime
