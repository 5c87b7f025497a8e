#pragma once
// What the daemon's HTTP port answers:
//   /healthz  200 while every worker thread's loop is turning (no database
//             call: a database outage must not make Kubernetes restart pods in
//             a loop); 503 naming the stuck threads otherwise.
//   /readyz   200 only when MariaDB and Redis answer and the pool is not
//             exhausted; 503 with the reasons otherwise (and while stopping).
//             Notes (e.g. a Graph account whose token was refused) follow
//             in the body either way, without making the pod unready: one
//             account's problem must not take every pod out of service.
//   /metrics  the Prometheus text format.
// All three answer from memory: whatever needs the network (the readiness
// checks, gauges read from Redis) runs on background threads (ops/periodic.h)
// and the answers use their last results, so no probe ever waits for Redis or
// MariaDB.
//
// Thread-safety: beat()/finished() from worker threads; handle() from any
// number of HTTP threads.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hm/clock.h"
#include "hm/stop_signal.h"
#include "http/server.h"
#include "ops/periodic.h"

namespace hm {

class WorkerHeartbeats {
 public:
  WorkerHeartbeats(int workers, const Clock& clock);
  void beat(int worker);
  void finished(int worker);
  // Indexes of running workers whose last beat is older than `limit`.
  std::vector<int> stale(std::chrono::milliseconds limit) const;

 private:
  long long now_ms() const;
  const Clock& clock_;
  std::unique_ptr<std::atomic<long long>[]> last_;  // ms; -1 = finished
  int workers_;
};

class StatusEndpoints {
 public:
  // A readiness check returns "" when fine, or what is wrong.
  using Check = std::function<std::string()>;
  using ThreadScope = PeriodicTask::ThreadScope;

  struct Background {
    // Run every second on a thread of their own; /readyz answers from their last results.
    std::vector<Check> readiness;
    // Run with them: lines /readyz adds to its body, ready or not. May be empty.
    std::function<std::vector<std::string>()> notes;
    // Refreshes the gauges that need the network (every `gather_period`, on
    // another thread); may be empty.
    std::function<void()> gather;
    std::chrono::milliseconds gather_period{5000};
    ThreadScope thread_scope;  // held on both threads
  };

  // `metrics` must answer from memory (it runs on the HTTP threads).
  StatusEndpoints(WorkerHeartbeats& heartbeats, std::chrono::milliseconds liveness_limit, const StopSignal& stop,
                  Background background, std::function<std::string()> metrics);
  StatusEndpoints(const StatusEndpoints&) = delete;
  StatusEndpoints& operator=(const StatusEndpoints&) = delete;

  HttpResponse handle(const std::string& path);
  HttpResponse healthz() const;
  HttpResponse readyz();

  // Stops the background threads, waiting up to `limit` for each: false when
  // one is still stuck in its check (see PeriodicTask::stop).
  bool stop(std::chrono::milliseconds limit);

 private:
  // The last readiness results, shared with the thread that refreshes them (a
  // thread left behind by stop() may still write them).
  struct Problems {
    std::mutex mutex;
    std::vector<std::string> list{"not checked yet"};  // guarded by mutex
    std::vector<std::string> notes;                    // guarded by mutex
  };
  static void check_readiness(const std::vector<Check>& checks, const std::function<std::vector<std::string>()>& notes,
                              Problems& out);

  WorkerHeartbeats& heartbeats_;
  std::chrono::milliseconds liveness_limit_;
  const StopSignal& stop_;
  std::function<std::string()> metrics_;

  std::shared_ptr<Problems> problems_ = std::make_shared<Problems>();
  // Last: they start once everything they use exists, and end first.
  std::unique_ptr<PeriodicTask> readiness_task_;
  std::unique_ptr<PeriodicTask> gather_task_;
};

}  // namespace hm
