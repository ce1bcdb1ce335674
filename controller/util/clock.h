// Clock is the one source of "now" for everything that waits or expires
// (backoff, delayed adds, leases, token re-reads), so that pure logic can be
// driven by a FakeClock in tests instead of by sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

namespace envop::util {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};
using ClockPtr = std::shared_ptr<const Clock>;

class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told to; safe to read from several threads.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint{} + std::chrono::hours(1)) : now_(start) {}
  TimePoint now() const override { return now_.load(); }
  void advance(Duration d) { now_.store(now_.load() + d); }

 private:
  std::atomic<TimePoint> now_;
};

ClockPtr steadyClock();

}  // namespace envop::util
