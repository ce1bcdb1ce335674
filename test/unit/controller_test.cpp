// The controller's requeue rules, driven through its work queue with a scripted
// reconciler: no sockets, no API server.
#include "controller/runtime/controller.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace envop::runtime {
namespace {

using namespace std::chrono_literals;

// Answers each reconcile with the next scripted result and records what it saw.
class ScriptedReconciler final : public Reconciler {
 public:
  explicit ScriptedReconciler(std::deque<std::function<ReconcileResult()>> script)
      : script_(std::move(script)) {}
  ReconcileResult reconcile(const ReconcileRequest& request) override {
    std::function<ReconcileResult()> next;
    {
      std::lock_guard lock(mu_);
      seen_.push_back(request);
      if (!script_.empty()) {
        next = std::move(script_.front());
        script_.pop_front();
      }
    }
    // Counted on the way out even when the script throws.
    struct Finish {
      ScriptedReconciler* self;
      ~Finish() {
        {
          std::lock_guard lock(self->mu_);
          ++self->finished_;
        }
        self->cv_.notify_all();
      }
    } finish{this};
    return next ? next() : ReconcileResult::done();
  }
  // Waits until n reconciles have returned (bounded).
  bool waitFinished(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return finished_ >= n; });
  }
  std::vector<ReconcileRequest> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<ReconcileResult()>> script_;
  std::vector<ReconcileRequest> seen_;
  size_t finished_ = 0;
};

// Polls for a condition the worker thread brings about (bounded).
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(ControllerTest, ErrorRequeuesWithBackoffAndSuccessForgetsIt) {
  auto reconciler =
      std::make_shared<ScriptedReconciler>(std::deque<std::function<ReconcileResult()>>{
          [] { return ReconcileResult::failed("harbor is down"); },
          [] { return ReconcileResult::failed("harbor is still down"); },
          [] { return ReconcileResult::done(); }});
  auto clock = std::make_shared<util::FakeClock>();
  Controller controller("test-errors", reconciler, 1, clock);
  controller.start();
  controller.queue().add("pro");
  ASSERT_TRUE(reconciler->waitFinished(1));
  // The retry waits out the first per-key backoff (5 ms) on the injected clock, which stands still.
  ASSERT_TRUE(eventually([&] { return controller.queue().nextReadyAt().has_value(); }));
  EXPECT_EQ(controller.queue().nextReadyAt(), clock->now() + 5ms);
  clock->advance(4ms);
  EXPECT_EQ(controller.queue().len(), 0u);
  EXPECT_EQ(reconciler->seen().size(), 1u);
  clock->advance(1ms);
  ASSERT_TRUE(reconciler->waitFinished(2));
  // The second failure doubles it.
  ASSERT_TRUE(eventually([&] { return controller.queue().nextReadyAt().has_value(); }));
  EXPECT_EQ(controller.queue().nextReadyAt(), clock->now() + 10ms);
  clock->advance(9ms);
  EXPECT_EQ(controller.queue().len(), 0u);
  EXPECT_EQ(reconciler->seen().size(), 2u);
  clock->advance(1ms);
  ASSERT_TRUE(reconciler->waitFinished(3));
  controller.stop(1s);
  const auto seen = reconciler->seen();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& r : seen) EXPECT_EQ(r.key, "pro");
  EXPECT_NE(seen[0].reconcileId, seen[1].reconcileId);
  EXPECT_EQ(controller.queue().numRequeues("pro"), 0) << "success must forget the backoff";
}

ObjectPtr environment(const std::string& rv, int generation, const std::string& readyStatus) {
  return std::make_shared<const Object>(
      Object{{"apiVersion", "envop.io/v1alpha1"},
             {"kind", "Environment"},
             {"metadata", {{"name", "pro"}, {"resourceVersion", rv}, {"generation", generation}}},
             {"spec", {{"stage", "pro"}, {"replicas", generation}}},
             {"status", {{"conditions", {{{"type", "Ready"}, {"status", readyStatus}}}}}}});
}

