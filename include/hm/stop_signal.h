#pragma once
// A one-way "please stop" flag that sleeping threads can wait on, so a
// shutdown interrupts backoff sleeps instead of waiting them out.
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace hm {

class StopSignal {
 public:
  void request() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requested_ = true;
    }
    cv_.notify_all();
  }
  bool requested() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requested_;
  }
  // Sleeps up to d; returns true (early) when a stop is requested.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, d, [&] { return requested_; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  bool requested_ = false;  // guarded by mutex_
};

}  // namespace hm
