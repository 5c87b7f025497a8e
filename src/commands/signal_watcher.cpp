#include "commands/signal_watcher.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <ctime>


namespace hm::commands {

SignalWatcher::SignalWatcher(StopSignal& stop) : stop_(stop) {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);  // before any other thread starts
  thread_ = std::thread([this] { watch(); });
}

SignalWatcher::~SignalWatcher() {
  done_ = true;
  thread_.join();
}

void SignalWatcher::watch() {
  int seen = 0;
  while (!done_) {
    timespec wait{0, 200L * 1000 * 1000};
    const int sig = sigtimedwait(&set_, nullptr, &wait);
    if (sig <= 0) continue;
    if (++seen == 1) {
      spdlog::info("{} received: finishing the batches in flight, then exiting", strsignal(sig));
      stop_.request();
    } else {
      spdlog::warn("second signal: exiting now; unacknowledged entries will be delivered again");
      spdlog::default_logger()->flush();
      std::_Exit(1);  // kExitFailure: the process could not finish its work
    }
  }
}

}  // namespace hm::commands
