#include "worker/breaker.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace hm {

CircuitBreaker::CircuitBreaker(BreakerOptions options, Probe probe, Clock& clock, const StopSignal& stop,
                               Telemetry& telemetry, std::function<void()> on_wait)
    : options_(std::move(options)),
      probe_(std::move(probe)),
      clock_(clock),
      stop_(stop),
      telemetry_(telemetry),
      on_wait_(std::move(on_wait)) {}

void CircuitBreaker::failed(const std::string& reason) {
  if (open_) return;
  open_ = true;
  telemetry_.breaker(options_.dependency, true);
  spdlog::warn("{} unreachable: pausing work until it answers again ({})", options_.dependency, reason);
}

std::chrono::milliseconds CircuitBreaker::next_delay(int attempt) {
  const long long base = options_.base_delay.count();
  const long long cap = options_.max_delay.count();
  long long ceiling = base;
  for (int i = 1; i < attempt && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::max<long long>(1, std::min(ceiling, cap));
  std::uniform_int_distribution<long long> pick(ceiling / 2, ceiling);
  return std::chrono::milliseconds(pick(random_));
}

bool CircuitBreaker::wait_until_closed() {
  int attempt = 0;
  while (open_) {
    // Slept through the clock (tests move it instead) in slices, so that a
    // stop ends the wait within one slice.
    auto left = std::chrono::duration_cast<Clock::duration>(next_delay(++attempt));
    while (left > Clock::duration::zero()) {
      if (stop_.requested()) return false;
      const auto slice = std::min<Clock::duration>(left, std::chrono::milliseconds(50));
      clock_.sleep_for(slice);
      left -= slice;
    }
    if (stop_.requested()) return false;
    if (on_wait_) on_wait_();
    ++probes_;
    const Status s = probe_();
    if (s.ok()) {
      open_ = false;
      telemetry_.breaker(options_.dependency, false);
      spdlog::info("{} answers again after {} probes: resuming", options_.dependency, attempt);
      return true;
    }
    if (attempt == 1 || attempt % 10 == 0) spdlog::warn("{} still unreachable: {}", options_.dependency, s.message);
  }
  return true;
}

}  // namespace hm
