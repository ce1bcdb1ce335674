#include "controller/runtime/watch_machine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace envop::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

nlohmann::json object(const std::string& name, const std::string& rv) {
  return {{"metadata", {{"namespace", "ops"}, {"name", name}, {"resourceVersion", rv}}}};
}

nlohmann::json bookmark(const std::string& rv) {
  return {{"kind", "Environment"}, {"metadata", {{"resourceVersion", rv}}}};
}

nlohmann::json status(int code, const std::string& reason) {
  return {{"kind", "Status"}, {"status", "Failure"}, {"code", code}, {"reason", reason}};
}

template <class T>
const T& as(const WatchAction& action) {
  EXPECT_TRUE(std::holds_alternative<T>(action)) << "action index " << action.index();
  static const T kEmpty{};
  return std::holds_alternative<T>(action) ? std::get<T>(action) : kEmpty;
}

class WatchMachineTest : public ::testing::Test {
 protected:
  // The backoff and the watch timeouts draw `random_`; tests set it to pin jitter.
  std::shared_ptr<double> random_ = std::make_shared<double>(0.0);
  std::shared_ptr<util::FakeClock> clock_ = std::make_shared<util::FakeClock>();
  StorePtr store_ = std::make_shared<Store>();
  WatchMachine machine_{store_, {}, clock_, [r = random_] { return *r; }};

  // Lists `items` in one page at resourceVersion `rv` and checks that a watch from it follows.
  WatchStep syncWith(std::vector<nlohmann::json> items, const std::string& rv) {
    WatchStep step = machine_.handle(ListPage{std::move(items), rv, ""});
    EXPECT_EQ(as<StartWatch>(step.action).resourceVersion, rv);
    return step;
  }
};

TEST_F(WatchMachineTest, ListsInPagesOf500ThenWatchesFromTheListResourceVersion) {
  const StartList first = as<StartList>(machine_.start());
  EXPECT_EQ(first.resourceVersion, "0");
  EXPECT_EQ(first.limit, 500);
  EXPECT_EQ(first.continueToken, "");
  EXPECT_EQ(machine_.state(), WatchState::kListing);

  WatchStep step = machine_.handle(ListPage{{object("a", "7"), object("b", "8")}, "100", "c1"});
  const StartList second = as<StartList>(step.action);
  EXPECT_EQ(second.resourceVersion, "");  // a continued page must not carry one
  EXPECT_EQ(second.limit, 500);
  EXPECT_EQ(second.continueToken, "c1");
  EXPECT_TRUE(step.deltas.empty());
  EXPECT_EQ(store_->size(), 0u);  // nothing is stored before the list is complete
  EXPECT_FALSE(machine_.hasSynced());

  step = machine_.handle(ListPage{{object("c", "9")}, "100", "c2"});
  EXPECT_EQ(as<StartList>(step.action).continueToken, "c2");

  step = machine_.handle(ListPage{{object("d", "10"), object("e", "11")}, "100", ""});
  const StartWatch watch = as<StartWatch>(step.action);
  EXPECT_EQ(watch.resourceVersion, "100");
  EXPECT_GE(watch.timeoutSeconds, 300);
  EXPECT_LE(watch.timeoutSeconds, 600);
  ASSERT_EQ(step.deltas.size(), 5u);
  for (const Delta& delta : step.deltas) EXPECT_EQ(delta.type, Delta::Type::kAdded);
  EXPECT_EQ(store_->keys(),
            (std::vector<std::string>{"ops/a", "ops/b", "ops/c", "ops/d", "ops/e"}));
  EXPECT_TRUE(machine_.hasSynced());
  EXPECT_EQ(machine_.resourceVersion(), "100");
  EXPECT_EQ(machine_.state(), WatchState::kWatching);
}

TEST_F(WatchMachineTest, WatchCacheAnswerIgnoringTheLimitIsASinglePage) {
  machine_.start();
  std::vector<nlohmann::json> items;
  for (int i = 0; i < 1200; ++i) {
    std::string name = "o";  // appended: "o" + std::string trips GCC 12's -Wrestrict at -O3
    name += std::to_string(i);
    items.push_back(object(name, "5"));
  }
  const WatchStep step = syncWith(std::move(items), "900");
  EXPECT_EQ(step.deltas.size(), 1200u);
  EXPECT_TRUE(machine_.hasSynced());
}

