#include "controller/runtime/rate_limiter.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <utility>

namespace envop::runtime {

ItemExponentialRateLimiter::ItemExponentialRateLimiter(util::Duration base, util::Duration max)
    : base_(base), max_(max) {}

util::Duration ItemExponentialRateLimiter::when(const std::string& key) {
  int& failures = failures_[key];
  const int exponent = failures;
  // Saturate rather than overflow: a key that has failed two billion times is still capped.
  if (failures < std::numeric_limits<int>::max()) ++failures;

  using Rep = util::Duration::rep;
  constexpr int kRepBits = std::numeric_limits<Rep>::digits;
  if (base_ <= util::Duration::zero()) return util::Duration::zero();
  // base << exponent would overflow: the result is far beyond any sensible cap anyway.
  if (exponent >= kRepBits || base_.count() > (std::numeric_limits<Rep>::max() >> exponent)) {
    return max_;
  }
  return std::min(util::Duration(base_.count() << exponent), max_);
}

void ItemExponentialRateLimiter::forget(const std::string& key) { failures_.erase(key); }

int ItemExponentialRateLimiter::retries(const std::string& key) const {
  const auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

TokenBucketRateLimiter::TokenBucketRateLimiter(util::ClockPtr clock, double qps, int burst)
    : clock_(std::move(clock)),
      interval_(std::chrono::round<util::Duration>(std::chrono::duration<double>(1.0 / qps))),
      fillTime_(interval_ * burst) {
  assert(qps > 0 && burst >= 1);
}

util::Duration TokenBucketRateLimiter::when(const std::string& /*key*/) {
  const util::TimePoint now = clock_->now();
  // Tokens beyond `burst` are not kept: a long quiet spell buys at most a full bucket.
  const util::TimePoint whenFull = now - fillTime_;
  const util::TimePoint emptyAt = emptyAt_ ? std::max(*emptyAt_, whenFull) : whenFull;
  emptyAt_ = emptyAt + interval_;
  // Past emptyAt_ the bucket holds a non-negative number of tokens, so ours exists.
  return std::max(util::Duration::zero(), *emptyAt_ - now);
}

void TokenBucketRateLimiter::forget(const std::string& /*key*/) {}

int TokenBucketRateLimiter::retries(const std::string& /*key*/) const { return 0; }

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<RateLimiterPtr> limiters)
    : limiters_(std::move(limiters)) {}

util::Duration MaxOfRateLimiter::when(const std::string& key) {
  util::Duration longest = util::Duration::zero();
  for (const RateLimiterPtr& limiter : limiters_) longest = std::max(longest, limiter->when(key));
  return longest;
}

void MaxOfRateLimiter::forget(const std::string& key) {
  for (const RateLimiterPtr& limiter : limiters_) limiter->forget(key);
}

int MaxOfRateLimiter::retries(const std::string& key) const {
  int most = 0;
  for (const RateLimiterPtr& limiter : limiters_) most = std::max(most, limiter->retries(key));
  return most;
}

RateLimiterPtr defaultControllerRateLimiter(util::ClockPtr clock) {
  std::vector<RateLimiterPtr> limiters;
  limiters.push_back(std::make_unique<ItemExponentialRateLimiter>());
  limiters.push_back(
      std::make_unique<TokenBucketRateLimiter>(std::move(clock), kDefaultQps, kDefaultBurst));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

}  // namespace envop::runtime
