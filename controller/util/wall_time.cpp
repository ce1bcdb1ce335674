#include "controller/util/wall_time.h"

#include <cstdio>
#include <ctime>

namespace envop::util {

std::string formatMicroTime(WallTime t) {
  const auto whole = std::chrono::floor<std::chrono::seconds>(t);
  const long micros =
      static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(t - whole).count());
  const std::time_t secs = std::chrono::system_clock::to_time_t(whole);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%06ldZ", micros);
  return buf;
}

}  // namespace envop::util
