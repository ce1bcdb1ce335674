#include "controller/runtime/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace envop::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Key = std::optional<std::string>;

// Records every callback so that tests can check the values the prometheus adapter would see.
class RecordingMetrics final : public WorkQueueMetrics {
 public:
  void onDepth(std::size_t depth) noexcept override { depths.push_back(depth); }
  void onAdd() noexcept override { ++adds; }
  void onQueueDuration(double s) noexcept override { queueDurations.push_back(s); }
  void onWorkDuration(double s) noexcept override { workDurations.push_back(s); }
  void onRetry() noexcept override { ++retries; }
  void onDelayed(std::size_t keys, std::optional<util::TimePoint> earliest,
                 util::TimePoint now) noexcept override {
    delayedKeys = keys;
    dueIn = earliest ? std::optional(*earliest - now) : std::nullopt;
  }

  std::size_t delayedKeys = 0;
  std::optional<util::Duration> dueIn;
  std::vector<std::size_t> depths;
  int adds = 0;
  std::vector<double> queueDurations;
  std::vector<double> workDurations;
  int retries = 0;
};

class WorkQueueCoreTest : public ::testing::Test {
 protected:
  std::shared_ptr<util::FakeClock> clock_ = std::make_shared<util::FakeClock>();
  WorkQueueCore queue_{clock_};
};

TEST_F(WorkQueueCoreTest, HandsOutKeysInAddOrder) {
  queue_.add("ns/a");
  queue_.add("ns/b");
  queue_.add("c");
  EXPECT_EQ(queue_.tryGet(), Key("ns/a"));
  EXPECT_EQ(queue_.tryGet(), Key("ns/b"));
  EXPECT_EQ(queue_.tryGet(), Key("c"));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
}

TEST_F(WorkQueueCoreTest, QueuesAKeyAddedSeveralTimesOnce) {
  queue_.add("a");
  queue_.add("b");
  queue_.add("a");
  queue_.add("a");
  EXPECT_EQ(queue_.len(), 2u);
  EXPECT_EQ(queue_.tryGet(), Key("a"));
  EXPECT_EQ(queue_.tryGet(), Key("b"));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
}

TEST_F(WorkQueueCoreTest, NeverHandsAKeyToTwoWorkers) {
  queue_.add("a");
  ASSERT_EQ(queue_.tryGet(), Key("a"));
  queue_.add("a");
  queue_.add("a");
  // A second worker finds nothing: "a" waits for the first worker's done().
  EXPECT_EQ(queue_.len(), 0u);
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  queue_.done("a");
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.tryGet(), Key("a"));
  queue_.done("a");
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
}

TEST_F(WorkQueueCoreTest, DoneWithoutAnAddDoesNotRequeue) {
  queue_.add("a");
  ASSERT_EQ(queue_.tryGet(), Key("a"));
  queue_.done("a");
  EXPECT_EQ(queue_.len(), 0u);
  EXPECT_EQ(queue_.numProcessing(), 0u);
}

TEST_F(WorkQueueCoreTest, IgnoresDoneForAKeyNotBeingProcessed) {
  queue_.add("a");
  queue_.done("a");
  queue_.done("b");
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.tryGet(), Key("a"));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
}

TEST_F(WorkQueueCoreTest, AddAfterWaitsForTheClock) {
  queue_.addAfter("a", seconds(1));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  EXPECT_EQ(queue_.nextReadyAt(), clock_->now() + seconds(1));
  clock_->advance(milliseconds(999));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  clock_->advance(milliseconds(1));
  EXPECT_EQ(queue_.tryGet(), Key("a"));
  EXPECT_EQ(queue_.nextReadyAt(), std::nullopt);
}

TEST_F(WorkQueueCoreTest, AddAfterWithoutDelayAddsNow) {
  queue_.addAfter("a", seconds(0));
  queue_.addAfter("b", -seconds(1));
  EXPECT_EQ(queue_.tryGet(), Key("a"));
  EXPECT_EQ(queue_.tryGet(), Key("b"));
}

