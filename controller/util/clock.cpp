#include "controller/util/clock.h"

namespace envop::util {

ClockPtr steadyClock() {
  static const ClockPtr clock = std::make_shared<SteadyClock>();
  return clock;
}

}  // namespace envop::util
