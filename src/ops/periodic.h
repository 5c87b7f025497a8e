#pragma once
// A task run at once and then every `period` on a thread of its own, until
// stopped; for work that may block on the network (readiness checks, gauges
// read from Redis) and so must stay off the HTTP threads. stop() bounds the
// wait for the thread: a task stuck in a connect that does not answer never
// holds up the shutdown past its limit.
//
// Thread-safety: stop() and the destructor from the owning thread only.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace hm {

class PeriodicTask {
 public:
  // What `scope` returns is held on the task's thread until it ends (e.g. a
  // database driver's per-thread initialisation).
  using ThreadScope = std::function<std::shared_ptr<void>()>;

  PeriodicTask(std::chrono::milliseconds period, std::function<void()> task, ThreadScope scope = {});
  // stop() without a limit when it was not called.
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // Asks the thread to end and waits up to `limit` for it: true when it ended
  // (joined). False when it is still inside its task then: the thread is
  // detached (it owns its own state, so destroying this object is safe), and
  // the caller must end the process rather than destroy what the task uses.
  bool stop(std::chrono::milliseconds limit);

 private:
  struct State {
    std::chrono::milliseconds period;
    std::function<void()> task;
    std::mutex mutex;
    std::condition_variable wake;
    bool closing = false;  // guarded by mutex
    bool ended = false;    // guarded by mutex
  };
  static void loop(State& state, const ThreadScope& scope);

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace hm
