// A RateLimiter decides how long a failed key waits before the workqueue hands it out again.
// The controller's default (client-go's DefaultControllerRateLimiter) is the larger of two
// delays: a per-key exponential backoff (5 ms, 10 ms, ... capped at 1000 s), so that one broken
// object retries ever more slowly, and an overall token bucket (10 qps, burst 100), so that a
// storm of failing keys cannot hammer the apiserver. `forget` is called after a success and
// resets the key's backoff. Limiters are plain state, not synchronised: the WorkQueue that owns
// one calls it under its own lock. Time comes from an injected clock so that tests never sleep.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/util/clock.h"

namespace envop::runtime {

inline constexpr util::Duration kDefaultBaseDelay = std::chrono::milliseconds(5);
inline constexpr util::Duration kDefaultMaxDelay = std::chrono::seconds(1000);
inline constexpr double kDefaultQps = 10.0;
inline constexpr int kDefaultBurst = 100;

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // The delay before `key` may be retried; counts as one more failure of `key`.
  virtual util::Duration when(const std::string& key) = 0;
  // After a success: the next failure of `key` starts again from the shortest delay.
  virtual void forget(const std::string& key) = 0;
  // Failures of `key` since it was last forgotten.
  virtual int retries(const std::string& key) const = 0;
};
using RateLimiterPtr = std::unique_ptr<RateLimiter>;

// base * 2^failures, capped at max (client-go's ItemExponentialFailureRateLimiter).
class ItemExponentialRateLimiter final : public RateLimiter {
 public:
  ItemExponentialRateLimiter(util::Duration base = kDefaultBaseDelay,
                             util::Duration max = kDefaultMaxDelay);

  util::Duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  int retries(const std::string& key) const override;

 private:
  util::Duration base_;
  util::Duration max_;
  std::unordered_map<std::string, int> failures_;
};

// One bucket shared by all keys (golang.org/x/time/rate behind client-go's BucketRateLimiter):
// it starts full with `burst` tokens and refills at `qps`. Every call takes a token, even when
// the bucket is empty: the caller is then told how long until its token exists, so later callers
// queue up behind it instead of all waking at once. Not per key: forget is a no-op, retries 0.
class TokenBucketRateLimiter final : public RateLimiter {
 public:
  // Requires qps > 0 and burst >= 1.
  TokenBucketRateLimiter(util::ClockPtr clock, double qps = kDefaultQps, int burst = kDefaultBurst);

  util::Duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  int retries(const std::string& key) const override;

 private:
  util::ClockPtr clock_;
  // Time to earn one token.
  util::Duration interval_;
  // Time to fill an empty bucket.
  util::Duration fillTime_;
  // Kept as a time rather than a token count so that the arithmetic is exact: the moment at
  // which the bucket holds zero tokens (it holds (now - emptyAt_) / interval_, up to burst).
  // Unset until the first call: the bucket starts full.
  std::optional<util::TimePoint> emptyAt_;
};

// The longest delay of several limiters (client-go's MaxOfRateLimiter); every limiter is asked,
// so each one counts every failure.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<RateLimiterPtr> limiters);

  util::Duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  int retries(const std::string& key) const override;

 private:
  std::vector<RateLimiterPtr> limiters_;
};

// Per-key 5 ms → 1000 s backoff, at most 10 qps with bursts of 100 overall.
RateLimiterPtr defaultControllerRateLimiter(util::ClockPtr clock);

}  // namespace envop::runtime