TEST_F(WorkQueueCoreTest, DelayedKeysComeOutInReadyOrder) {
  queue_.addAfter("c", seconds(3));
  queue_.addAfter("a", seconds(1));
  queue_.addAfter("b", seconds(2));
  queue_.addAfter("b2", seconds(2));
  clock_->advance(seconds(5));
  // Added now, after the others became ready while nobody was looking.
  queue_.add("d");
  EXPECT_EQ(queue_.tryGet(), Key("a"));
  EXPECT_EQ(queue_.tryGet(), Key("b"));
  EXPECT_EQ(queue_.tryGet(), Key("b2"));
  EXPECT_EQ(queue_.tryGet(), Key("c"));
  EXPECT_EQ(queue_.tryGet(), Key("d"));
}

TEST_F(WorkQueueCoreTest, EarliestOfSeveralDelaysWins) {
  queue_.addAfter("a", seconds(10));
  queue_.addAfter("a", seconds(2));
  queue_.addAfter("a", seconds(5));
  EXPECT_EQ(queue_.nextReadyAt(), clock_->now() + seconds(2));
  clock_->advance(seconds(2));
  EXPECT_EQ(queue_.tryGet(), Key("a"));
  queue_.done("a");
  // The later delays were absorbed, not kept as extra adds.
  clock_->advance(seconds(10));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
}

TEST_F(WorkQueueCoreTest, DelayedKeyThatIsAlreadyQueuedIsQueuedOnce) {
  queue_.add("a");
  queue_.addAfter("a", seconds(1));
  clock_->advance(seconds(1));
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.tryGet(), Key("a"));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
}

TEST_F(WorkQueueCoreTest, DelayedKeyBeingProcessedWaitsForDone) {
  queue_.add("a");
  ASSERT_EQ(queue_.tryGet(), Key("a"));
  queue_.addAfter("a", seconds(1));
  clock_->advance(seconds(1));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  queue_.done("a");
  EXPECT_EQ(queue_.tryGet(), Key("a"));
}

TEST_F(WorkQueueCoreTest, AddRateLimitedBacksOffPerKeyUntilForgotten) {
  queue_.addRateLimited("a");
  EXPECT_EQ(queue_.numRequeues("a"), 1);
  EXPECT_EQ(queue_.nextReadyAt(), clock_->now() + milliseconds(5));
  clock_->advance(milliseconds(5));
  ASSERT_EQ(queue_.tryGet(), Key("a"));
  queue_.addRateLimited("a");
  queue_.done("a");
  clock_->advance(milliseconds(9));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  clock_->advance(milliseconds(1));
  ASSERT_EQ(queue_.tryGet(), Key("a"));
  EXPECT_EQ(queue_.numRequeues("a"), 2);
  queue_.forget("a");
  queue_.done("a");
  EXPECT_EQ(queue_.numRequeues("a"), 0);
  queue_.addRateLimited("a");
  EXPECT_EQ(queue_.nextReadyAt(), clock_->now() + milliseconds(5));
}

TEST_F(WorkQueueCoreTest, AddUnlessBackingOffLeavesAFailingKeyToItsBackoff) {
  // The reconcile of "a" failed: its retry waits 5 ms.
  queue_.addRateLimited("a");
  queue_.addUnlessBackingOff("a");
  EXPECT_EQ(queue_.tryGet(), std::nullopt) << "a status write must not cut the backoff short";
  clock_->advance(milliseconds(5));
  ASSERT_EQ(queue_.tryGet(), Key("a"));
  // While the retry runs, our own status write comes back as an event: not a second run either.
  queue_.addUnlessBackingOff("a");
  queue_.addRateLimited("a");  // it failed again: 10 ms now
  queue_.done("a");
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  clock_->advance(milliseconds(9));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  clock_->advance(milliseconds(1));
  ASSERT_EQ(queue_.tryGet(), Key("a"));
  queue_.forget("a");  // success
  queue_.done("a");
  // A key that is not failing is added at once.
  queue_.addUnlessBackingOff("a");
  EXPECT_EQ(queue_.tryGet(), Key("a"));
}

