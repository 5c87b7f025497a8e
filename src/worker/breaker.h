#pragma once
// A circuit breaker for one dependency (the database): once a unit of work
// failed because the dependency is unreachable (not a lock conflict: a lost
// or refused connection, a timeout, a read-only server, a missing schema),
// the worker stops trying units, which would each spend a timeout, and waits
// with backoff and jitter for one probe to succeed. The probe is cheap (a
// ping, or the schema check); while the breaker waits, the entries it did not
// store stay pending and come back.
//
// States: closed (work flows) -> open (after a failure; probing) -> closed
// (after a probe succeeded). Not thread-safe: one per worker thread.

#include <chrono>
#include <functional>
#include <random>
#include <string>

#include "hm/clock.h"
#include "hm/status.h"
#include "hm/stop_signal.h"
#include "hm/telemetry.h"

namespace hm {

struct BreakerOptions {
  std::string dependency = "database";  // for logs and the breaker metric
  // Waits between probes: the n-th is uniform in [ceiling/2, ceiling] with
  // ceiling = min(max_delay, base_delay * 2^(n-1)).
  std::chrono::milliseconds base_delay{250};
  std::chrono::milliseconds max_delay{10000};
};

class CircuitBreaker {
 public:
  using Probe = std::function<Status()>;
  // `probe` answers whether the dependency is usable again. `stop` cuts a
  // wait short. `on_wait` runs before every probe (the liveness heartbeat).
  CircuitBreaker(BreakerOptions options, Probe probe, Clock& clock, const StopSignal& stop,
                 Telemetry& telemetry = no_telemetry(), std::function<void()> on_wait = {});

  bool open() const { return open_; }
  // A unit failed because the dependency is unreachable: opens the breaker.
  void failed(const std::string& reason);
  // Probes with backoff until the dependency answers (true: closed again) or
  // a stop is requested (false).
  bool wait_until_closed();

  int probes() const { return probes_; }  // probes made since the process started

 private:
  std::chrono::milliseconds next_delay(int attempt);

  BreakerOptions options_;
  Probe probe_;
  Clock& clock_;
  const StopSignal& stop_;
  Telemetry& telemetry_;
  std::function<void()> on_wait_;
  std::mt19937_64 random_{std::random_device{}()};
  bool open_ = false;
  int probes_ = 0;
};

}  // namespace hm
