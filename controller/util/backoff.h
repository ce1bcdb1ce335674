// Backoff spaces out the retries of a failing request: each consecutive failure doubles the base
// delay (800 ms, 1.6 s, ... capped at 30 s, client-go's reflector defaults), and a random jitter
// stretches it so that many clients failing together (an apiserver restart) do not retry in
// lockstep. A success resets it. The randomness is injected so that tests are deterministic.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "controller/util/clock.h"

namespace envop::util {

// Returns a number in [0, 1); values outside are clamped by the users.
using UnitRandom = std::function<double()>;

// A std::mt19937 seeded with `seed`: the same seed gives the same sequence.
UnitRandom seededUnitRandom(std::uint32_t seed);
// A std::mt19937 seeded from std::random_device, for production.
UnitRandom randomUnitRandom();

struct BackoffPolicy {
  Duration initial = std::chrono::milliseconds(800);
  Duration max = std::chrono::seconds(30);
  double factor = 2.0;
  // The delay is base * (1 + jitter * u), u in [0, 1), never above `max`. 1.0 is what
  // client-go's reflector uses: the first retry lands in [800 ms, 1.6 s).
  double jitter = 1.0;
};

class Backoff final {
 public:
  explicit Backoff(BackoffPolicy policy = {}, UnitRandom random = randomUnitRandom());

  // The delay before the next retry; counts one more failure.
  Duration next();
  // After a success: the next failure starts again from `initial`.
  void reset();

  // Consecutive failures since the last reset.
  int failures() const { return failures_; }
  // The un-jittered delay the next call to next() starts from.
  Duration base() const { return base_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  UnitRandom random_;
  Duration base_;
  int failures_ = 0;
};

}  // namespace envop::util