TEST_F(WorkQueueCoreTest, PlainAddStillCutsTheBackoffShort) {
  // A real change (a spec edit) of a failing key is reconciled at once, as in client-go.
  queue_.addRateLimited("a");
  queue_.add("a");
  EXPECT_EQ(queue_.tryGet(), Key("a"));
}

TEST_F(WorkQueueCoreTest, UsesTheInjectedRateLimiter) {
  WorkQueueCore queue(clock_, std::make_unique<ItemExponentialRateLimiter>(seconds(1), seconds(2)));
  queue.addRateLimited("a");
  EXPECT_EQ(queue.nextReadyAt(), clock_->now() + seconds(1));
}

TEST_F(WorkQueueCoreTest, ShutDownRefusesAddsButHandsOutQueuedKeys) {
  queue_.add("a");
  queue_.add("b");
  ASSERT_EQ(queue_.tryGet(), Key("a"));
  queue_.add("a");
  queue_.addAfter("c", seconds(1));
  queue_.shutDown();
  EXPECT_TRUE(queue_.shuttingDown());
  queue_.add("d");
  queue_.addAfter("e", seconds(0));
  queue_.addRateLimited("f");
  EXPECT_EQ(queue_.numRequeues("f"), 0);
  clock_->advance(seconds(1));
  EXPECT_EQ(queue_.tryGet(), Key("b"));
  // "a" was added before the shutdown: it still gets its turn after done().
  queue_.done("a");
  EXPECT_EQ(queue_.tryGet(), Key("a"));
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  EXPECT_EQ(queue_.nextReadyAt(), std::nullopt);
}

TEST(WorkQueueMetricsTest, ReportDepthAddsAndDurations) {
  auto clock = std::make_shared<util::FakeClock>();
  auto metrics = std::make_shared<RecordingMetrics>();
  WorkQueueCore queue(clock, nullptr, metrics);

  queue.add("a");
  queue.add("a");
  queue.add("b");
  EXPECT_EQ(metrics->adds, 2);
  EXPECT_EQ(metrics->depths, (std::vector<std::size_t>{1, 2}));

  clock->advance(seconds(2));
  ASSERT_EQ(queue.tryGet(), Key("a"));
  EXPECT_EQ(metrics->queueDurations, std::vector<double>{2.0});
  EXPECT_EQ(metrics->depths.back(), 1u);

  clock->advance(milliseconds(1500));
  queue.done("a");
  EXPECT_EQ(metrics->workDurations, std::vector<double>{1.5});
  EXPECT_EQ(metrics->retries, 0);
}

TEST(WorkQueueMetricsTest, CountAKeyAddedWhileProcessingOnce) {
  auto clock = std::make_shared<util::FakeClock>();
  auto metrics = std::make_shared<RecordingMetrics>();
  WorkQueueCore queue(clock, nullptr, metrics);

  queue.add("a");
  ASSERT_EQ(queue.tryGet(), Key("a"));
  clock->advance(seconds(1));
  queue.add("a");
  clock->advance(seconds(1));
  queue.done("a");
  EXPECT_EQ(metrics->adds, 2);
  // The re-added key counts in the depth while it waits for done(), as in client-go.
  EXPECT_EQ(metrics->depths, (std::vector<std::size_t>{1, 0, 1}));
  clock->advance(seconds(3));
  ASSERT_EQ(queue.tryGet(), Key("a"));
  // Queued from its second add, not from the first one.
  EXPECT_EQ(metrics->queueDurations, (std::vector<double>{0.0, 4.0}));
  EXPECT_EQ(metrics->depths.back(), 0u);
}

