#pragma once
// SIGTERM/SIGINT for the daemon: the first signal asks the workers to stop
// (they finish and acknowledge the batch in flight); a second one exits at
// once with status 1. The signals are blocked in every thread (construct this
// before any other thread starts) and taken by this one.

#include <signal.h>

#include <atomic>
#include <thread>

#include "hm/stop_signal.h"

namespace hm::commands {

class SignalWatcher {
 public:
  explicit SignalWatcher(StopSignal& stop);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void watch();
  StopSignal& stop_;
  sigset_t set_{};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace hm::commands
