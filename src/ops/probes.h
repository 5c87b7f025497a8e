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
#include <condition_variable>
#include <thread>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http/server.h"
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

// Readiness checks run on a thread of their own, every second; /readyz
// answers from their last results at once. A check that blocks (a database
// that does not answer within its connect timeout) therefore never holds up
// /healthz or /metrics on the single HTTP thread.
class StatusEndpoints {
 public:
  // A readiness check returns "" when fine, or what is wrong.
  using Check = std::function<std::string()>;
  using ThreadScope = std::function<std::shared_ptr<void>()>;

  StatusEndpoints(WorkerHeartbeats& heartbeats, std::chrono::milliseconds liveness_limit, const StopSignal& stop,
                  std::vector<Check> readiness, std::function<std::string()> metrics,
                  ThreadScope thread_scope = {});
  ~StatusEndpoints();
  StatusEndpoints(const StatusEndpoints&) = delete;
  StatusEndpoints& operator=(const StatusEndpoints&) = delete;

  HttpResponse handle(const std::string& path);
  HttpResponse healthz() const;
  HttpResponse readyz();

 private:
  WorkerHeartbeats& heartbeats_;
  std::chrono::milliseconds liveness_limit_;
  const StopSignal& stop_;
  std::vector<Check> readiness_;
  std::function<std::string()> metrics_;
  void refresh_loop(const ThreadScope& thread_scope);

  std::mutex mutex_;
  std::condition_variable wake_;
  bool closing_ = false;                                // guarded by mutex_
  std::vector<std::string> problems_{"not checked yet"};  // guarded by mutex_
  std::thread refresher_;
};

}  // namespace hm
