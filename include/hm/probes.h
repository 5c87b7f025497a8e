#pragma once
// What the daemon's HTTP port answers:
//   /healthz  200 while every worker thread's loop is turning (no database
//             call: a database outage must not make Kubernetes restart pods in
//             a loop); 503 naming the stuck threads otherwise.
//   /readyz   200 only when MariaDB and Redis answer and the pool is not
//             exhausted; 503 with the reasons otherwise (and while stopping).
//   /metrics  the Prometheus text format.
//
// Thread-safety: beat()/finished() from worker threads; handle() from the
// HTTP thread.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hm/http_server.h"
#include "hm/stop_signal.h"

namespace hm {

class WorkerHeartbeats {
 public:
  explicit WorkerHeartbeats(int workers);
  void beat(int worker);
  void finished(int worker);
  // Indexes of running workers whose last beat is older than `limit`.
  std::vector<int> stale(std::chrono::milliseconds limit) const;

 private:
  static long long now_ms();
  std::unique_ptr<std::atomic<long long>[]> last_;  // ms; -1 = finished
  int workers_;
};

class StatusEndpoints {
 public:
  // A readiness check returns "" when fine, or what is wrong.
  using Check = std::function<std::string()>;

  StatusEndpoints(WorkerHeartbeats& heartbeats, std::chrono::milliseconds liveness_limit, const StopSignal& stop,
                  std::vector<Check> readiness, std::function<std::string()> metrics);

  HttpResponse handle(const std::string& path);
  HttpResponse healthz() const;
  HttpResponse readyz();

 private:
  WorkerHeartbeats& heartbeats_;
  std::chrono::milliseconds liveness_limit_;
  const StopSignal& stop_;
  std::vector<Check> readiness_;
  std::function<std::string()> metrics_;
  // The last readiness answer, reused for a second (probes and scrapes can be frequent).
  std::mutex mutex_;
  std::chrono::steady_clock::time_point checked_{};
  std::vector<std::string> problems_;
};

}  // namespace hm
