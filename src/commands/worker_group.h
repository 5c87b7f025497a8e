#pragma once
// The daemon's worker threads: starts N threads running body(i), counts them
// down as they return, and bounds the shutdown: once a stop is requested the
// threads get `shutdown_timeout` to finish their batch in flight. A body that
// throws stops the whole group (the process then exits 1).
//
// Thread-safety: wait() from the owning thread only; bodies run on their own.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "hm/stop_signal.h"

namespace hm::commands {

class WorkerGroup {
 public:
  // `on_exit(i)` runs on thread i after its body returned or threw.
  WorkerGroup(int threads, StopSignal& stop, std::function<void(int)> body, std::function<void(int)> on_exit = {});
  // Joins the threads; after a wait() that timed out, detaches them instead.
  ~WorkerGroup();
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  // Blocks until every thread has returned: true. Once a stop is requested,
  // waits at most shutdown_timeout more; false when threads are still busy
  // then (the caller must exit the process without destroying the group).
  bool wait(std::chrono::milliseconds shutdown_timeout);
  // Threads still running.
  int running() const;
  // True when a body threw.
  bool crashed() const;

 private:
  void run_one(int i);

  StopSignal& stop_;
  std::function<void(int)> body_;
  std::function<void(int)> on_exit_;
  mutable std::mutex mutex_;
  std::condition_variable done_cv_;
  int running_ = 0;      // guarded by mutex_
  bool crashed_ = false;  // guarded by mutex_
  std::vector<std::thread> threads_;
  bool joinable_ = true;  // false after a wait() that timed out (until one that did not)
};

}  // namespace hm::commands
