#include "controller/environment/release_runner.h"

#include <gtest/gtest.h>

#include <thread>

#include "test/fakes/fake_helm_jobs.h"

namespace envop::environment {
namespace {

using Phase = RunView::Phase;
using Started = ReleaseRunner::Started;
using testing::FakeHelmJobs;
using testing::FakeWakeups;

RunIntent install() { return {.action = ReleaseAction::kInstall, .chartLabel = "orders 1.0.0"}; }

// Waits (up to 10 s) until the run of owner/release is in `phase`.
bool reaches(const ReleaseRunner& runner, const std::string& owner, const std::string& release,
             Phase phase) {
  for (int i = 0; i < 1000; ++i) {
    auto v = runner.view(owner, release);
    if (v && v->phase == phase) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ReleaseRunnerTest, NoMoreThanTheLimitRunAtOnceAndTheRestQueueInOrder) {
  FakeHelmJobs jobs;
  FakeWakeups woken;
  ReleaseRunner runner(2, std::ref(woken));
  for (const char* env : {"a", "b", "c", "d", "e"}) {
    ASSERT_EQ(runner.start(env, "orders", install(), jobs.job(env)), Started::kStarted);
  }
  ASSERT_TRUE(jobs.waitRunning(2));
  EXPECT_EQ(runner.running(), 2);
  EXPECT_EQ(runner.queued(), 3);
  const auto d = runner.view("d", "orders");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->phase, Phase::kQueued);
  EXPECT_EQ(d->queuePosition, 2);  // c is next
  EXPECT_EQ(d->running, 2);
  EXPECT_EQ(d->limit, 2);
  EXPECT_EQ(runMessage("orders", *d),
            "release orders: install of orders 1.0.0 queued behind --max-concurrent-helm=2 (2 "
            "running, 2nd in line)");
  EXPECT_STREQ(runReason(*d), "HelmRunQueued");
  for (const char* env : {"a", "b", "c", "d", "e"}) jobs.finish(env);
  ASSERT_TRUE(woken.waitFor(5));
  EXPECT_EQ(jobs.maxRunning(), 2);
  ASSERT_EQ(jobs.started().size(), 5u);
  // FIFO: the three that queued started in the order they came.
  const std::vector<std::string> order = jobs.started();
  EXPECT_EQ(std::vector<std::string>(order.begin() + 2, order.end()),
            (std::vector<std::string>{"c", "d", "e"}));
}

TEST(ReleaseRunnerTest, ItsExitWakesItsOwnerAndTheOutcomeIsTakenOnce) {
  FakeHelmJobs jobs;
  FakeWakeups woken;
  ReleaseRunner runner(1, std::ref(woken));
  ASSERT_EQ(runner.start("pro", "gateway", install(), jobs.job("gateway")), Started::kStarted);
  ASSERT_TRUE(reaches(runner, "pro", "gateway", Phase::kRunning));
  const auto running = runner.view("pro", "gateway");
  EXPECT_STREQ(runReason(*running), "Installing");
  // In flight: nothing to take, and no second run of the same release.
  EXPECT_FALSE(runner.take("pro", "gateway"));
  EXPECT_EQ(runner.start("pro", "gateway", install(), jobs.job("second")), Started::kBusy);
  EXPECT_TRUE(woken.owners().empty());

  jobs.finish("gateway");
  ASSERT_TRUE(woken.waitFor(1));
  EXPECT_EQ(woken.owners(), std::vector<std::string>{"pro"});
  // Finished and not taken yet: still no second run.
  EXPECT_EQ(runner.start("pro", "gateway", install(), jobs.job("second")), Started::kBusy);
  const auto done = runner.take("pro", "gateway");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->phase, Phase::kFinished);
  EXPECT_TRUE(done->outcome.ok);
  EXPECT_EQ(done->outcome.message, "gateway");
  EXPECT_EQ(done->intent.chartLabel, "orders 1.0.0");
  EXPECT_FALSE(runner.take("pro", "gateway"));  // consumed
  EXPECT_FALSE(runner.view("pro", "gateway"));
  EXPECT_EQ(runner.start("pro", "gateway", install(), jobs.job("again")), Started::kStarted);
  jobs.finish("again");
  ASSERT_TRUE(woken.waitFor(2));
  EXPECT_EQ(jobs.started(), (std::vector<std::string>{"gateway", "again"}));
}

TEST(ReleaseRunnerTest, ARunOfOneReleaseDoesNotHoldAnotherOwnersOrRelease) {
  FakeHelmJobs jobs;
  FakeWakeups woken;
  ReleaseRunner runner(4, std::ref(woken));
  ASSERT_EQ(runner.start("pro", "gateway", install(), jobs.job("pro/gateway")), Started::kStarted);
  ASSERT_EQ(runner.start("pro", "orders", install(), jobs.job("pro/orders")), Started::kStarted);
  ASSERT_EQ(runner.start("dev", "gateway", install(), jobs.job("dev/gateway")), Started::kStarted);
  ASSERT_TRUE(jobs.waitRunning(3));
  jobs.finish("dev/gateway");
  ASSERT_TRUE(woken.waitFor(1));
  EXPECT_EQ(woken.owners(), std::vector<std::string>{"dev"});
  EXPECT_TRUE(runner.take("dev", "gateway"));
  EXPECT_EQ(runner.view("pro", "gateway")->phase, Phase::kRunning);
  EXPECT_EQ(runner.activeRuns("pro"), 2);
  EXPECT_EQ(runner.activeRuns("dev"), 0);
  jobs.finish("pro/gateway");
  jobs.finish("pro/orders");
  ASSERT_TRUE(woken.waitFor(3));
}

TEST(ReleaseRunnerTest, ADeletedEnvironmentsQueuedRunsAreDroppedAndRunningOnesWaitedForOrKilled) {
  FakeHelmJobs jobs;
  FakeWakeups woken;
  ReleaseRunner runner(1, std::ref(woken));
  ASSERT_EQ(runner.start("pro", "gateway", install(), jobs.job("gateway")), Started::kStarted);
  ASSERT_TRUE(reaches(runner, "pro", "gateway", Phase::kRunning));
  ASSERT_EQ(runner.start("pro", "orders", install(), jobs.job("orders")), Started::kStarted);
  ASSERT_EQ(runner.start("dev", "orders", install(), jobs.job("dev")), Started::kStarted);

  // Retain: the running install goes on; the queued one never starts.
  EXPECT_EQ(runner.cancel("pro", /*kill=*/false), 1);
  EXPECT_FALSE(runner.view("pro", "orders"));
  EXPECT_EQ(runner.activeRuns("pro"), 1);
  EXPECT_EQ(runner.view("dev", "orders")->queuePosition, 1);  // another owner's keeps its place
  // Delete: the running one is killed; its outcome is nobody's.
  EXPECT_EQ(runner.cancel("pro", /*kill=*/true), 1);
  ASSERT_TRUE(woken.waitFor(1));
  EXPECT_EQ(woken.owners().front(), "pro");
  EXPECT_EQ(runner.activeRuns("pro"), 0);
  EXPECT_FALSE(runner.take("pro", "gateway"));
  EXPECT_EQ(runner.cancel("pro", true), 0);
  // The slot went to the other owner's run.
  ASSERT_TRUE(reaches(runner, "dev", "orders", Phase::kRunning));
  jobs.finish("dev");
  ASSERT_TRUE(woken.waitFor(2));
  EXPECT_EQ(jobs.started(), (std::vector<std::string>{"gateway", "dev"}));
}

TEST(ReleaseRunnerTest, DrainingStartsNothingNewAndWaitsForWhatRuns) {
  FakeHelmJobs jobs;
  ReleaseRunner runner(1);
  ASSERT_EQ(runner.start("pro", "gateway", install(), jobs.job("gateway")), Started::kStarted);
  ASSERT_TRUE(reaches(runner, "pro", "gateway", Phase::kRunning));
  ASSERT_EQ(runner.start("pro", "orders", install(), jobs.job("orders")), Started::kStarted);
  runner.stopAccepting();
  EXPECT_FALSE(runner.view("pro", "orders"));  // queued: dropped, leaves no lock behind
  EXPECT_EQ(runner.start("dev", "orders", install(), jobs.job("dev")), Started::kRefused);
  EXPECT_FALSE(runner.waitIdle(std::chrono::milliseconds(50)));  // the install still runs
  jobs.finish("gateway");
  EXPECT_TRUE(runner.waitIdle(std::chrono::seconds(10)));
  EXPECT_TRUE(runner.take("pro", "gateway")->outcome.ok);  // its outcome still reaches status
  runner.stop();
  EXPECT_EQ(jobs.started(), std::vector<std::string>{"gateway"});
}

TEST(ReleaseRunnerTest, LimitZeroRunsOnTheCallersThreadWithinStart) {
  ReleaseRunner runner(0);
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id ranOn;
  ASSERT_EQ(runner.start("pro", "gateway", install(),
                         [&] {
                           ranOn = std::this_thread::get_id();
                           return ActionOutcome{.ok = true, .revision = 2};
                         }),
            Started::kStarted);
  EXPECT_EQ(ranOn, caller);
  const auto done = runner.take("pro", "gateway");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->outcome.revision, 2);
}