TEST(ControllerTest, StatusWritesAndResyncsWaitForTheBackoffOfAFailingKey) {
  auto reconciler =
      std::make_shared<ScriptedReconciler>(std::deque<std::function<ReconcileResult()>>{
          [] { return ReconcileResult::failed("a valuesFrom Secret is missing"); },
          [] { return ReconcileResult::failed("still missing"); }});
  auto clock = std::make_shared<util::FakeClock>();
  Controller controller("test-backoff-events", reconciler, 1, clock);
  controller.start();
  controller.queue().add("pro");
  ASSERT_TRUE(reconciler->waitFinished(1));
  ASSERT_TRUE(eventually([&] { return controller.queue().nextReadyAt().has_value(); }));

  // The failed reconcile wrote Ready=False; the write and a resync come back as events.
  controller.enqueue(Delta{Delta::Type::kUpdated, "pro", environment("11", 1, "False"),
                           environment("10", 1, "Unknown")},
                     {"pro"});
  controller.enqueue(Delta{Delta::Type::kUpdated, "pro", environment("11", 1, "False"),
                           environment("11", 1, "False")},
                     {"pro"});
  // One worker, first in first out: had "pro" been queued, it would run before the marker.
  controller.queue().add("marker");
  ASSERT_TRUE(reconciler->waitFinished(2));
  EXPECT_EQ(reconciler->seen()[1].key, "marker");

  // A spec change (a new generation) is reconciled at once, backoff or not.
  controller.enqueue(Delta{Delta::Type::kUpdated, "pro", environment("12", 2, "False"),
                           environment("11", 1, "False")},
                     {"pro"});
  ASSERT_TRUE(reconciler->waitFinished(3));
  controller.stop(1s);
  const auto seen = reconciler->seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].key, "pro");
}

TEST(ControllerTest, StatusOnlyEventsOfAHealthyKeyAreStillReconciled) {
  auto reconciler = std::make_shared<ScriptedReconciler>(
      std::deque<std::function<ReconcileResult()>>{[] { return ReconcileResult::done(); }});
  Controller controller("test-healthy-events", reconciler, 1);
  controller.start();
  controller.enqueue(Delta{Delta::Type::kUpdated, "pro", environment("11", 1, "True"),
                           environment("10", 1, "False")},
                     {"pro"});
  ASSERT_TRUE(reconciler->waitFinished(1));
  controller.stop(1s);
  EXPECT_EQ(reconciler->seen().at(0).key, "pro");
}

TEST(IsMaterialChangeTest, SeparatesRealChangesFromStatusWritesAndResyncs) {
  const auto v10 = environment("10", 1, "Unknown");
  const auto v11 = environment("11", 1, "False");
  EXPECT_TRUE(isMaterialChange(Delta{Delta::Type::kAdded, "pro", v10, nullptr}));
  EXPECT_TRUE(isMaterialChange(Delta{Delta::Type::kDeleted, "pro", v10, nullptr}));
  EXPECT_FALSE(isMaterialChange(Delta{Delta::Type::kUpdated, "pro", v10, v10})) << "resync";
  EXPECT_FALSE(isMaterialChange(Delta{Delta::Type::kUpdated, "pro", v11, v10})) << "status";
  EXPECT_TRUE(
      isMaterialChange(Delta{Delta::Type::kUpdated, "pro", environment("12", 2, "False"), v11}))
      << "spec";

  Object relabelled = *v11;
  relabelled["metadata"]["resourceVersion"] = "12";
  relabelled["metadata"]["labels"] = {{"team", "a"}};
  EXPECT_TRUE(isMaterialChange(
      Delta{Delta::Type::kUpdated, "pro", std::make_shared<const Object>(relabelled), v11}));

  // A ResourceQuota has no generation, but its spec is in the cache: a status write is seen
  // as one.
  auto quota = [](const std::string& rv, const std::string& hard, const std::string& used) {
    return std::make_shared<const Object>(
        Object{{"kind", "ResourceQuota"},
               {"metadata", {{"name", "q"}, {"namespace", "pro"}, {"resourceVersion", rv}}},
               {"spec", {{"hard", {{"pods", hard}}}}},
               {"status", {{"used", {{"pods", used}}}}}});
  };
  EXPECT_FALSE(isMaterialChange(
      Delta{Delta::Type::kUpdated, "pro/q", quota("2", "10", "5"), quota("1", "10", "4")}));
  EXPECT_TRUE(isMaterialChange(
      Delta{Delta::Type::kUpdated, "pro/q", quota("2", "20", "4"), quota("1", "10", "4")}));

  // A metadata-only Secret: its data is not in the cache, so any new resourceVersion counts.
  auto secret = [](const std::string& rv) {
    return std::make_shared<const Object>(
        Object{{"kind", "Secret"},
               {"metadata", {{"name", "s"}, {"namespace", "pro"}, {"resourceVersion", rv}}}});
  };
  EXPECT_TRUE(isMaterialChange(Delta{Delta::Type::kUpdated, "pro/s", secret("2"), secret("1")}));
}

