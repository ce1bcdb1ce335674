#include "controller/util/backoff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace envop::util {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

UnitRandom constant(double u) {
  return [u] { return u; };
}

TEST(BackoffTest, DoublesFromInitialToCapWithoutJitter) {
  Backoff backoff({}, constant(0.0));
  const std::vector<Duration> expected = {
      milliseconds(800),   milliseconds(1600),  milliseconds(3200), milliseconds(6400),
      milliseconds(12800), milliseconds(25600), seconds(30),        seconds(30)};
  for (const Duration& want : expected) EXPECT_EQ(backoff.next(), want);
  EXPECT_EQ(backoff.failures(), 8);
}

TEST(BackoffTest, FullJitterAlmostDoublesButNeverPassesTheCap) {
  Backoff backoff({}, constant(0.999));
  const Duration first = backoff.next();
  EXPECT_GT(first, milliseconds(1599));
  EXPECT_LT(first, milliseconds(1600));
  for (int i = 0; i < 10; ++i) EXPECT_LE(backoff.next(), seconds(30));
  EXPECT_EQ(backoff.next(), seconds(30));
}

TEST(BackoffTest, SeededJitterStaysWithinBaseAndTwiceBaseCapped) {
  Backoff backoff({}, seededUnitRandom(42));
  Duration base = milliseconds(800);
  bool sawJitter = false;
  for (int i = 0; i < 20; ++i) {
    const Duration delay = backoff.next();
    EXPECT_GE(delay, std::min<Duration>(base, seconds(30))) << "attempt " << i;
    EXPECT_LE(delay, std::min<Duration>(2 * base, seconds(30))) << "attempt " << i;
    sawJitter = sawJitter || delay != base;
    base = std::min<Duration>(2 * base, seconds(30));
  }
  EXPECT_TRUE(sawJitter);
}

TEST(BackoffTest, SameSeedGivesSameDelays) {
  Backoff first({}, seededUnitRandom(7));
  Backoff second({}, seededUnitRandom(7));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(first.next(), second.next());
}

TEST(BackoffTest, ResetStartsOverFromInitial) {
  Backoff backoff({}, constant(0.0));
  for (int i = 0; i < 5; ++i) backoff.next();
  EXPECT_EQ(backoff.base(), milliseconds(25600));
  backoff.reset();
  EXPECT_EQ(backoff.failures(), 0);
  EXPECT_EQ(backoff.next(), milliseconds(800));
  EXPECT_EQ(backoff.next(), milliseconds(1600));
}

TEST(BackoffTest, OutOfRangeRandomIsClamped) {
  Backoff backoff({}, constant(7.0));
  EXPECT_EQ(backoff.next(), milliseconds(1600));
  Backoff negative({}, constant(-3.0));
  EXPECT_EQ(negative.next(), milliseconds(800));
}

}  // namespace
}  // namespace envop::util
