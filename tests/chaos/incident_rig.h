#pragma once
// The harness of the incidents chaos test: hm-worker processes pointed at
// MariaDB and Redis through two FaultProxy instances, a database user of their
// own (no SUPER, so read_only, password rotation and connection limits bite),
// unique deliveries XADDed straight to Redis, and the checks the issue asks
// after each fault: (mid, text) pairs against what was sent, nothing pending,
// dead letters, CPU from /proc, /healthz polled from a thread, and /metrics.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redis/connection.h"
#include "support/fault_proxy.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm::test {

struct HealthStats {
  int polls = 0;
  int failed = 0;  // no 200, or slower than the limit
  long long slowest_ms = 0;
};

struct Outcome {
  long long rows = 0;
  int missing = 0;
  int altered = 0;
  int extra = 0;
  long long pending = -1;
  long long dead = -1;
};

class IncidentRig {
 public:
  explicit IncidentRig(const std::string& name, bool migrate = true);
  ~IncidentRig();
  IncidentRig(const IncidentRig&) = delete;
  IncidentRig& operator=(const IncidentRig&) = delete;

  TestDatabase& db() { return db_; }
  FaultProxy& db_proxy() { return *db_proxy_; }
  FaultProxy& redis_proxy() { return *redis_proxy_; }
  const std::string& user() const { return user_; }
  const std::string& password() const { return password_; }
  const std::string& stream() const { return stream_; }

  // Starts `n` workers (env overrides on top of the test defaults).
  void start_workers(int n, const std::map<std::string, std::string>& extra = {});
  std::vector<std::unique_ptr<ChildProcess>>& workers() { return workers_; }
  void clear_workers();  // kills any still running; forgets them and their ports
  int metrics_port(std::size_t i) const { return ports_.at(i); }

  // XADDs the next `n` unique deliveries straight to Redis (not via the proxy).
  void send(int n);
  int sent() const { return static_cast<int>(sent_.size()); }
  long long stored();  // rows in message; 0 while the table is missing
  bool wait_stored(long long rows, std::chrono::milliseconds limit);
  // Every delivery sent is stored and nothing is pending.
  bool wait_drained(std::chrono::milliseconds limit);
  Outcome check();

  // A Redis command on the rig's own connection (reconnects when broken).
  redis::Reply redis(const std::vector<std::string>& argv);
  long long redis_pending();  // XPENDING count; -1 when it cannot be read

  // Sum of the samples of these metric families over every running worker.
  double metric_sum(const std::vector<std::string>& families);
  // utime + stime of each worker, in seconds.
  std::vector<double> cpu_seconds();

  void start_health_polls(std::chrono::milliseconds limit = std::chrono::milliseconds(100));
  HealthStats stop_health_polls();

  // Kills the rig user's sessions; how many were killed.
  int kill_sessions();
  std::string logs();

 private:
  TestDatabase db_;
  std::string user_;
  std::string password_ = "inc-pass-1";
  std::string stream_;
  std::unique_ptr<FaultProxy> db_proxy_;
  std::unique_ptr<FaultProxy> redis_proxy_;
  redis::RedisOptions redis_options_;
  std::unique_ptr<redis::Connection> redis_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::vector<int> ports_;
  std::vector<std::pair<std::string, std::string>> sent_;  // (mid, text)
  std::atomic<bool> polling_{false};
  std::thread poller_;
  HealthStats health_;
};


}  // namespace hm::test
