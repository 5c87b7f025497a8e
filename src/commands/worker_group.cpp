#include "commands/worker_group.h"

#include <spdlog/spdlog.h>

#include <exception>

namespace hm::commands {

WorkerGroup::WorkerGroup(int threads, StopSignal& stop, std::function<void(int)> body, std::function<void(int)> on_exit)
    : stop_(stop), body_(std::move(body)), on_exit_(std::move(on_exit)), running_(threads) {
  threads_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run_one(i); });
}

WorkerGroup::~WorkerGroup() {
  for (auto& t : threads_) {
    if (joinable_) {
      t.join();
    } else {
      t.detach();  // still busy past the deadline: the process is exiting
    }
  }
}

void WorkerGroup::run_one(int i) {
  try {
    body_(i);
  } catch (const std::exception& e) {
    spdlog::critical("worker thread {} failed: {}", i, e.what());
    std::lock_guard<std::mutex> lock(mutex_);
    crashed_ = true;
    stop_.request();
  }
  if (on_exit_) on_exit_(i);
  std::lock_guard<std::mutex> lock(mutex_);
  --running_;
  done_cv_.notify_all();
}

bool WorkerGroup::wait(std::chrono::milliseconds shutdown_timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (running_ > 0) {
    done_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (!stop_.requested()) continue;
    // Stop requested: the in-flight batches get shutdown_timeout to finish.
    if (!done_cv_.wait_for(lock, shutdown_timeout, [&] { return running_ == 0; })) {
      joinable_ = false;
      return false;
    }
  }
  joinable_ = true;
  return true;
}

int WorkerGroup::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

bool WorkerGroup::crashed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return crashed_;
}

}  // namespace hm::commands
