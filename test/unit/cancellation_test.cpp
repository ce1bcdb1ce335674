// Cancellation stops a blocked watch from another thread; its guarantees are what make
// shutdown safe: a callback never runs after its unsubscribe() has returned.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "controller/kube/transport.h"

namespace envop::kube {
namespace {

TEST(CancellationTest, CallbacksRunOnceOnCancel) {
  Cancellation cancel;
  int calls = 0;
  cancel.subscribe([&] { ++calls; });
  EXPECT_FALSE(cancel.cancelled());
  cancel.cancel();
  cancel.cancel();
  EXPECT_TRUE(cancel.cancelled());
  EXPECT_EQ(calls, 1);
}

TEST(CancellationTest, SubscribingAfterCancelRunsAtOnce) {
  Cancellation cancel;
  cancel.cancel();
  bool ran = false;
  cancel.subscribe([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(CancellationTest, NoCallbackRunsAfterItsUnsubscribeReturned) {
  // The stream side unsubscribes and frees what its callback touches while another
  // thread cancels; the callback must either have finished before unsubscribe returned
  // or never run.
  for (int round = 0; round < 200; ++round) {
    Cancellation cancel;
    auto alive = std::make_unique<std::atomic<bool>>(true);
    std::atomic<bool>* flag = alive.get();
    std::atomic<bool> usedAfterFree{false};
    const int id = cancel.subscribe([&, flag] {
      if (!flag->load()) usedAfterFree = true;
    });
    std::latch start(2);
    std::thread canceller([&] {
      start.arrive_and_wait();
      cancel.cancel();
    });
    start.arrive_and_wait();
    cancel.unsubscribe(id);
    flag->store(false);  // "freed": a late callback would see this
    canceller.join();
    EXPECT_FALSE(usedAfterFree.load()) << "round " << round;
  }
}

}  // namespace
}  // namespace envop::kube
