#include "ops/probes.h"

namespace hm {

WorkerHeartbeats::WorkerHeartbeats(int workers)
    : last_(new std::atomic<long long>[static_cast<std::size_t>(workers)]), workers_(workers) {
  for (int i = 0; i < workers_; ++i) last_[i] = now_ms();
}

long long WorkerHeartbeats::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void WorkerHeartbeats::beat(int worker) { last_[worker] = now_ms(); }

void WorkerHeartbeats::finished(int worker) { last_[worker] = -1; }

std::vector<int> WorkerHeartbeats::stale(std::chrono::milliseconds limit) const {
  std::vector<int> out;
  const long long now = now_ms();
  for (int i = 0; i < workers_; ++i) {
    const long long t = last_[i];
    if (t >= 0 && now - t > limit.count()) out.push_back(i);
  }
  return out;
}

StatusEndpoints::StatusEndpoints(WorkerHeartbeats& heartbeats, std::chrono::milliseconds liveness_limit,
                                 const StopSignal& stop, std::vector<Check> readiness,
                                 std::function<std::string()> metrics, ThreadScope thread_scope)
    : heartbeats_(heartbeats),
      liveness_limit_(liveness_limit),
      stop_(stop),
      readiness_(std::move(readiness)),
      metrics_(std::move(metrics)) {
  refresher_ = std::thread([this, scope = std::move(thread_scope)] { refresh_loop(scope); });
}

StatusEndpoints::~StatusEndpoints() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  wake_.notify_all();
  refresher_.join();
}

void StatusEndpoints::refresh_loop(const ThreadScope& thread_scope) {
  const std::shared_ptr<void> scope = thread_scope ? thread_scope() : nullptr;
  for (;;) {
    std::vector<std::string> problems;
    for (const auto& check : readiness_) {
      std::string problem;
      try {
        problem = check();
      } catch (const std::exception& e) {
        problem = e.what();
      }
      if (!problem.empty()) problems.push_back(problem);
    }
    std::unique_lock<std::mutex> lock(mutex_);
    problems_ = std::move(problems);
    if (wake_.wait_for(lock, std::chrono::seconds(1), [&] { return closing_; })) return;
  }
}

HttpResponse StatusEndpoints::handle(const std::string& path) {
  if (path == "/healthz") return healthz();
  if (path == "/readyz") return readyz();
  if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_()};
  return {404, "text/plain; charset=utf-8", "not found: try /metrics, /healthz or /readyz\n"};
}

HttpResponse StatusEndpoints::healthz() const {
  const auto stuck = heartbeats_.stale(liveness_limit_);
  if (stuck.empty()) return {200, "text/plain; charset=utf-8", "ok\n"};
  std::string body = "worker threads stuck for over " + std::to_string(liveness_limit_.count() / 1000) + " s:";
  for (int i : stuck) body += " " + std::to_string(i);
  return {503, "text/plain; charset=utf-8", body + "\n"};
}

HttpResponse StatusEndpoints::readyz() {
  std::vector<std::string> problems;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    problems = problems_;
  }
  if (stop_.requested()) problems.insert(problems.begin(), "shutting down");
  if (problems.empty()) return {200, "text/plain; charset=utf-8", "ready\n"};
  std::string body;
  for (const auto& p : problems) body += p + "\n";
  return {503, "text/plain; charset=utf-8", body};
}

}  // namespace hm
