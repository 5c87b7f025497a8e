#pragma once
// Test doubles for the seams above the database: clock, store, source, sink.

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "hm/clock.h"
#include "hm/dead_letter.h"
#include "hm/delivery_source.h"
#include "hm/message_store.h"

namespace hm::test {

// Time moves only when someone sleeps or advance() is called.
class FakeClock final : public Clock {
 public:
  time_point now() const override;
  void sleep_for(duration d) override;
  long long wall_ms() const override;
  void advance(duration d);
  std::vector<duration> sleeps() const;

 private:
  mutable std::mutex mutex_;
  duration elapsed_{0};
  std::vector<duration> sleeps_;
};

// Returns scripted results per call, then a default; records what it got.
class FakeStore final : public MessageStore {
 public:
  StoreResult store(const Event& event) override;
  void script(std::vector<StoreResult> results);
  std::function<StoreResult(const Event&)> on_store;  // overrides the script when set
  std::vector<std::string> seen_mids() const;
  int calls() const;

 private:
  mutable std::mutex mutex_;
  std::deque<StoreResult> script_;
  std::vector<std::string> seen_;
};

class VectorSource final : public DeliverySource {
 public:
  explicit VectorSource(std::vector<SourcedDelivery> items) : items_(std::move(items)) {}
  std::optional<SourcedDelivery> next() override;

 private:
  std::vector<SourcedDelivery> items_;
  std::size_t pos_ = 0;
};

class RecordingSink final : public DeadLetterSink {
 public:
  Status put(const DeadLetter& letter) override;
  std::vector<DeadLetter> letters;
  bool fail = false;
};

StoreResult result(StoreStatus s, std::string error = "", int code = 0);

// The text of tests/fixtures/payloads/NAME, and compacted to one line.
std::string fixture(const std::string& name);
std::string fixture_line(const std::string& name);

}  // namespace hm::test