TEST(ControllerTest, TerminalErrorIsNotRetried) {
  auto reconciler =
      std::make_shared<ScriptedReconciler>(std::deque<std::function<ReconcileResult()>>{
          [] { return ReconcileResult::terminalError("dependsOn cycle: a -> b -> a"); }});
  Controller controller("test-terminal", reconciler, 1);
  controller.start();
  controller.queue().add("dev");
  ASSERT_TRUE(reconciler->waitFinished(1));
  // A second, later key proves the worker went on without retrying the first.
  controller.queue().add("marker");
  ASSERT_TRUE(reconciler->waitFinished(2));
  controller.stop(1s);
  const auto seen = reconciler->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].key, "marker");
  EXPECT_EQ(controller.queue().numRequeues("dev"), 0);
}

TEST(ControllerTest, RequeueAfterAddsTheKeyAgainLater) {
  auto reconciler =
      std::make_shared<ScriptedReconciler>(std::deque<std::function<ReconcileResult()>>{
          [] { return ReconcileResult::requeue(20ms); }, [] { return ReconcileResult::done(); }});
  Controller controller("test-requeue", reconciler, 1);
  controller.start();
  controller.queue().add("pre");
  ASSERT_TRUE(reconciler->waitFinished(2));
  controller.stop(1s);
  EXPECT_EQ(reconciler->seen().size(), 2u);
}

TEST(ControllerTest, AThrowingReconcilerIsAnErrorNotACrash) {
  auto reconciler =
      std::make_shared<ScriptedReconciler>(std::deque<std::function<ReconcileResult()>>{
          []() -> ReconcileResult { throw std::runtime_error("boom"); },
          [] { return ReconcileResult::done(); }});
  Controller controller("test-throw", reconciler, 2);
  controller.start();
  controller.queue().add("test");
  // reconcile() is wrapped: the exception becomes an error and the key is retried.
  ASSERT_TRUE(reconciler->waitFinished(1));
  ASSERT_TRUE(reconciler->waitFinished(2));
  controller.stop(1s);
  EXPECT_EQ(reconciler->seen().size(), 2u);
}

TEST(ControllerTest, ByLabelMapsOwnedObjectsToTheirEnvironment) {
  const KeyMapper mapper = byLabel("envop.io/environment");
  auto owned = std::make_shared<const Object>(
      Object{{"metadata", {{"name", "quota"}, {"labels", {{"envop.io/environment", "pro"}}}}}});
  auto relabelled = std::make_shared<const Object>(
      Object{{"metadata", {{"name", "quota"}, {"labels", {{"envop.io/environment", "pre"}}}}}});
  auto foreign = std::make_shared<const Object>(Object{{"metadata", {{"name", "x"}}}});
  EXPECT_EQ(mapper(Delta{Delta::Type::kAdded, "ns/quota", owned, nullptr}),
            std::vector<std::string>{"pro"});
  // A label that changed must wake both the new and the old owner.
  EXPECT_EQ(mapper(Delta{Delta::Type::kUpdated, "ns/quota", relabelled, owned}),
            (std::vector<std::string>{"pre", "pro"}));
  EXPECT_TRUE(mapper(Delta{Delta::Type::kAdded, "ns/x", foreign, nullptr}).empty());
}

}  // namespace
}  // namespace envop::runtime