TEST_F(WatchMachineTest, WatchEventsUpdateTheStoreAndAdvanceTheResourceVersion) {
  machine_.start();
  syncWith({object("a", "7")}, "100");

  WatchStep step = machine_.handle(WatchEvent{"ADDED", object("b", "101")});
  EXPECT_TRUE(std::holds_alternative<Idle>(step.action));
  ASSERT_EQ(step.deltas.size(), 1u);
  EXPECT_EQ(step.deltas[0].type, Delta::Type::kAdded);
  EXPECT_EQ(machine_.resourceVersion(), "101");

  step = machine_.handle(WatchEvent{"MODIFIED", object("a", "102")});
  ASSERT_EQ(step.deltas.size(), 1u);
  EXPECT_EQ(step.deltas[0].type, Delta::Type::kUpdated);
  EXPECT_EQ(resourceVersionOf(*step.deltas[0].oldObject), "7");

  step = machine_.handle(WatchEvent{"DELETED", object("b", "103")});
  ASSERT_EQ(step.deltas.size(), 1u);
  EXPECT_EQ(step.deltas[0].type, Delta::Type::kDeleted);
  EXPECT_EQ(machine_.resourceVersion(), "103");
  EXPECT_EQ(store_->keys(), std::vector<std::string>{"ops/a"});
}

TEST_F(WatchMachineTest, BookmarkAdvancesResourceVersionWithoutTouchingTheStore) {
  machine_.start();
  syncWith({object("a", "7")}, "100");
  const ObjectPtr before = store_->get("ops/a");

  const WatchStep step = machine_.handle(WatchEvent{"BOOKMARK", bookmark("250")});
  EXPECT_TRUE(std::holds_alternative<Idle>(step.action));
  EXPECT_TRUE(step.deltas.empty());
  EXPECT_EQ(machine_.resourceVersion(), "250");
  EXPECT_EQ(store_->size(), 1u);
  EXPECT_EQ(store_->get("ops/a"), before);

  clock_->advance(seconds(400));
  EXPECT_EQ(as<StartWatch>(machine_.handle(WatchEnded{}).action).resourceVersion, "250");
}

TEST_F(WatchMachineTest, NormalWatchEndRewatchesFromLastResourceVersionWithoutBackoff) {
  machine_.start();
  syncWith({}, "100");
  machine_.handle(WatchEvent{"ADDED", object("a", "140")});
  clock_->advance(seconds(300));
  const StartWatch watch = as<StartWatch>(machine_.handle(WatchEnded{}).action);
  EXPECT_EQ(watch.resourceVersion, "140");
  EXPECT_EQ(machine_.backoff().failures(), 0);

  // A quiet watch that ran its full timeout is not a failure either.
  clock_->advance(seconds(600));
  EXPECT_EQ(as<StartWatch>(machine_.handle(WatchEnded{}).action).resourceVersion, "140");
}

TEST_F(WatchMachineTest, WatchEndingAtOnceWithoutEventsBacksOff) {
  machine_.start();
  syncWith({}, "100");
  clock_->advance(milliseconds(10));
  EXPECT_EQ(as<Wait>(machine_.handle(WatchEnded{}).action).duration, milliseconds(800));
  EXPECT_EQ(as<StartWatch>(machine_.handle(TimerFired{}).action).resourceVersion, "100");
}

TEST_F(WatchMachineTest, GoneHttpStatusOnWatchRelistsFromEtcd) {
  machine_.start();
  syncWith({object("a", "7")}, "100");
  const WatchStep step = machine_.handle(Failed{410, "Expired", "too old resource version"});
  const StartList list = as<StartList>(step.action);
  EXPECT_EQ(list.resourceVersion, "");  // a consistent read, not "0" from the watch cache
  EXPECT_EQ(list.limit, 500);
  EXPECT_EQ(list.continueToken, "");
  EXPECT_TRUE(step.deltas.empty());
  EXPECT_EQ(machine_.resourceVersion(), "");
  EXPECT_EQ(machine_.backoff().failures(), 0);  // a 410 is protocol, not a failure
  EXPECT_TRUE(machine_.hasSynced());            // the store stays served meanwhile
}

TEST_F(WatchMachineTest, GoneErrorEventOnWatchRelistsFromEtcd) {
  for (const nlohmann::json& error :
       {status(410, "Expired"), status(410, "Gone"), status(0, "Expired"), status(0, "Gone")}) {
    auto store = std::make_shared<Store>();
    WatchMachine machine(store, {}, clock_, [] { return 0.0; });
    machine.start();
    machine.handle(ListPage{{object("a", "7")}, "100", ""});
    const WatchStep step = machine.handle(WatchEvent{"ERROR", error});
    EXPECT_EQ(as<StartList>(step.action).resourceVersion, "") << error.dump();
    EXPECT_EQ(store->size(), 1u);  // the Status is not an object
  }
}

