#include "support/fakes.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace hm::test {

Clock::time_point FakeClock::now() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return time_point{} + std::chrono::hours(1) + elapsed_;
}

void FakeClock::sleep_for(duration d) {
  std::lock_guard<std::mutex> lock(mutex_);
  elapsed_ += d;
  sleeps_.push_back(d);
}

long long FakeClock::wall_ms() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return 1768396567320LL + std::chrono::duration_cast<std::chrono::milliseconds>(elapsed_).count();
}

void FakeClock::advance(duration d) {
  std::lock_guard<std::mutex> lock(mutex_);
  elapsed_ += d;
}

std::vector<Clock::duration> FakeClock::sleeps() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sleeps_;
}

StoreResult FakeStore::store(const Event& event) {
  std::lock_guard<std::mutex> lock(mutex_);
  seen_.push_back(event_mid(event));
  if (on_store) return on_store(event);
  if (!script_.empty()) {
    StoreResult r = script_.front();
    script_.pop_front();
    return r;
  }
  if (std::holds_alternative<SkippedEvent>(event)) return result(StoreStatus::kSkipped);
  if (std::holds_alternative<NewMessage>(event)) return result(StoreStatus::kInserted);
  return result(StoreStatus::kApplied);
}

void FakeStore::script(std::vector<StoreResult> results) {
  std::lock_guard<std::mutex> lock(mutex_);
  script_.assign(results.begin(), results.end());
}

std::vector<std::string> FakeStore::seen_mids() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seen_;
}

int FakeStore::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(seen_.size());
}

std::optional<SourcedDelivery> VectorSource::next() {
  if (pos_ >= items_.size()) return std::nullopt;
  return items_[pos_++];
}

Status RecordingSink::put(const DeadLetter& letter) {
  if (fail) return Status::Retryable("sink failed");
  letters.push_back(letter);
  return Status::Ok();
}

StoreResult result(StoreStatus s, std::string error, int code) {
  StoreResult r;
  r.status = s;
  r.error = std::move(error);
  r.error_code = code;
  return r;
}

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(HM_FIXTURES_DIR) + "/payloads/" + name, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + name);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fixture_line(const std::string& name) { return nlohmann::json::parse(fixture(name)).dump(); }

}  // namespace hm::test
