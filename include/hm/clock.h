#pragma once
// The time seam. Production uses SystemClock; tests use a fake that moves
// time forward instead of sleeping. Implementations must be thread-safe.

#include <chrono>
#include <string>

#include "hm/stop_signal.h"

namespace hm {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  virtual void sleep_for(duration d) = 0;
  // Sleeps up to d, less when `stop` is requested meanwhile; true when the stop
  // cut it short (or came first). The default sleeps with sleep_for() unless
  // stopped already (a fake clock's instant sleeps); SystemClock waits on the
  // StopSignal, so a shutdown never waits out a backoff.
  virtual bool sleep_unless_stopped(duration d, const StopSignal& stop) {
    if (stop.requested()) return true;
    sleep_for(d);
    return stop.requested();
  }
  // Milliseconds since the Unix epoch, for timestamps written to files.
  virtual long long wall_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  time_point now() const override;
  void sleep_for(duration d) override;
  bool sleep_unless_stopped(duration d, const StopSignal& stop) override;
  long long wall_ms() const override;
};

// ISO-8601 UTC with milliseconds, e.g. 2026-01-14T12:00:00.123Z.
std::string format_utc_ms(long long epoch_ms);

}  // namespace hm
