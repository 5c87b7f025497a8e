#include "ops/probes.h"

namespace hm {

WorkerHeartbeats::WorkerHeartbeats(int workers, const Clock& clock)
    : clock_(clock), last_(new std::atomic<long long>[static_cast<std::size_t>(workers)]), workers_(workers) {
  for (int i = 0; i < workers_; ++i) last_[i] = now_ms();
}

long long WorkerHeartbeats::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch()).count();
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
                                 const StopSignal& stop, Background background, std::function<std::string()> metrics)
    : heartbeats_(heartbeats), liveness_limit_(liveness_limit), stop_(stop), metrics_(std::move(metrics)) {
  readiness_task_ = std::make_unique<PeriodicTask>(
      std::chrono::seconds(1),
      [problems = problems_, checks = std::move(background.readiness), notes = std::move(background.notes)] {
        check_readiness(checks, notes, *problems);
      },
      background.thread_scope);
  if (background.gather) {
    gather_task_ = std::make_unique<PeriodicTask>(background.gather_period, std::move(background.gather),
                                                  std::move(background.thread_scope));
  }
}

void StatusEndpoints::check_readiness(const std::vector<Check>& checks,
                                      const std::function<std::vector<std::string>()>& notes, Problems& out) {
  std::vector<std::string> problems;
  for (const auto& check : checks) {
    std::string problem;
    try {
      problem = check();
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (!problem.empty()) problems.push_back(problem);
  }
  std::vector<std::string> noted;
  try {
    if (notes) noted = notes();
  } catch (const std::exception& e) {
    noted = {std::string("notes: ") + e.what()};
  }
  std::lock_guard<std::mutex> lock(out.mutex);
  out.list = std::move(problems);
  out.notes = std::move(noted);
}

bool StatusEndpoints::stop(std::chrono::milliseconds limit) {
  bool ended = readiness_task_->stop(limit);
  if (gather_task_) ended = gather_task_->stop(limit) && ended;
  return ended;
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
  std::vector<std::string> notes;
  {
    std::lock_guard<std::mutex> lock(problems_->mutex);
    problems = problems_->list;
    notes = problems_->notes;
  }
  if (stop_.requested()) problems.insert(problems.begin(), "shutting down");
  std::string body = problems.empty() ? "ready\n" : "";
  for (const auto& p : problems) body += p + "\n";
  for (const auto& n : notes) body += n + "\n";
  return {problems.empty() ? 200 : 503, "text/plain; charset=utf-8", body};
}

}  // namespace hm