TEST_F(WatchMachineTest, RelistDeliversSyntheticDeleteForObjectDeletedDuringTheGap) {
  machine_.start();
  syncWith({object("kept", "7"), object("changed", "8"), object("gone", "9")}, "100");
  machine_.handle(WatchEvent{"ERROR", status(410, "Expired")});

  const WatchStep step = machine_.handle(
      ListPage{{object("kept", "7"), object("changed", "300"), object("new", "301")}, "400", ""});
  EXPECT_EQ(as<StartWatch>(step.action).resourceVersion, "400");
  ASSERT_EQ(step.deltas.size(), 3u);
  EXPECT_EQ(step.deltas[0].type, Delta::Type::kUpdated);
  EXPECT_EQ(step.deltas[0].key, "ops/changed");
  EXPECT_EQ(step.deltas[1].type, Delta::Type::kAdded);
  EXPECT_EQ(step.deltas[1].key, "ops/new");
  EXPECT_EQ(step.deltas[2].type, Delta::Type::kDeleted);
  EXPECT_EQ(step.deltas[2].key, "ops/gone");
  EXPECT_TRUE(step.deltas[2].finalStateUnknown);
  EXPECT_EQ(resourceVersionOf(*step.deltas[2].object), "9");
}

TEST_F(WatchMachineTest, ExpiredContinueTokenRestartsTheList) {
  machine_.start();
  machine_.handle(ListPage{{object("a", "7")}, "100", "c1"});
  const WatchStep step = machine_.handle(Failed{410, "Expired", "continue token expired"});
  const StartList restart = as<StartList>(step.action);
  EXPECT_EQ(restart.resourceVersion, "0");
  EXPECT_EQ(restart.continueToken, "");
  EXPECT_EQ(machine_.backoff().failures(), 0);

  // The first attempt's pages are dropped: only the new list lands in the store.
  syncWith({object("b", "8")}, "200");
  EXPECT_EQ(store_->keys(), std::vector<std::string>{"ops/b"});
}

TEST_F(WatchMachineTest, ErrorsBackOffDoublingWithinJitterBoundsUpToTheCap) {
  auto random = util::seededUnitRandom(1234);
  WatchMachine machine(store_, {}, clock_, random);
  EXPECT_EQ(as<StartList>(machine.start()).resourceVersion, "0");
  util::Duration base = milliseconds(800);
  for (const int code : {0, 500, 503, 429, 0, 504, 500, 0, 503, 0}) {
    const util::Duration wait = as<Wait>(machine.handle(Failed{code, "", "down"}).action).duration;
    EXPECT_GE(wait, base) << "status " << code;
    EXPECT_LE(wait, std::min<util::Duration>(2 * base, seconds(30))) << "status " << code;
    EXPECT_EQ(machine.state(), WatchState::kBackingOff);
    // Never synced, so the retry is a list from the watch cache again.
    EXPECT_EQ(as<StartList>(machine.handle(TimerFired{}).action).resourceVersion, "0");
    base = std::min<util::Duration>(2 * base, seconds(30));
  }
  EXPECT_EQ(base, seconds(30));
}

TEST_F(WatchMachineTest, SuccessResetsTheBackoff) {
  machine_.start();
  machine_.handle(Failed{503, "", ""});
  machine_.handle(TimerFired{});
  EXPECT_EQ(as<Wait>(machine_.handle(Failed{503, "", ""}).action).duration, milliseconds(1600));
  machine_.handle(TimerFired{});
  syncWith({}, "100");
  EXPECT_EQ(as<Wait>(machine_.handle(Failed{0, "", "reset"}).action).duration, milliseconds(800));

  // A watch event is a success too.
  machine_.handle(TimerFired{});
  EXPECT_EQ(as<Wait>(machine_.handle(Failed{0, "", ""}).action).duration, milliseconds(1600));
  machine_.handle(TimerFired{});
  machine_.handle(WatchEvent{"BOOKMARK", bookmark("120")});
  EXPECT_EQ(as<Wait>(machine_.handle(Failed{0, "", ""}).action).duration, milliseconds(800));
}

TEST_F(WatchMachineTest, FailedWatchResumesWithWatchFromLastResourceVersion) {
  machine_.start();
  syncWith({}, "100");
  machine_.handle(WatchEvent{"MODIFIED", object("a", "105")});
  EXPECT_TRUE(std::holds_alternative<Wait>(machine_.handle(Failed{500, "", ""}).action));
  EXPECT_EQ(as<StartWatch>(machine_.handle(TimerFired{}).action).resourceVersion, "105");
}

TEST_F(WatchMachineTest, NonGoneErrorEventBacksOff) {
  machine_.start();
  syncWith({}, "100");
  EXPECT_TRUE(std::holds_alternative<Wait>(
      machine_.handle(WatchEvent{"ERROR", status(500, "InternalError")}).action));
  EXPECT_EQ(as<StartWatch>(machine_.handle(TimerFired{}).action).resourceVersion, "100");
}

