#include "controller/util/backoff.h"

#include <algorithm>
#include <memory>
#include <random>

namespace envop::util {

UnitRandom seededUnitRandom(std::uint32_t seed) {
  // shared_ptr: std::function must be copyable, and copies should draw from one sequence.
  auto engine = std::make_shared<std::mt19937>(seed);
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

UnitRandom randomUnitRandom() { return seededUnitRandom(std::random_device{}()); }

Backoff::Backoff(BackoffPolicy policy, UnitRandom random)
    : policy_(policy), random_(std::move(random)), base_(policy.initial) {}

Duration Backoff::next() {
  const double u = std::clamp(random_ ? random_() : 0.0, 0.0, 1.0);
  const double jittered = static_cast<double>(base_.count()) * (1.0 + policy_.jitter * u);
  // Compare in double before converting back so that a large factor cannot overflow.
  const Duration delay = jittered >= static_cast<double>(policy_.max.count())
                             ? policy_.max
                             : Duration(static_cast<Duration::rep>(jittered));

  const double grown = static_cast<double>(base_.count()) * policy_.factor;
  base_ = grown >= static_cast<double>(policy_.max.count())
              ? policy_.max
              : Duration(static_cast<Duration::rep>(grown));
  ++failures_;
  return delay;
}

void Backoff::reset() {
  base_ = policy_.initial;
  failures_ = 0;
}

}  // namespace envop::util
