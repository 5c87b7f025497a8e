#include "ops/periodic.h"

#include <spdlog/spdlog.h>

#include <exception>

namespace hm {

PeriodicTask::PeriodicTask(std::chrono::milliseconds period, std::function<void()> task, ThreadScope scope)
    : state_(std::make_shared<State>()) {
  state_->period = period;
  state_->task = std::move(task);
  thread_ = std::thread([state = state_, scope = std::move(scope)] { loop(*state, scope); });
}

PeriodicTask::~PeriodicTask() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->closing = true;
  }
  state_->wake.notify_all();
  thread_.join();
}

void PeriodicTask::loop(State& state, const ThreadScope& scope) {
  {
    const std::shared_ptr<void> held = scope ? scope() : nullptr;
    std::unique_lock<std::mutex> lock(state.mutex);
    while (!state.closing) {
      lock.unlock();
      try {
        state.task();
      } catch (const std::exception& e) {
        spdlog::warn("background check failed: {}", e.what());
      }
      lock.lock();
      state.wake.wait_for(lock, state.period, [&] { return state.closing; });
    }
  }
  std::lock_guard<std::mutex> lock(state.mutex);
  state.ended = true;
  state.wake.notify_all();
}

bool PeriodicTask::stop(std::chrono::milliseconds limit) {
  if (!thread_.joinable()) return true;
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->closing = true;
  state_->wake.notify_all();
  if (!state_->wake.wait_for(lock, limit, [&] { return state_->ended; })) {
    thread_.detach();
    return false;
  }
  lock.unlock();
  thread_.join();
  return true;
}

}  // namespace hm