TEST_F(WatchMachineTest, FailedRelistAfterGoneKeepsReadingFromEtcd) {
  machine_.start();
  syncWith({}, "100");
  machine_.handle(Failed{410, "", ""});
  EXPECT_TRUE(std::holds_alternative<Wait>(machine_.handle(Failed{0, "", ""}).action));
  EXPECT_EQ(as<StartList>(machine_.handle(TimerFired{}).action).resourceVersion, "");
  syncWith({}, "500");
  machine_.handle(Failed{503, "", ""});
  EXPECT_EQ(as<StartWatch>(machine_.handle(TimerFired{}).action).resourceVersion, "500");
}

TEST_F(WatchMachineTest, WatchTimeoutIsAlwaysWithin300And600Seconds) {
  for (const double u : {0.0, 0.5, 0.999999, 1.0}) {
    *random_ = u;
    WatchMachine machine(store_, {}, clock_, [r = random_] { return *r; });
    machine.start();
    const int timeout = as<StartWatch>(machine.handle(ListPage{{}, "1", ""}).action).timeoutSeconds;
    EXPECT_GE(timeout, 300) << u;
    EXPECT_LE(timeout, 600) << u;
  }
  *random_ = 0.0;
  machine_.start();
  EXPECT_EQ(as<StartWatch>(machine_.handle(ListPage{{}, "1", ""}).action).timeoutSeconds, 300);

  WatchMachine seeded(store_, {}, clock_, util::seededUnitRandom(99));
  seeded.start();
  seeded.handle(ListPage{{}, "1", ""});
  int low = 600;
  int high = 300;
  for (int i = 0; i < 200; ++i) {
    clock_->advance(seconds(300));
    const int timeout = as<StartWatch>(seeded.handle(WatchEnded{}).action).timeoutSeconds;
    EXPECT_GE(timeout, 300);
    EXPECT_LE(timeout, 600);
    low = std::min(low, timeout);
    high = std::max(high, timeout);
  }
  EXPECT_LT(low, 350);  // jittered across the range, not pinned
  EXPECT_GT(high, 550);
}

TEST_F(WatchMachineTest, SyncedAfterFirstCompleteListAndStaysSynced) {
  EXPECT_FALSE(machine_.hasSynced());
  machine_.start();
  EXPECT_FALSE(machine_.hasSynced());
  machine_.handle(ListPage{{object("a", "1")}, "10", "c1"});
  EXPECT_FALSE(machine_.hasSynced());
  machine_.handle(ListPage{{}, "10", ""});
  EXPECT_TRUE(machine_.hasSynced());
  machine_.handle(Failed{410, "", ""});
  EXPECT_TRUE(machine_.hasSynced());
  machine_.handle(Failed{0, "", ""});
  EXPECT_TRUE(machine_.hasSynced());
}

TEST_F(WatchMachineTest, InputsThatDoNotBelongToTheStateAreIgnored) {
  machine_.start();
  EXPECT_TRUE(std::holds_alternative<Idle>(machine_.start()));
  EXPECT_TRUE(std::holds_alternative<Idle>(
      machine_.handle(WatchEvent{"ADDED", object("late", "3")}).action));
  EXPECT_TRUE(std::holds_alternative<Idle>(machine_.handle(TimerFired{}).action));
  EXPECT_TRUE(std::holds_alternative<Idle>(machine_.handle(WatchEnded{}).action));
  EXPECT_EQ(store_->size(), 0u);

  syncWith({}, "100");
  EXPECT_TRUE(
      std::holds_alternative<Idle>(machine_.handle(ListPage{{object("x", "1")}, "1", ""}).action));
  EXPECT_TRUE(std::holds_alternative<Idle>(machine_.handle(WatchEvent{"UNKNOWN", {}}).action));
  machine_.handle(Failed{503, "", ""});
  EXPECT_TRUE(std::holds_alternative<Idle>(machine_.handle(Failed{503, "", ""}).action));
  EXPECT_EQ(machine_.backoff().failures(), 1);
  EXPECT_EQ(store_->size(), 0u);
}

TEST_F(WatchMachineTest, StopIsFinal) {
  machine_.start();
  EXPECT_TRUE(std::holds_alternative<Stopped>(machine_.handle(Stop{}).action));
  EXPECT_EQ(machine_.state(), WatchState::kStopped);
  EXPECT_TRUE(std::holds_alternative<Stopped>(machine_.handle(ListPage{{}, "1", ""}).action));
  EXPECT_TRUE(std::holds_alternative<Stopped>(machine_.handle(TimerFired{}).action));
  EXPECT_FALSE(machine_.hasSynced());
}

}  // namespace
}  // namespace envop::runtime
