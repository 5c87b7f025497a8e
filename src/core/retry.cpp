#include "core/retry.h"

#include <algorithm>

namespace hm {
namespace {
double default_uniform01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}
}  // namespace

Backoff::Backoff(const RetryOptions& options, Clock& clock, std::function<double()> uniform01, const StopSignal* stop)
    : options_(options),
      clock_(clock),
      uniform01_(uniform01 ? std::move(uniform01) : std::function<double()>(default_uniform01)),
      stop_(stop),
      started_(clock.now()) {}

std::chrono::milliseconds Backoff::ceiling(int retry) const {
  long long ms = options_.base_delay.count();
  for (int i = 1; i < retry && ms < options_.max_delay.count(); ++i) ms *= 2;
  return std::chrono::milliseconds(std::min(ms, static_cast<long long>(options_.max_delay.count())));
}

bool Backoff::wait_before_retry() {
  if (attempts_ >= options_.max_attempts) return false;
  if (stop_ && stop_->requested()) return false;
  const auto spent = clock_.now() - started_;
  const auto budget_left = options_.max_total - std::chrono::duration_cast<std::chrono::milliseconds>(spent);
  if (budget_left <= std::chrono::milliseconds(0)) return false;
  const auto cap = ceiling(attempts_);
  auto delay = std::chrono::milliseconds(static_cast<long long>(uniform01_() * static_cast<double>(cap.count())));
  delay = std::min(delay, budget_left);
  if (stop_) {
    if (clock_.sleep_unless_stopped(delay, *stop_)) return false;  // a stop ends the retries, mid-sleep too
  } else {
    clock_.sleep_for(delay);
  }
  ++attempts_;
  return true;
}

}  // namespace hm