TEST(ReleaseRunnerTest, AJobThatThrowsFinishesWithItsMessage) {
  FakeWakeups woken;
  ReleaseRunner runner(1, std::ref(woken));
  ASSERT_EQ(
      runner.start("pro", "gateway", install(),
                   []() -> ActionOutcome { throw std::runtime_error("values file: disk full"); }),
      Started::kStarted);
  ASSERT_TRUE(woken.waitFor(1));
  const auto done = runner.take("pro", "gateway");
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->outcome.ok);
  EXPECT_EQ(done->outcome.message, "release gateway: values file: disk full");
}

TEST(ReleaseRunnerTest, RunMessagesNameTheReleaseAndWhatHelmDoes) {
  RunView v;
  v.phase = Phase::kRunning;
  v.intent = {.action = ReleaseAction::kUpgrade,
              .chartLabel = "orders 1.2.0",
              .timeout = std::chrono::seconds(300),
              .wait = true};
  EXPECT_STREQ(runReason(v), "Upgrading");
  EXPECT_EQ(runMessage("orders", v),
            "release orders: upgrade of orders 1.2.0 running (helm --wait, timeout 300s)");
  v.intent.action = ReleaseAction::kRollback;
  EXPECT_STREQ(runReason(v), "RollingBack");
}

}  // namespace
}  // namespace envop::environment
