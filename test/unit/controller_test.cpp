// The controller's requeue rules, driven through its work queue with a scripted
// reconciler: no sockets, no API server.
#include "controller/runtime/controller.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

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

TEST(ControllerTest, ErrorRequeuesWithBackoffAndSuccessForgetsIt) {
  auto reconciler =
      std::make_shared<ScriptedReconciler>(std::deque<std::function<ReconcileResult()>>{
          [] { return ReconcileResult::failed("harbor is down"); },
          [] { return ReconcileResult::failed("harbor is still down"); },
          [] { return ReconcileResult::done(); }});
  Controller controller("test-errors", reconciler, 1);
  controller.start();
  controller.queue().add("pro");
  // The second and third tries come from the rate-limited requeues (5 ms, 10 ms).
  ASSERT_TRUE(reconciler->waitFinished(3));
  controller.stop(1s);
  const auto seen = reconciler->seen();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& r : seen) EXPECT_EQ(r.key, "pro");
  EXPECT_NE(seen[0].reconcileId, seen[1].reconcileId);
  EXPECT_EQ(controller.queue().numRequeues("pro"), 0) << "success must forget the backoff";
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
