#include "controller/runtime/work_queue.h"

#include <chrono>

namespace envop::runtime {
namespace {

double secondsBetween(util::TimePoint from, util::TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

WorkQueueCore::WorkQueueCore(util::ClockPtr clock, RateLimiterPtr rateLimiter,
                             WorkQueueMetricsPtr metrics)
    : clock_(std::move(clock)),
      rateLimiter_(rateLimiter ? std::move(rateLimiter) : defaultControllerRateLimiter(clock_)),
      metrics_(metrics ? std::move(metrics) : std::make_shared<NullWorkQueueMetrics>()) {}

void WorkQueueCore::add(const std::string& key) {
  promoteDue();
  enqueue(key, clock_->now());
}

void WorkQueueCore::addAfter(const std::string& key, util::Duration delay) {
  promoteDue();
  if (shuttingDown_) return;
  metrics_->onRetry();
  const util::TimePoint now = clock_->now();
  if (delay <= util::Duration::zero()) {
    enqueue(key, now);
    return;
  }
  const ReadyOrder order{now + delay, nextSequence_++};
  const auto [it, inserted] = delayedIndex_.try_emplace(key, order);
  if (!inserted) {
    // Already delayed: the earlier ready time wins, so a short requeueAfter is not lost behind
    // a long backoff (nor the other way round).
    if (it->second.first <= order.first) return;
    delayed_.erase(it->second);
    it->second = order;
  }
  delayed_.emplace(order, key);
  reportDelayed(now);
}

void WorkQueueCore::addRateLimited(const std::string& key) {
  if (shuttingDown_) return;
  addAfter(key, rateLimiter_->when(key));
}

void WorkQueueCore::addUnlessBackingOff(const std::string& key) {
  // Every failure ends in addRateLimited and every success or terminal error in forget, so a
  // key with retries on record has its retry scheduled already.
  if (rateLimiter_->retries(key) > 0) return;
  add(key);
}

void WorkQueueCore::forget(const std::string& key) { rateLimiter_->forget(key); }

int WorkQueueCore::numRequeues(const std::string& key) const { return rateLimiter_->retries(key); }

std::optional<std::string> WorkQueueCore::tryGet() {
  promoteDue();
  if (queue_.empty()) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();

  const util::TimePoint now = clock_->now();
  if (const auto it = dirty_.find(key); it != dirty_.end()) {
    metrics_->onQueueDuration(secondsBetween(it->second, now));
    dirty_.erase(it);
  }
  metrics_->onDepth(dirty_.size());
  processing_.emplace(key, now);
  return key;
}

void WorkQueueCore::done(const std::string& key) {
  promoteDue();
  const auto it = processing_.find(key);
  // A stray done() for a key that is queued would otherwise queue it a second time.
  if (it == processing_.end()) return;
  metrics_->onWorkDuration(secondsBetween(it->second, clock_->now()));
  processing_.erase(it);
  // Added while it was processed: its turn now. This holds during shutdown too, like client-go,
  // because the add was accepted before the shutdown.
  if (dirty_.contains(key)) queue_.push_back(key);
}

void WorkQueueCore::shutDown() {
  shuttingDown_ = true;
  // No worker will be there when they become ready.
  delayed_.clear();
  delayedIndex_.clear();
  reportDelayed(clock_->now());
}

std::size_t WorkQueueCore::len() {
  promoteDue();
  return queue_.size();
}

std::optional<util::TimePoint> WorkQueueCore::nextReadyAt() const {
  if (delayed_.empty()) return std::nullopt;
  return delayed_.begin()->first.first;
}

void WorkQueueCore::promoteDue() {
  if (delayed_.empty()) return;
  const util::TimePoint now = clock_->now();
  if (delayed_.begin()->first.first > now) return;
  while (!delayed_.empty() && delayed_.begin()->first.first <= now) {
    auto node = delayed_.extract(delayed_.begin());
    delayedIndex_.erase(node.mapped());
    // Its queue time starts when it became ready, not when someone next looked.
    enqueue(node.mapped(), node.key().first);
  }
  reportDelayed(now);
}

void WorkQueueCore::reportDelayed(util::TimePoint now) {
  metrics_->onDelayed(delayed_.size(), nextReadyAt(), now);
}

void WorkQueueCore::enqueue(const std::string& key, util::TimePoint addedAt) {
  if (shuttingDown_ || dirty_.contains(key)) return;
  dirty_.emplace(key, addedAt);
  metrics_->onAdd();
  metrics_->onDepth(dirty_.size());
  // Being processed: done() queues it, so that no two workers hold the same key.
  if (processing_.contains(key)) return;
  queue_.push_back(key);
}

WorkQueue::WorkQueue(util::ClockPtr clock, RateLimiterPtr rateLimiter, WorkQueueMetricsPtr metrics)
    : core_(std::move(clock), std::move(rateLimiter), std::move(metrics)) {}

void WorkQueue::add(const std::string& key) {
  const std::lock_guard lock(mutex_);
  core_.add(key);
  ready_.notify_one();
}

void WorkQueue::addAfter(const std::string& key, util::Duration delay) {
  const std::lock_guard lock(mutex_);
  core_.addAfter(key, delay);
  // A blocked get() may be waiting for a later key than this one.
  ready_.notify_one();
}

void WorkQueue::addRateLimited(const std::string& key) {
  const std::lock_guard lock(mutex_);
  core_.addRateLimited(key);
  ready_.notify_one();
}

void WorkQueue::addUnlessBackingOff(const std::string& key) {
  const std::lock_guard lock(mutex_);
  core_.addUnlessBackingOff(key);
  ready_.notify_one();
}

std::optional<util::TimePoint> WorkQueue::nextReadyAt() {
  const std::lock_guard lock(mutex_);
  return core_.nextReadyAt();
}

void WorkQueue::forget(const std::string& key) {
  const std::lock_guard lock(mutex_);
  core_.forget(key);
}

int WorkQueue::numRequeues(const std::string& key) {
  const std::lock_guard lock(mutex_);
  return core_.numRequeues(key);
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (std::optional<std::string> key = core_.tryGet()) {
      // Wakeups are handed out one at a time; pass ours on if there is more for others to do
      // (a ready key, or a delayed one that only a waiting thread would notice).
      if (core_.len() > 0 || core_.nextReadyAt()) ready_.notify_one();
      return key;
    }
    if (core_.shuttingDown()) return std::nullopt;

    ++blockedGets_;
    if (const std::optional<util::TimePoint> readyAt = core_.nextReadyAt()) {
      // The injected clock need not be the real one: wait for its distance to the ready time.
      const util::Duration remaining = *readyAt - core_.clock()->now();
      ready_.wait_until(lock, std::chrono::steady_clock::now() + remaining);
    } else {
      ready_.wait(lock);
    }
    --blockedGets_;
  }
}

std::optional<std::string> WorkQueue::tryGet() {
  const std::lock_guard lock(mutex_);
  return core_.tryGet();
}

void WorkQueue::done(const std::string& key) {
  const std::lock_guard lock(mutex_);
  core_.done(key);
  if (core_.len() > 0) ready_.notify_one();
  if (core_.numProcessing() == 0) drained_.notify_all();
}

void WorkQueue::shutDown() {
  const std::lock_guard lock(mutex_);
  core_.shutDown();
  // A drain in progress gives up: shutDown() means stop now.
  draining_ = false;
  ready_.notify_all();
  drained_.notify_all();
}

void WorkQueue::shutDownWithDrain() {
  std::unique_lock lock(mutex_);
  core_.shutDown();
  draining_ = true;
  ready_.notify_all();
  drained_.wait(lock, [this] { return !draining_ || core_.numProcessing() == 0; });
  draining_ = false;
}

bool WorkQueue::shuttingDown() {
  const std::lock_guard lock(mutex_);
  return core_.shuttingDown();
}

std::size_t WorkQueue::len() {
  const std::lock_guard lock(mutex_);
  return core_.len();
}

std::size_t WorkQueue::blockedGets() {
  const std::lock_guard lock(mutex_);
  return blockedGets_;
}

}  // namespace envop::runtime
