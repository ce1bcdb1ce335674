// WallTime is calendar time, for what the API server stores (Lease renewTime, Event
// eventTime); everything that waits uses the steady Clock instead.
#pragma once

#include <chrono>
#include <string>

namespace envop::util {

using WallTime = std::chrono::system_clock::time_point;

// metav1.MicroTime's wire form: RFC 3339 in UTC with microseconds,
// "2006-01-02T15:04:05.000000Z".
std::string formatMicroTime(WallTime t);

}  // namespace envop::util