// workqueue_depth leaves delayed keys out; without this report a retry due in a second looks
// like an idle controller.
TEST(WorkQueueMetricsTest, ReportDelayedKeysAndWhenTheEarliestIsDue) {
  auto clock = std::make_shared<util::FakeClock>();
  auto metrics = std::make_shared<RecordingMetrics>();
  WorkQueueCore queue(clock, nullptr, metrics);

  queue.addAfter("resync", seconds(600));
  queue.addAfter("retry", seconds(2));
  EXPECT_EQ(metrics->delayedKeys, 2u);
  EXPECT_EQ(metrics->dueIn, util::Duration(seconds(2)));
  EXPECT_TRUE(metrics->depths.empty()) << "a delayed key is not in workqueue_depth";

  clock->advance(seconds(3));
  ASSERT_EQ(queue.tryGet(), Key("retry"));
  EXPECT_EQ(metrics->delayedKeys, 1u);
  EXPECT_EQ(metrics->dueIn, util::Duration(seconds(597)));

  queue.shutDown();
  EXPECT_EQ(metrics->delayedKeys, 0u);
  EXPECT_EQ(metrics->dueIn, std::nullopt);
}

TEST(WorkQueueMetricsTest, CountRetriesAndTimeDelayedKeysFromReadiness) {
  auto clock = std::make_shared<util::FakeClock>();
  auto metrics = std::make_shared<RecordingMetrics>();
  WorkQueueCore queue(clock, nullptr, metrics);

  queue.addAfter("a", seconds(10));
  queue.addRateLimited("b");
  EXPECT_EQ(metrics->retries, 2);
  EXPECT_EQ(metrics->adds, 0);
  EXPECT_TRUE(metrics->depths.empty());

  clock->advance(seconds(12));
  ASSERT_EQ(queue.tryGet(), Key("b"));
  ASSERT_EQ(queue.tryGet(), Key("a"));
  EXPECT_EQ(metrics->adds, 2);
  ASSERT_EQ(metrics->queueDurations.size(), 2u);
  EXPECT_DOUBLE_EQ(metrics->queueDurations[0], 11.995);
  EXPECT_DOUBLE_EQ(metrics->queueDurations[1], 2.0);
}

TEST(WorkQueueTest, TryGetAndDoneThroughTheThreadSafeLayer) {
  auto clock = std::make_shared<util::FakeClock>();
  WorkQueue queue(clock);
  queue.add("a");
  queue.add("a");
  queue.addAfter("b", seconds(1));
  EXPECT_EQ(queue.len(), 1u);
  EXPECT_EQ(queue.tryGet(), Key("a"));
  EXPECT_EQ(queue.tryGet(), std::nullopt);
  clock->advance(seconds(1));
  // Ready by the fake clock, so get() returns without waiting.
  EXPECT_EQ(queue.get(), Key("b"));
  queue.done("a");
  queue.done("b");
  queue.addRateLimited("c");
  EXPECT_EQ(queue.numRequeues("c"), 1);
  queue.forget("c");
  EXPECT_EQ(queue.numRequeues("c"), 0);
}

// Spins (yielding, never sleeping) until `n` threads are blocked inside get().
void awaitBlockedGets(WorkQueue& queue, std::size_t n) {
  while (queue.blockedGets() < n) std::this_thread::yield();
}

TEST(WorkQueueTest, ShutDownWakesEveryBlockedGet) {
  WorkQueue queue;
  constexpr int kWorkers = 3;
  std::vector<std::future<Key>> results;
  for (int i = 0; i < kWorkers; ++i) {
    results.push_back(std::async(std::launch::async, [&queue] { return queue.get(); }));
  }
  awaitBlockedGets(queue, kWorkers);
  queue.shutDown();
  for (auto& result : results) EXPECT_EQ(result.get(), std::nullopt);
  EXPECT_EQ(queue.get(), std::nullopt);
}

TEST(WorkQueueTest, ShutDownWakesAGetWaitingForADelayedKey) {
  WorkQueue queue;
  queue.addAfter("a", std::chrono::hours(1));
  auto result = std::async(std::launch::async, [&queue] { return queue.get(); });
  awaitBlockedGets(queue, 1);
  queue.shutDown();
  EXPECT_EQ(result.get(), std::nullopt);
}

