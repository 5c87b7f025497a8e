#pragma once
// Exponential backoff with full jitter (AWS architecture blog's "full jitter"):
// the n-th wait is uniform in [0, min(max_delay, base_delay * 2^(n-1))].
// A Backoff is one unit of work's retry budget; it is not thread-safe.

#include <chrono>
#include <functional>
#include <random>

#include "hm/clock.h"
#include "hm/stop_signal.h"

namespace hm {

// Retries of retryable database errors (lock wait timeout, deadlock, lost
// connection...): exponential backoff with full jitter.
struct RetryOptions {
  int max_attempts = 5;                       // total tries, including the first
  std::chrono::milliseconds base_delay{100};  // first backoff ceiling
  std::chrono::milliseconds max_delay{5000};  // ceiling of any single backoff
  std::chrono::milliseconds max_total{30000};  // give up once this much time was spent
};

// Retries of calls to a remote HTTP API (the Graph API, the CDN): 4 tries,
// waits up to 200 ms, 5 s at most each, 30 s in all (GRAPH_RETRY_ATTEMPTS
// sets the tries).
inline RetryOptions http_retry_defaults() {
  return RetryOptions{4, std::chrono::milliseconds(200), std::chrono::milliseconds(5000),
                      std::chrono::milliseconds(30000)};
}

class Backoff {
 public:
  // uniform01 returns a number in [0, 1); injectable for tests.
  // `stop`, when given and requested, ends the retries at once: a backoff
  // sleep waits on it (Clock::sleep_unless_stopped), so a stop cuts it short.
  Backoff(const RetryOptions& options, Clock& clock, std::function<double()> uniform01 = {},
          const StopSignal* stop = nullptr);

  // Call after a failed try. Returns false when the budget (attempts or total
  // time) is spent or a stop was requested (before or during the sleep);
  // otherwise sleeps the jittered delay and returns true.
  bool wait_before_retry();

  int attempts() const { return attempts_; }  // tries made so far, counting the first
  // The delay wait_before_retry() would use for the given retry number (1-based)
  // before jitter, for tests and logs.
  std::chrono::milliseconds ceiling(int retry) const;

 private:
  RetryOptions options_;
  Clock& clock_;
  std::function<double()> uniform01_;
  const StopSignal* stop_;
  Clock::time_point started_;
  int attempts_ = 1;
};

}  // namespace hm
