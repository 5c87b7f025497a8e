#include "support/fake_queue.h"

#include <algorithm>
#include <utility>

namespace hm::test {

void FakeQueue::push(QueueEntry entry) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.push_back(std::move(entry));
}

std::vector<std::string> FakeQueue::acked() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return acked_;
}

std::size_t FakeQueue::acked_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return acked_.size();
}

std::vector<OutboundJob> FakeQueue::jobs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return jobs_;
}

std::vector<FakeQueue::DeadLetter> FakeQueue::dead() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dead_;
}

std::vector<std::string> FakeQueue::uncounted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return uncounted_;
}

int FakeQueue::reads_made() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reads_made_;
}

std::vector<QueueEntry> FakeQueue::read(std::size_t max) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++reads_made_;
  const std::size_t limit = options_.per_read == 0 ? max : std::min(max, options_.per_read);
  std::vector<QueueEntry> out;
  while (!entries_.empty() && out.size() < limit) {
    out.push_back(std::move(entries_.front()));
    entries_.pop_front();
  }
  return out;
}

Status FakeQueue::ack(const std::vector<std::string>& ids, const std::vector<OutboundJob>& jobs) {
  std::lock_guard<std::mutex> lock(mutex_);
  acked_.insert(acked_.end(), ids.begin(), ids.end());
  jobs_.insert(jobs_.end(), jobs.begin(), jobs.end());
  return Status::Ok();
}

Status FakeQueue::dead_letter(const QueueEntry& entry, const std::string& reason, int attempts) {
  std::lock_guard<std::mutex> lock(mutex_);
  dead_.push_back({entry.id, reason, attempts});
  return Status::Ok();
}

Status FakeQueue::keep_uncounted(const std::vector<QueueEntry>& entries) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& e : entries) uncounted_.push_back(e.id);
  return Status::Ok();
}

}  // namespace hm::test