TEST(WorkQueueTest, BlockedGetReceivesAnAddedKey) {
  WorkQueue queue;
  auto result = std::async(std::launch::async, [&queue] { return queue.get(); });
  awaitBlockedGets(queue, 1);
  queue.add("ns/a");
  EXPECT_EQ(result.get(), Key("ns/a"));
  queue.done("ns/a");
}

TEST(WorkQueueTest, BlockedGetWakesForADelayedKeyOnTheSteadyClock) {
  // The real wait path: wait_until computed from the clock, no sleep in the test itself.
  WorkQueue queue;
  const auto start = std::chrono::steady_clock::now();
  queue.addAfter("a", milliseconds(20));
  EXPECT_EQ(queue.get(), Key("a"));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(20));
}

TEST(WorkQueueTest, TwoWorkersNeverHoldTheSameKey) {
  WorkQueue queue;
  queue.add("a");
  ASSERT_EQ(queue.get(), Key("a"));
  auto second = std::async(std::launch::async, [&queue] { return queue.get(); });
  awaitBlockedGets(queue, 1);
  queue.add("a");
  // Still waiting: "a" is being processed, and only done() can hand it over.
  EXPECT_EQ(second.wait_for(seconds(0)), std::future_status::timeout);
  queue.done("a");
  EXPECT_EQ(second.get(), Key("a"));
}

TEST(WorkQueueTest, ConcurrentWorkersNeverOverlapOnAKey) {
  WorkQueue queue;
  std::mutex mutex;
  std::set<std::string> inFlight;
  std::atomic<int> overlaps = 0;
  std::atomic<int> processed = 0;
  auto worker = [&] {
    while (const Key key = queue.get()) {
      {
        const std::lock_guard lock(mutex);
        if (!inFlight.insert(*key).second) ++overlaps;
      }
      std::this_thread::yield();
      {
        const std::lock_guard lock(mutex);
        inFlight.erase(*key);
      }
      ++processed;
      queue.done(*key);
    }
  };
  std::vector<std::jthread> workers;
  for (int i = 0; i < 4; ++i) workers.emplace_back(worker);
  for (int i = 0; i < 5000; ++i) queue.add("ns/k" + std::to_string(i % 7));
  queue.shutDownWithDrain();
  queue.shutDown();
  workers.clear();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GT(processed.load(), 0);
  EXPECT_EQ(queue.len(), 0u);
}

TEST(WorkQueueTest, ShutDownWithDrainWaitsForKeysBeingProcessed) {
  WorkQueue queue;
  queue.add("a");
  ASSERT_EQ(queue.get(), Key("a"));
  auto drained = std::async(std::launch::async, [&queue] { queue.shutDownWithDrain(); });
  while (!queue.shuttingDown()) std::this_thread::yield();
  // shutDownWithDrain marks the queue and starts waiting under one lock, so it is waiting now.
  EXPECT_EQ(drained.wait_for(seconds(0)), std::future_status::timeout);
  queue.done("a");
  drained.get();
  EXPECT_EQ(queue.get(), std::nullopt);
}

TEST(WorkQueueTest, ShutDownWithDrainReturnsAtOnceWhenIdle) {
  WorkQueue queue;
  queue.shutDownWithDrain();
  EXPECT_TRUE(queue.shuttingDown());
  EXPECT_EQ(queue.get(), std::nullopt);
}

TEST(WorkQueueTest, ShutDownEndsADrain) {
  WorkQueue queue;
  queue.add("a");
  ASSERT_EQ(queue.get(), Key("a"));
  auto drained = std::async(std::launch::async, [&queue] { queue.shutDownWithDrain(); });
  while (!queue.shuttingDown()) std::this_thread::yield();
  queue.shutDown();
  drained.get();
  queue.done("a");
}

}  // namespace
}  // namespace envop::runtime
