#include "controller/runtime/rate_limiter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

namespace envop::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

util::Duration ms(int n) { return milliseconds(n); }

// "k<i>", built by appending: GCC 12 at -O3 warns (-Wrestrict, a false positive) on
// "k" + std::to_string(i).
std::string keyNumber(int i) {
  std::string key = "k";
  key += std::to_string(i);
  return key;
}

TEST(RateLimiterTest, ExponentialDoublesFromFiveMilliseconds) {
  ItemExponentialRateLimiter limiter;
  EXPECT_EQ(limiter.retries("ns/a"), 0);
  EXPECT_EQ(limiter.when("ns/a"), ms(5));
  EXPECT_EQ(limiter.when("ns/a"), ms(10));
  EXPECT_EQ(limiter.when("ns/a"), ms(20));
  EXPECT_EQ(limiter.when("ns/a"), ms(40));
  EXPECT_EQ(limiter.retries("ns/a"), 4);
}

TEST(RateLimiterTest, ExponentialIsCappedAtOneThousandSeconds) {
  ItemExponentialRateLimiter limiter;
  // 5 ms * 2^17 = 655.36 s is the last delay under the cap; 2^18 would be 1310.72 s.
  for (int i = 0; i < 17; ++i) limiter.when("a");
  EXPECT_EQ(limiter.when("a"), milliseconds(655'360));
  EXPECT_EQ(limiter.when("a"), seconds(1000));
  // Far past the point where base << failures would overflow, still the cap.
  for (int i = 0; i < 200; ++i) ASSERT_EQ(limiter.when("a"), seconds(1000)) << i;
  EXPECT_EQ(limiter.retries("a"), 219);
}

TEST(RateLimiterTest, ExponentialForgetStartsOver) {
  ItemExponentialRateLimiter limiter;
  limiter.when("a");
  limiter.when("a");
  limiter.forget("a");
  EXPECT_EQ(limiter.retries("a"), 0);
  EXPECT_EQ(limiter.when("a"), ms(5));
}

TEST(RateLimiterTest, ExponentialKeysBackOffIndependently) {
  ItemExponentialRateLimiter limiter;
  limiter.when("a");
  limiter.when("a");
  EXPECT_EQ(limiter.when("b"), ms(5));
  EXPECT_EQ(limiter.when("a"), ms(20));
  limiter.forget("a");
  EXPECT_EQ(limiter.retries("b"), 1);
}

TEST(RateLimiterTest, ExponentialHonoursCustomBaseAndCap) {
  ItemExponentialRateLimiter limiter(seconds(1), seconds(3));
  EXPECT_EQ(limiter.when("a"), seconds(1));
  EXPECT_EQ(limiter.when("a"), seconds(2));
  EXPECT_EQ(limiter.when("a"), seconds(3));
  EXPECT_EQ(limiter.when("a"), seconds(3));
}

TEST(RateLimiterTest, TokenBucketAllowsBurstThenTenPerSecond) {
  auto clock = std::make_shared<util::FakeClock>();
  TokenBucketRateLimiter bucket(clock);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(bucket.when(keyNumber(i)), ms(0)) << i;
  // Each call past the burst reserves the next token, so callers line up 100 ms apart.
  EXPECT_EQ(bucket.when("x"), ms(100));
  EXPECT_EQ(bucket.when("y"), ms(200));
  EXPECT_EQ(bucket.when("z"), ms(300));
}

TEST(RateLimiterTest, TokenBucketRefillsAtTenPerSecond) {
  auto clock = std::make_shared<util::FakeClock>();
  TokenBucketRateLimiter bucket(clock);
  for (int i = 0; i < 100; ++i) bucket.when("k");
  clock->advance(seconds(1));
  for (int i = 0; i < 10; ++i) ASSERT_EQ(bucket.when("k"), ms(0)) << i;
  EXPECT_EQ(bucket.when("k"), ms(100));
}

TEST(RateLimiterTest, TokenBucketSustainsItsRateWithoutDelay) {
  auto clock = std::make_shared<util::FakeClock>();
  TokenBucketRateLimiter bucket(clock);
  for (int i = 0; i < 100; ++i) bucket.when("k");
  for (int i = 0; i < 50; ++i) {
    clock->advance(ms(100));
    ASSERT_EQ(bucket.when("k"), ms(0)) << i;
  }
  EXPECT_EQ(bucket.when("k"), ms(100));
}

TEST(RateLimiterTest, TokenBucketKeepsAtMostBurstTokens) {
  auto clock = std::make_shared<util::FakeClock>();
  TokenBucketRateLimiter bucket(clock);
  bucket.when("k");
  clock->advance(std::chrono::hours(1));
  for (int i = 0; i < 100; ++i) ASSERT_EQ(bucket.when("k"), ms(0)) << i;
  EXPECT_EQ(bucket.when("k"), ms(100));
}

TEST(RateLimiterTest, TokenBucketPaysBackReservationsBeforeRefilling) {
  auto clock = std::make_shared<util::FakeClock>();
  TokenBucketRateLimiter bucket(clock, 10.0, 1);
  EXPECT_EQ(bucket.when("k"), ms(0));
  EXPECT_EQ(bucket.when("k"), ms(100));
  EXPECT_EQ(bucket.when("k"), ms(200));
  // Time passes, but the two reserved tokens are spent first.
  clock->advance(ms(150));
  EXPECT_EQ(bucket.when("k"), ms(150));
}

TEST(RateLimiterTest, TokenBucketIsNotPerKey) {
  auto clock = std::make_shared<util::FakeClock>();
  TokenBucketRateLimiter bucket(clock);
  bucket.when("a");
  bucket.forget("a");
  EXPECT_EQ(bucket.retries("a"), 0);
}

TEST(RateLimiterTest, DefaultControllerLimiterBacksOffPerKey) {
  auto clock = std::make_shared<util::FakeClock>();
  const RateLimiterPtr limiter = defaultControllerRateLimiter(clock);
  EXPECT_EQ(limiter->when("a"), ms(5));
  EXPECT_EQ(limiter->when("a"), ms(10));
  EXPECT_EQ(limiter->when("b"), ms(5));
  EXPECT_EQ(limiter->retries("a"), 2);
  limiter->forget("a");
  EXPECT_EQ(limiter->retries("a"), 0);
  EXPECT_EQ(limiter->when("a"), ms(5));
}

TEST(RateLimiterTest, DefaultControllerLimiterIsBoundByTheBucket) {
  auto clock = std::make_shared<util::FakeClock>();
  const RateLimiterPtr limiter = defaultControllerRateLimiter(clock);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(limiter->when(keyNumber(i)), ms(5)) << i;
  // A storm of distinct failing keys: the bucket's 100 ms beats each key's first 5 ms.
  EXPECT_EQ(limiter->when("storm-1"), ms(100));
  EXPECT_EQ(limiter->when("storm-2"), ms(200));
}

TEST(RateLimiterTest, MaxOfAsksEveryLimiter) {
  auto clock = std::make_shared<util::FakeClock>();
  std::vector<RateLimiterPtr> limiters;
  limiters.push_back(std::make_unique<ItemExponentialRateLimiter>(ms(1), seconds(1)));
  limiters.push_back(std::make_unique<ItemExponentialRateLimiter>(ms(3), seconds(1)));
  MaxOfRateLimiter limiter(std::move(limiters));
  EXPECT_EQ(limiter.when("a"), ms(3));
  EXPECT_EQ(limiter.when("a"), ms(6));
  EXPECT_EQ(limiter.retries("a"), 2);
  limiter.forget("a");
  EXPECT_EQ(limiter.when("a"), ms(3));
}

}  // namespace
}  // namespace envop::runtime
