#include "hm/clock.h"

#include <cstdio>
#include <ctime>
#include <thread>

namespace hm {

Clock::time_point SystemClock::now() const { return std::chrono::steady_clock::now(); }

void SystemClock::sleep_for(duration d) { std::this_thread::sleep_for(d); }

bool SystemClock::sleep_unless_stopped(duration d, const StopSignal& stop) { return stop.wait_for(d); }

long long SystemClock::wall_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_utc_ms(long long epoch_ms) {
  const std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  const int ms = static_cast<int>(epoch_ms % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf, ms < 0 ? 0 : ms);
  return out;
}

}  // namespace hm
